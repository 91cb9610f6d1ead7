"""De-identify DICOM (PS3.15 Annex E Basic Profile, keyed pseudonyms) and verify every output file.

Plain folder: --input DIR --output OUTDIR. In the pipeline: also --series-table (ingest's
series.csv), --annotations and --candidates. The key comes from $PIPELINE_DEID_KEY or --key-file.
Exit status: 0 verified clean, 2 no/invalid key or parameters, 3 identifying values left (the
output folder is then not installed).
"""

import argparse
import sys
from pathlib import Path

from pipeline.cli import setup_logging
from pipeline.config import load_params
from pipeline.dicom.deid import cohort
from pipeline.dicom.deid.pseudonyms import load_key
from pipeline.errors import ConfigError, DeidentificationError
from pipeline.io import atomic_dir, read_csv, write_csv, write_json


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--input", type=Path, default=Path("data/raw/synthetic/dicom"))
    p.add_argument("--output", type=Path, default=Path("data/interim/anonymized"))
    p.add_argument("--series-table", type=Path, default=None, help="ingest series.csv")
    p.add_argument("--annotations", type=Path, default=None)
    p.add_argument("--candidates", type=Path, default=None)
    p.add_argument("--metrics", type=Path, default=Path("metrics/anonymize.json"))
    p.add_argument("--params", type=Path, default=Path("params.yaml"))
    p.add_argument("--key-file", type=Path, default=None, help="secret key, outside the repo")
    p.add_argument("--verbose", action="store_true")
    return p.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    setup_logging(args.verbose)
    try:
        params = load_params(args.params)
        cfg = params.anonymize
        settings = cohort.DeidSettings.from_params(
            cfg, load_key(args.key_file, params.data.synthetic))
    except (ConfigError, DeidentificationError) as exc:
        print(f"anonymize: {exc}", file=sys.stderr)
        return 2
    executor = params.executor.with_jobs(cfg.jobs)
    source_root = args.input.absolute()  # dask workers may run in another directory
    dropped: dict[str, int] = {}
    try:
        with atomic_dir(args.output) as tmp:
            rejected: list[tuple[str, str]] = []
            if args.series_table is not None:
                sources = cohort.sources_from_series_table(read_csv(args.series_table))
            else:
                sources, rejected = cohort.group_folder(source_root, settings.pseudonymizer(),
                                                        executor)
            report = cohort.anonymize_cohort(sources, source_root, tmp, settings, executor,
                                             rejected)
            for name, path in (("annotations", args.annotations), ("candidates", args.candidates)):
                if path is not None:
                    table, dropped[name] = cohort.map_series_table(read_csv(path), report.uid_map)
                    write_csv(tmp / f"{name}.csv", table)
            write_csv(tmp / "series.csv", report.series)
            write_csv(tmp / "quarantine.csv", report.quarantine)
            if report.leaks:
                raise DeidentificationError(f"{len(report.leaks)} output files still carry "
                                            "identifying values (see the log)")
    except DeidentificationError as exc:
        write_json(args.metrics, cohort.cohort_metrics(report, settings, dropped))
        print(f"anonymize: FAILED verification: {exc}; {args.output} not written", file=sys.stderr)
        return 3
    write_json(args.metrics, cohort.cohort_metrics(report, settings, dropped))
    print(f"anonymized {report.files_written} files in {len(report.series)} series "
          f"({len(report.quarantine)} quarantined), verified: 0 leaks, key_id={cfg.key_id}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

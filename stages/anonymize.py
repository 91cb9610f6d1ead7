"""De-identify DICOM (PS3.15 Annex E Basic Profile, keyed pseudonyms) and verify every output file.

Plain folder: --input DIR --output OUTDIR (metrics go to OUTDIR/metrics.json unless --metrics).
In the pipeline: also --series-table (ingest's series.csv), --annotations, --annotations-excluded
and --candidates. The key comes from --key-file or $PIPELINE_DEID_KEY; without either, only the
unmodified cohort that `synthesize` wrote may use the public demo key. Series that cannot be
proven clean are quarantined whole (OUTDIR/quarantine.csv, named by new UID or keyed hash; the
local table OUTDIR.quarantine-paths.csv beside the output maps them to input paths).
Exit status: 0 written and verified (quarantine listed); 2 bad input, parameters or key, or the
output is locked by another run (the previous output is untouched); 3 identifying values found in
what would have been written (the output folder is then not installed).
A MetaImage cohort (ingest's series table says format metaimage: LUNA16, already de-identified) is
not rewritten: its tables and series table are checked and copied, and the metrics say skipped.
"""

import argparse
from pathlib import Path

from pipeline.cli import StageReport, run_stage
from pipeline.config import load_section
from pipeline.data.params import DataParams
from pipeline.dicom.deid.params import AnonymizeParams
from pipeline.parallel import ExecutorSection
from pipeline.stages import anonymize


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--input", type=Path, required=True, help="folder of DICOM files")
    p.add_argument("--output", type=Path, required=True, help="de-identified folder to write")
    p.add_argument("--series-table", type=Path, default=None, help="ingest series.csv")
    p.add_argument("--annotations", type=Path, default=None)
    p.add_argument("--annotations-excluded", type=Path, default=None,
                   help="LUNA16 annotations_excluded.csv (seriesuid,coordX,coordY,coordZ,"
                        "diameter_mm)")
    p.add_argument("--candidates", type=Path, default=None)
    p.add_argument("--metrics", type=Path, default=None, help="default: OUTPUT/metrics.json")
    p.add_argument("--params", type=Path, default=Path("params.yaml"))
    p.add_argument("--key-file", type=Path, default=None, help="secret key, outside the repo")
    p.add_argument("--verbose", action="store_true")
    return p.parse_args(argv)


def run(args: argparse.Namespace) -> StageReport:
    cfg = load_section(args.params, "anonymize", AnonymizeParams)
    metrics = args.metrics or args.output / "metrics.json"
    report = anonymize.run(
        args.input, args.output, metrics,
        {"annotations": args.annotations, "annotations_excluded": args.annotations_excluded,
         "candidates": args.candidates},
        cfg, load_section(args.params, "data", DataParams).synthetic,
        load_section(args.params, "executor", ExecutorSection).with_jobs(cfg.jobs),
        series_table=args.series_table, key_file=args.key_file)
    report.write(metrics.absolute())
    return report


def main(argv: list[str] | None = None) -> int:
    return run_stage(run, parse_args, argv)


if __name__ == "__main__":
    raise SystemExit(main())

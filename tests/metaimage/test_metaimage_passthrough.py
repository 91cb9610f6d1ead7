"""anonymize on a MetaImage cohort: tables checked and copied, volumes untouched, report skipped."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from metaimage_helpers import load_stage, write_mhd, write_params

from pipeline.errors import InputError
from pipeline.imaging.geometry import Geometry
from pipeline.io import read_json
from pipeline.metaimage.passthrough import SERIES_COLUMNS, is_metaimage_table

GEO = Geometry(origin=(-5.0, -6.0, -7.0), spacing=(1.0, 1.0, 2.0))


@pytest.fixture
def ingested(tmp_path: Path) -> Path:
    """A MetaImage root, its ingest output and LUNA16 tables (one row of an unknown scan)."""
    root = tmp_path / "luna"
    for k, uid in enumerate(("1.2.1", "1.2.2")):
        write_mhd(root / f"subset{k}" / f"{uid}.mhd", np.zeros((4, 5, 6), np.int16), GEO)
    params = write_params(tmp_path / "params.yaml", data={"synthetic": False})
    assert load_stage("ingest").main(["--input", str(root), "--output", str(tmp_path / "ingest"),
                                      "--metrics", str(tmp_path / "ingest.json"),
                                      "--params", str(params)]) == 0
    tables = tmp_path / "tables"
    tables.mkdir()
    (tables / "annotations.csv").write_text("seriesuid,coordX,coordY,coordZ,diameter_mm\n"
                                            "1.2.1,-3.5,-4.0,-1.0,6.5\n")
    (tables / "candidates.csv").write_text("seriesuid,coordX,coordY,coordZ,class\n"
                                           "1.2.1,-3.5,-4.0,-1.0,1\n1.2.2,0.0,0.0,0.0,0\n"
                                           "9.9.9,1.0,1.0,1.0,0\n")
    return tmp_path


def _argv(tmp: Path, *extra: str) -> list[str]:
    return ["--input", str(tmp / "luna"), "--series-table", str(tmp / "ingest" / "series.csv"),
            "--annotations", str(tmp / "tables" / "annotations.csv"),
            "--candidates", str(tmp / "tables" / "candidates.csv"),
            "--output", str(tmp / "anonymized"), "--metrics", str(tmp / "anonymize.json"),
            "--params", str(tmp / "params.yaml"), *extra]


def test_skips_without_a_key_and_copies_the_checked_tables(ingested, monkeypatch):
    monkeypatch.delenv("PIPELINE_DEID_KEY", raising=False)  # real data, no key: not needed
    assert load_stage("anonymize").main(_argv(ingested)) == 0
    out = ingested / "anonymized"
    report = read_json(ingested / "anonymize.json")
    assert report["skipped"] is True and report["format"] == "metaimage"
    assert report["rows_dropped"] == {"annotations": 0, "candidates": 1}
    assert report["series"] == 2 and report["subsets"] == ["0", "1"]
    candidates = pd.read_csv(out / "candidates.csv", dtype=str)
    assert candidates["seriesuid"].tolist() == ["1.2.1", "1.2.2"]
    series = pd.read_csv(out / "series.csv", dtype=str, keep_default_na=False)
    assert list(series.columns) == list(SERIES_COLUMNS)
    assert series["files"].tolist() == ["subset0/1.2.1.mhd", "subset1/1.2.2.mhd"]
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()) == [
        "annotations.csv", "candidates.csv", "dicom/README.txt", "quarantine.csv", "series.csv"]


def test_a_bad_table_exits_2_and_leaves_the_previous_output(ingested, capsys):
    (ingested / "anonymized").mkdir()
    (ingested / "anonymized" / "series.csv").write_text("previous")
    (ingested / "tables" / "candidates.csv").write_text("seriesuid,coordX,coordY,coordZ,class\n"
                                                        "1.2.1,-3.5,nan,-1.0,1\n")
    assert load_stage("anonymize").main(_argv(ingested)) == 2
    assert "candidates.csv: row 1" in capsys.readouterr().err
    assert (ingested / "anonymized" / "series.csv").read_text() == "previous"
    assert not (ingested / "anonymize.json").exists()


def test_folder_mode_on_metaimage_says_there_is_nothing_to_deidentify(ingested, capsys):
    argv = ["--input", str(ingested / "luna"), "--output", str(ingested / "anonymized"),
            "--params", str(ingested / "params.yaml"), "--key-file", str(ingested / "key")]
    (ingested / "key").write_text("k" * 48)
    assert load_stage("anonymize").main(argv) == 2
    assert "holds MetaImage volumes, not DICOM" in capsys.readouterr().err


def test_a_table_mixing_formats_is_refused():
    table = pd.DataFrame({"series_uid": ["1", "2"], "format": ["metaimage", "dicom"]})
    with pytest.raises(InputError, match="expected one format"):
        is_metaimage_table(table)
    assert not is_metaimage_table(table.drop(columns="format"))

"""data.format: auto decides DICOM or MetaImage from the folder, and refuses both or neither."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from metaimage_helpers import REPO, load_stage, write_mhd, write_params

from pipeline.errors import ConfigError, InputError
from pipeline.imaging.geometry import Geometry
from pipeline.metaimage.detect import resolve_format

HOW = "set data.format"
GEO = Geometry(origin=(0.0, 0.0, 0.0), spacing=(1.0, 1.0, 2.0))


def _mhd(path: Path) -> None:
    write_mhd(path, np.zeros((4, 5, 6), dtype=np.int16), GEO)


def _dicom(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"\0" * 128 + b"DICM" + b"\0" * 16)


def test_mhd_directly_or_in_subsets_is_metaimage(tmp_path):
    _mhd(tmp_path / "a" / "1.2.mhd")
    _mhd(tmp_path / "b" / "subset4" / "1.3.mhd")
    assert resolve_format(tmp_path / "a", "auto", HOW) == "metaimage"
    assert resolve_format(tmp_path / "b", "auto", HOW) == "metaimage"


def test_dicom_anywhere_below_is_dicom(tmp_path):
    _dicom(tmp_path / "PAT" / "study" / "SE1" / "IM0001")
    _mhd(tmp_path / "PAT" / "elsewhere" / "1.2.mhd")  # not where volumes are looked for
    assert resolve_format(tmp_path, "auto", HOW) == "dicom"


def test_both_formats_raise_a_config_error_naming_the_folder(tmp_path):
    _mhd(tmp_path / "subset0" / "1.2.mhd")
    _dicom(tmp_path / "dcm" / "IM0001")
    with pytest.raises(ConfigError, match=f"{tmp_path}: holds both DICOM files and 1 "
                                          "MetaImage volumes"):
        resolve_format(tmp_path, "auto", HOW)


def test_neither_format_raises_a_config_error_naming_the_folder(tmp_path):
    (tmp_path / "notes.txt").write_text("no scans here")
    with pytest.raises(ConfigError, match=f"{tmp_path}: holds neither DICOM files nor "
                                          "MetaImage volumes"):
        resolve_format(tmp_path, "auto", HOW)


def test_an_explicit_format_is_taken_as_is_and_a_missing_folder_is_an_input_error(tmp_path):
    _mhd(tmp_path / "subset0" / "1.2.mhd")
    _dicom(tmp_path / "IM0001")
    assert resolve_format(tmp_path, "dicom", HOW) == "dicom"
    assert resolve_format(tmp_path, "metaimage", HOW) == "metaimage"
    with pytest.raises(InputError, match="found nothing"):
        resolve_format(tmp_path / "missing", "auto", HOW)


def test_ingest_on_a_mixed_root_prints_one_line_naming_the_folder_and_exits_2(tmp_path, capsys):
    root = tmp_path / "raw"
    _mhd(root / "subset0" / "1.2.mhd")
    _dicom(root / "dcm" / "IM0001")
    code = load_stage("ingest").main(["--input", str(root), "--output", str(tmp_path / "out"),
                                      "--metrics", str(tmp_path / "m.json"),
                                      "--params", str(REPO / "params.yaml")])
    err = [ln for ln in capsys.readouterr().err.splitlines() if ln.strip()]
    assert code == 2 and len(err) == 1 and "Traceback" not in err[0]
    assert f"{root}: holds both DICOM files" in err[0] and "data.format" in err[0]
    assert not (tmp_path / "out").exists()


def test_ingest_follows_data_format_metaimage_on_a_mixed_root(tmp_path):
    root = tmp_path / "raw"
    _mhd(root / "subset0" / "1.2.mhd")
    _dicom(root / "dcm" / "IM0001")
    params = write_params(tmp_path / "params.yaml", data={"format": "metaimage"})
    assert load_stage("ingest").main(["--input", str(root), "--output", str(tmp_path / "out"),
                                      "--metrics", str(tmp_path / "m.json"),
                                      "--params", str(params)]) == 0
    assert (tmp_path / "out" / "series.csv").read_text().count("subset0/1.2.mhd") == 1

"""stages/candidates.py over a resample-format folder: CSV, metrics, exit 2 on bad input."""

import json
import sys
from pathlib import Path

import pandas as pd
import SimpleITK as sitk
import yaml
from detection_phantoms import GGO, SOLID, chest, phantom_params

from pipeline.detection.params import DEFAULTS

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "stages"))
import candidates as stage  # noqa: E402


def _volumes(tmp_path):
    hu, geo = chest()
    image = sitk.GetImageFromArray(hu.astype("int16"))
    geo.apply_to_sitk(image)
    out = tmp_path / "volumes"
    out.mkdir()
    sitk.WriteImage(image, str(out / "1.2.3.nii.gz"))
    pd.DataFrame({"series_uid": ["1.2.3"], "file": ["1.2.3.nii.gz"]}).to_csv(
        out / "geometry.csv", index=False)
    return out


def _params(tmp_path):
    section = yaml.safe_load(DEFAULTS.read_text())["candidates"]
    p = phantom_params()
    section.update(radius_mm=list(p.radius_mm), scales=p.scales, max_candidates=20,
                   lung_closing_mm=p.lung_closing_mm, jobs=1)
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump({"candidates": section}))
    return path


def test_stage_writes_labelled_candidates_and_sensitivity(tmp_path, capsys):
    ann = tmp_path / "annotations.csv"
    pd.DataFrame({"seriesuid": ["1.2.3", "1.2.3"], "coordX": [SOLID[0], GGO[0]],
                  "coordY": [SOLID[1], GGO[1]], "coordZ": [SOLID[2], GGO[2]],
                  "diameter_mm": [8.0, 10.0], "texture": ["solid", "ground_glass"]}
                 ).to_csv(ann, index=False)
    out, metrics = tmp_path / "c" / "candidates.csv", tmp_path / "m.json"
    code = stage.main(["--volumes", str(_volumes(tmp_path)), "--annotations", str(ann),
                       "--output", str(out), "--metrics", str(metrics),
                       "--params", str(_params(tmp_path))])
    assert code == 0
    table = pd.read_csv(out)
    assert {"seriesuid", "coordX", "coordY", "coordZ", "score", "diameter_mm",
            "class"} <= set(table.columns)
    m = json.loads(metrics.read_text())
    assert m["nodules_found"] == 2 and m["by_type"]["ground_glass"]["sensitivity"] == 1.0
    assert table["class"].sum() >= 2
    assert "2/2 nodules found" in capsys.readouterr().out


def test_missing_volumes_folder_exits_2_with_one_line(tmp_path, capsys):
    code = stage.main(["--volumes", str(tmp_path / "nope"), "--annotations", "",
                       "--output", str(tmp_path / "c.csv"), "--metrics", str(tmp_path / "m.json"),
                       "--params", str(_params(tmp_path))])
    err = capsys.readouterr().err.strip()
    assert code == 2 and "geometry.csv" in err and len(err.splitlines()) == 1

"""LUNA16 hit rule and the generator's sensitivity by nodule type."""

import pandas as pd
import pytest

from pipeline.detection.labels import generator_metrics, label_candidates, nodules_found
from pipeline.errors import PipelineError

ANN = pd.DataFrame({"seriesuid": ["a", "a", "b"], "coordX": [0.0, 50.0, 0.0],
                    "coordY": [0.0, 0.0, 0.0], "coordZ": [0.0, 0.0, 0.0],
                    "diameter_mm": [10.0, 6.0, 8.0], "texture": ["solid", "ground_glass", "solid"],
                    "location": ["juxtapleural", "parenchymal", "juxtavascular"]})


def _cands(rows):
    return pd.DataFrame(rows, columns=["seriesuid", "coordX", "coordY", "coordZ"])


def test_hit_is_strictly_inside_the_radius():
    cands = _cands([("a", 4.999, 0, 0), ("a", 5.0, 0, 0), ("a", 52.0, 0, 0)])
    labelled = label_candidates(cands, ANN)
    assert labelled["class"].tolist() == [1, 0, 1]
    assert labelled["annotation_id"].tolist() == [0, -1, 1]


def test_a_candidate_hits_only_nodules_of_its_own_series():
    labelled = label_candidates(_cands([("b", 50.0, 0, 0), ("c", 0, 0, 0)]), ANN)
    assert labelled["class"].tolist() == [0, 0]


def test_nodule_found_by_any_hit_and_sensitivity_by_type():
    cands = _cands([("a", 1.0, 1.0, 0.0), ("a", 2.0, 0.0, 0.0), ("b", 30.0, 0.0, 0.0)])
    assert nodules_found(cands, ANN).tolist() == [True, False, False]
    m = generator_metrics(cands, ANN, ["a", "b", "c"])
    assert (m["nodules"], m["nodules_found"], m["sensitivity"]) == (3, 1, 0.3333)
    assert m["candidates_per_scan"] == 1.0 and m["candidates_per_scan_max"] == 2
    assert m["by_type"]["solid"] == {"nodules": 2, "found": 1, "sensitivity": 0.5}
    assert m["by_type"]["juxtapleural"]["sensitivity"] == 1.0
    assert m["by_type"]["ground_glass"]["found"] == 0


def test_only_nodules_of_searched_scans_count():
    m = generator_metrics(_cands([("a", 0, 0, 0)]), ANN, ["a"])
    assert m["nodules"] == 2 and m["scans"] == 1


def test_annotations_without_diameter_are_rejected():
    with pytest.raises(PipelineError, match="diameter_mm"):
        label_candidates(_cands([("a", 0, 0, 0)]), ANN.drop(columns="diameter_mm"))

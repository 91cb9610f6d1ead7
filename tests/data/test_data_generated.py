"""The generated track's candidate table: LUNA16 hit-rule labels, generator figures, bad input."""

import numpy as np
import pandas as pd
import pytest

from pipeline.data.generated import (
    GENERATED_COLUMNS,
    generator_record,
    read_generated,
    read_generator_record,
    write_generator_record,
)
from pipeline.errors import InputError

ANN = pd.DataFrame({"seriesuid": ["1.1", "1.1", "1.2"], "coordX": [0.0, 40.0, 0.0],
                    "coordY": [0.0, 0.0, 0.0], "coordZ": [0.0, 0.0, 0.0],
                    "diameter_mm": [10.0, 6.0, 8.0]})


def _generated(tmp_path, rows):
    frame = pd.DataFrame(rows, columns=["seriesuid", "coordX", "coordY", "coordZ", "score",
                                        "diameter_mm", "density", "class", "annotation_id"])
    path = tmp_path / "candidates.csv"
    frame.to_csv(path, index=False)
    return path


def test_labels_come_from_the_hit_rule_not_from_the_file(tmp_path):
    path = _generated(tmp_path, [
        ["1.1", 4.9, 0.0, 0.0, 9.0, 5.0, "solid", 0, -1],     # inside the 10 mm nodule
        ["1.1", 0.0, 5.0, 0.0, 8.0, 5.0, "solid", 1, 0],      # on its surface: not a hit
        ["1.1", 40.0, 2.9, 0.0, 7.0, 3.0, "subsolid", 0, -1],  # inside the 6 mm nodule
        ["1.3", 0.0, 0.0, 0.0, 6.0, 3.0, "solid", 1, 0],      # scan without nodules
    ])
    table = read_generated(path, ANN)
    assert list(table.columns) == GENERATED_COLUMNS
    assert table["class"].tolist() == [1, 0, 1, 0]
    assert table["score"].tolist() == [9.0, 8.0, 7.0, 6.0]


def test_generator_record_counts_nodules_without_any_candidate_as_missed(tmp_path):
    table = read_generated(_generated(tmp_path, [
        ["1.1", 4.9, 0.0, 0.0, 9.0, 5.0, "solid", 0, -1],
        ["1.3", 0.0, 0.0, 0.0, 6.0, 3.0, "solid", 0, -1]]), ANN)
    record = generator_record(table, ANN, ["1.1", "1.2", "1.3", "1.4"])
    assert record["source"] == "generated"
    assert (record["nodules"], record["nodules_found"]) == (3, 1)
    assert record["sensitivity"] == pytest.approx(1 / 3, abs=1e-4)
    assert record["scans"] == 4 and record["candidates_per_scan"] == 0.5
    write_generator_record(tmp_path, record)
    assert read_generator_record(tmp_path) == record
    assert read_generator_record(tmp_path / "none") is None


def test_missing_column_or_non_finite_coordinate_is_an_input_error(tmp_path):
    path = tmp_path / "c.csv"
    pd.DataFrame({"seriesuid": ["1.1"], "coordX": [0.0], "coordY": [0.0], "coordZ": [0.0]}
                 ).to_csv(path, index=False)
    with pytest.raises(InputError, match="missing \\['score'\\]"):
        read_generated(path, ANN)
    bad = _generated(tmp_path, [["1.1", np.nan, 0.0, 0.0, 1.0, 3.0, "solid", 0, -1]])
    with pytest.raises(InputError, match="row 1, column coordX"):
        read_generated(bad, ANN)
    with pytest.raises(InputError, match="run the candidates stage"):
        read_generated(tmp_path / "absent.csv", ANN)

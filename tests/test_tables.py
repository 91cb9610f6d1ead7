"""CSV tables a user hands the pipeline: every bad cell is one line naming file, row and column."""

import pytest

from pipeline.errors import InputError
from pipeline.tables import read_table

HEADER = "seriesuid,coordX,coordY,coordZ,class\n"


def write(tmp_path, text):
    path = tmp_path / "candidates.csv"
    path.write_text(text)
    return path


def test_valid_table_is_typed(tmp_path):
    frame = read_table(write(tmp_path, HEADER + "1.2.30,1.5,-2,3e1,1\n1.2.31,0,0,0,0\n"),
                       "candidates")
    assert frame["seriesuid"].tolist() == ["1.2.30", "1.2.31"]
    assert frame["coordZ"].tolist() == [30.0, 0.0] and frame["class"].dtype == "int64"


@pytest.mark.parametrize("rows, message", [
    ("1.2.3,x,0,0,1\n", "row 1 (line 2), column coordX: expected a finite number, got 'x'"),
    ("1.2.3,1,0,0,1\n1.2.4,1,NaN,0,1\n", "row 2 (line 3), column coordY"),
    ("1.2.3,1,0,inf,1\n", "column coordZ"),
    ("1.2.3,1,0,,1\n", "column coordZ: expected a finite number, got ''"),
    ("1.2.3,1,0,0,2\n", "column class: expected 0 or 1, got '2'"),
    ("1.2.3,1,0,0,yes\n", "column class"),
    (",1,0,0,1\n", "column seriesuid: empty series UID"),
    ("1.2.3,1,0,0,1\n1.2.4,1,0,0,1\n1.2.3,1.0,0,0,1\n", "row 3 (line 4): duplicates row 1"),
    ("", "no rows (only a header)"),
])
def test_bad_rows_name_file_row_and_column(tmp_path, rows, message):
    with pytest.raises(InputError) as exc:
        read_table(write(tmp_path, HEADER + rows), "candidates")
    text = str(exc.value)
    assert message in text and "candidates.csv" in text and "\n" not in text


def test_empty_missing_and_wrong_header(tmp_path):
    with pytest.raises(InputError, match="empty file"):
        read_table(write(tmp_path, ""), "candidates")
    with pytest.raises(InputError, match="table not found"):
        read_table(tmp_path / "nope.csv", "candidates")
    with pytest.raises(InputError, match=r"missing \['class'\]"):
        read_table(write(tmp_path, "seriesuid,coordX,coordY,coordZ\n1,0,0,0\n"), "candidates")

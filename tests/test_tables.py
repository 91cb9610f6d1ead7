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


# --- the generic Table contract, and a round trip of every table the library defines -----------

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from contract_registry import all_contracts  # noqa: E402
from pipeline.errors import PipelineError  # noqa: E402
from pipeline.tables import Table  # noqa: E402

TABLES, _ = all_contracts()
SAMPLE = {"uid": ["1.2.3", "1.2.4"], "text": ["a", ""], "number": [1.5, -2.25],
          "positive": [3.0, 0.5], "optional": [1.25, np.nan], "int": [0, 7], "class": [1, 0]}


def sample_frame(table: Table) -> pd.DataFrame:
    """Two valid rows of ``table`` (columns in reverse order: the writer must reorder them)."""
    return pd.DataFrame({name: SAMPLE[kind] for name, kind in reversed(table.columns)})


@pytest.mark.parametrize("table", TABLES, ids=lambda t: f"{t.stage}:{t.file}")
def test_every_table_round_trips(tmp_path, table):
    path = tmp_path / table.file
    table.write(path, sample_frame(table).assign(extra="dropped"))
    assert path.read_text().splitlines()[0] == ",".join(table.names)
    back = table.read(path)
    assert list(back.columns) == list(table.names)
    expected = sample_frame(table)[list(table.names)]
    for name, kind in table.columns:
        if kind in ("int", "class"):
            assert back[name].dtype == "int64" and back[name].tolist() == expected[name].tolist()
        elif kind in ("uid", "text"):
            assert back[name].tolist() == expected[name].tolist()
        else:
            assert np.allclose(back[name], expected[name], equal_nan=True), name


@pytest.mark.parametrize("table", [t for t in TABLES if not t.user_input],
                         ids=lambda t: f"{t.stage}:{t.file}")
def test_a_stage_table_may_be_header_only(tmp_path, table):
    path = tmp_path / table.file
    table.write(path, table.frame())
    assert path.read_text() == ",".join(table.names) + "\n"
    assert table.read(path).empty


def test_write_keeps_the_float_format_and_refuses_a_missing_column(tmp_path):
    table = Table("t.csv", "test", (("seriesuid", "uid"), ("coordX", "number")), "%.3f")
    table.write(tmp_path / "t.csv", pd.DataFrame({"coordX": [1.0], "seriesuid": ["1.2"]}))
    assert (tmp_path / "t.csv").read_text() == "seriesuid,coordX\n1.2,1.000\n"
    with pytest.raises(PipelineError, match=r"lacks columns \['coordX'\]"):
        table.write(tmp_path / "u.csv", pd.DataFrame({"seriesuid": ["1.2"]}))
    assert not (tmp_path / "u.csv").exists()


KINDS = Table("kinds.csv", "test", (("id", "uid"), ("n", "int"), ("d", "optional"),
                                    ("p", "positive"), ("label", "class")))


@pytest.mark.parametrize("row, message", [
    ("1.2,x,1,1,0", "row 1 (line 2), column n: expected an integer, got 'x'"),
    ("1.2,1.5,1,1,0", "column n: expected an integer, got '1.5'"),
    ("1.2,1,abc,1,0", "column d: expected a finite number or nothing, got 'abc'"),
    ("1.2,1,,0,0", "column p: expected a finite number > 0, got '0'"),
    ("1.2,1,,1,3", "column label: expected 0 or 1, got '3'"),
    (",1,,1,0", "column id: empty series UID"),
])
def test_a_bad_cell_is_one_line_naming_file_row_and_column(tmp_path, row, message):
    path = tmp_path / "kinds.csv"
    path.write_text("id,n,d,p,label\n1.3,2,,2,1\n".replace("1.3,2,,2,1\n", row + "\n"))
    with pytest.raises(InputError) as exc:
        KINDS.read(path)
    assert message in str(exc.value) and str(path) in str(exc.value)
    assert "\n" not in str(exc.value)


def test_a_missing_column_names_file_and_column(tmp_path):
    path = tmp_path / "kinds.csv"
    path.write_text("id,n,p,label,other\n1.2,1,1,0,x\n")
    with pytest.raises(InputError) as exc:
        KINDS.read(path)
    assert str(path) in str(exc.value) and "missing ['d']" in str(exc.value)
    assert "\n" not in str(exc.value)


def test_only_reads_the_columns_a_reader_needs(tmp_path):
    path = tmp_path / "kinds.csv"
    path.write_text("id,label,other\n1.2,1,x\n")
    frame = KINDS.only("id", "label").read(path)
    assert frame["label"].tolist() == [1] and frame["other"].tolist() == ["x"]
    with pytest.raises(PipelineError, match="no columns"):
        KINDS.only("nope")

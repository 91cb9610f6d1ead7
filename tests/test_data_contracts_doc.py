"""docs/data-contracts.md names the columns the code defines (tested against the definitions)."""

from pathlib import Path

import pytest

from pipeline.data.folds import FOLD_COLUMNS
from pipeline.data.patch_dataset import INDEX_COLUMNS
from pipeline.training.run import OOF_COLUMNS

DOC = (Path(__file__).resolve().parents[1] / "docs" / "data-contracts.md").read_text()


def _flat(text: str) -> str:
    return " ".join(text.replace("`", "").split())


@pytest.mark.parametrize("columns", [INDEX_COLUMNS, FOLD_COLUMNS])
def test_doc_lists_the_columns_in_order(columns):
    assert ", ".join(columns) in _flat(DOC)


def test_doc_lists_the_out_of_fold_columns():
    flat = _flat(DOC)
    for column in OOF_COLUMNS:
        assert column in flat
    assert "fold, series_uid, patient_id, candidate_id" in flat

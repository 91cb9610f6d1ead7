"""docs/data-contracts.md lists every contract the code defines: each table's columns in order and
each record's keys in order, in the section of the stage that writes it (a new contract without
docs fails here)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from contract_registry import all_contracts

DOC = (Path(__file__).resolve().parents[1] / "docs" / "data-contracts.md").read_text()
TABLES, RECORDS = all_contracts()


def _flat(text: str) -> str:
    return " ".join(text.replace("`", "").split())


def section(stage: str) -> str:
    """The doc's section of ``stage`` (its first word; ``user``: the whole page)."""
    base = stage.split()[0]
    if base == "user":
        return DOC
    match = re.search(rf"^## {re.escape(base)}\b.*?(?=^## |\Z)", DOC, flags=re.M | re.S)
    assert match, f"docs/data-contracts.md has no section '## {base} ...'"
    return match.group(0)


def test_the_registry_finds_the_contracts():
    files = {t.file for t in TABLES} | {r.file for r in RECORDS}
    assert {"series.csv", "geometry.csv", "index.csv", "folds.csv", "oof.csv", "preprocess.json",
            "resample.json", "model.pt", "quarantine.csv", "candidates.csv"} <= files


@pytest.mark.parametrize("table", TABLES, ids=lambda t: f"{t.stage}:{t.file}")
def test_doc_lists_each_table_with_its_columns_in_order(table):
    text = _flat(section(table.stage))
    assert table.file in text
    assert ", ".join(table.names) in text, f"{table.stage} {table.file}: {', '.join(table.names)}"


@pytest.mark.parametrize("record", RECORDS, ids=lambda r: f"{r.stage}:{r.file}")
def test_doc_lists_each_record_with_its_keys_in_order(record):
    text = _flat(section(record.stage))
    assert record.file in text
    assert ", ".join(record.key_names()) in text, f"{record.file}: {record.key_names()}"


def test_a_missing_column_would_fail():
    assert ", ".join(("row", "series_uid", "not_a_column")) not in _flat(DOC)

"""Typed JSON records: a round trip gives the same dict and bytes; a missing, unknown or mistyped
key is one line naming the file and the key."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import ClassVar

import pytest

from contract_registry import all_contracts
from pipeline.errors import InputError
from pipeline.records import Record

_, RECORDS = all_contracts()


@dataclass(frozen=True)
class Sample(Record):
    file: ClassVar[str] = "sample.json"
    stage: ClassVar[str] = "test"

    spacing_mm: float
    size: int
    window: tuple[float, float]
    name: str
    flag: bool
    note: str | None


GOOD = {"spacing_mm": 1, "size": 32, "window": [-1000.0, 400], "name": "a", "flag": True,
        "note": None}


def test_round_trip_keeps_values_and_bytes(tmp_path):
    record = Sample.from_dict(GOOD)
    assert record.spacing_mm == 1.0 and record.window == (-1000.0, 400.0)
    path = tmp_path / "sample.json"
    record.write(path)
    assert Sample.read(path) == record
    data = json.loads(path.read_text())
    assert data == {**GOOD, "spacing_mm": 1.0, "window": [-1000.0, 400.0]}
    assert path.read_text() == json.dumps(data, indent=2, sort_keys=True) + "\n"


@pytest.mark.parametrize("change, message", [
    ({"size": None}, "key 'size': expected an integer, got None"),
    ({"size": 1.5}, "key 'size': expected an integer"),
    ({"size": True}, "key 'size': expected an integer"),
    ({"flag": 1}, "key 'flag': expected true or false"),
    ({"window": [1.0]}, "key 'window': expected a list of 2 items, each a number"),
    ({"spacing_mm": "1"}, "key 'spacing_mm': expected a number, got '1'"),
    ({"note": 3}, "key 'note': expected a string or null"),
    ({"extra": 1}, "unknown key 'extra'"),
])
def test_a_mistyped_or_unknown_key_names_file_and_key(tmp_path, change, message):
    path = tmp_path / "sample.json"
    path.write_text(json.dumps({**GOOD, **change}))
    with pytest.raises(InputError) as exc:
        Sample.read(path)
    assert message in str(exc.value) and str(path) in str(exc.value)
    assert "\n" not in str(exc.value)


def test_a_missing_key_missing_file_or_not_json(tmp_path):
    path = tmp_path / "sample.json"
    path.write_text(json.dumps({k: v for k, v in GOOD.items() if k != "name"}))
    with pytest.raises(InputError, match=r"sample.json: missing key 'name'"):
        Sample.read(path)
    with pytest.raises(InputError, match="expected the test stage's sample.json, not found"):
        Sample.read(tmp_path / "nope.json")
    path.write_text("{")
    with pytest.raises(InputError, match="not JSON"):
        Sample.read(path)
    path.write_text("[]")
    with pytest.raises(InputError, match="expected a JSON object"):
        Sample.read(path)


@pytest.mark.parametrize("record", [r for r in RECORDS if issubclass(r, Record)],
                         ids=lambda r: r.file)
def test_every_json_record_rejects_each_missing_key(tmp_path, record):
    for key in set(record.key_names()) - set(record.optional_keys()):
        path = tmp_path / record.file
        path.write_text(json.dumps({k: 0 for k in record.key_names() if k != key}))
        with pytest.raises(InputError) as exc:
            record.read(path)
        assert str(path) in str(exc.value) and repr(key) in str(exc.value)


def test_an_optional_key_may_be_left_out_and_is_left_out_when_none(tmp_path):
    from pipeline.data.generated import GeneratorRecord

    record = {"source": "generated", "scans": 2, "nodules": 3, "nodules_found": 2,
              "sensitivity": 0.6667, "candidates": 40, "candidates_per_scan": 20.0,
              "candidates_per_scan_max": 21}
    typed = GeneratorRecord.from_dict(record)
    assert typed.by_type is None and typed.to_dict() == record
    with_types = {**record, "by_type": {"solid": {"nodules": 3, "found": 2}}}
    assert GeneratorRecord.from_dict(with_types).to_dict() == with_types
    with pytest.raises(InputError, match="missing key 'scans'"):
        GeneratorRecord.from_dict({k: v for k, v in record.items() if k != "scans"})

"""Every contract the library defines: each module-level :class:`~pipeline.tables.Table` and each
:class:`~pipeline.records.TypedRecord` subclass of every module of ``pipeline`` (imported here)."""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import pipeline
from pipeline.records import Record, TypedRecord
from pipeline.tables import Table


def all_contracts() -> tuple[list[Table], list[type[TypedRecord]]]:
    tables: list[Table] = []
    records: list[type[TypedRecord]] = []
    for info in pkgutil.walk_packages(pipeline.__path__, "pipeline."):
        module = importlib.import_module(info.name)
        for value in vars(module).values():
            if isinstance(value, Table) and value not in tables:
                tables.append(value)
            elif (inspect.isclass(value) and issubclass(value, TypedRecord)
                  and value not in (TypedRecord, Record) and value not in records):
                records.append(value)
    return tables, records

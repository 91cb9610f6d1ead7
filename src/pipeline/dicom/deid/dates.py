"""Shift DICOM dates by whole days (PS3.15 E.3.6, Retain Longitudinal Temporal Information with
Modified Dates). Value formats: DA ``YYYYMMDD``, DT ``YYYYMMDDHHMMSS.FFFFFF&ZZXX`` (PS3.5 6.2).

A whole-day shift keeps every time of day (TM, and the time part of DT) unchanged, so intervals
within a patient stay exact. Values that are not full dates (partial DT such as ``2024``, legacy
``YYYY.MM.DD``) cannot be shifted safely and are returned as ``None`` (the caller empties them).
"""

from __future__ import annotations

import datetime as dt


def shift_da(value: str, days: int) -> str | None:
    """``YYYYMMDD`` minus ``days`` days, or None if ``value`` is not a full valid date."""
    text = value.strip()
    if len(text) != 8 or not text.isdigit():
        return None
    try:
        day = dt.date(int(text[:4]), int(text[4:6]), int(text[6:8]))
        return (day - dt.timedelta(days=days)).strftime("%Y%m%d")
    except (ValueError, OverflowError):
        return None


def shift_dt(value: str, days: int) -> str | None:
    """DT with its date part shifted by ``days`` days and its time and offset kept; None if the
    value has no full date."""
    text = value.strip()
    shifted = shift_da(text[:8], days) if len(text) >= 8 else None
    return None if shifted is None else shifted + text[8:]

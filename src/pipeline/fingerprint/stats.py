"""Small, identifier-free summaries of value lists: counts, fixed-bin histograms, quantiles.

Fixed bins (a width and an origin, never fitted to the data) make the histograms of two data
versions line up bin for bin, so ``dvc plots diff`` overlays them.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

_UID_LIKE = re.compile(r"\d+(?:\.\d+){3,}")


def summary(values: Iterable[float], digits: int = 4) -> dict[str, float | None]:
    """``{"min", "median", "max"}`` of finite values, rounded; ``None`` each when there are none."""
    array = np.asarray([v for v in values if v is not None and math.isfinite(v)], dtype=float)
    if array.size == 0:
        return {"min": None, "median": None, "max": None}
    return {"min": round(float(array.min()), digits),
            "median": round(float(np.median(array)), digits),
            "max": round(float(array.max()), digits)}


def value_counts(values: Iterable[Any]) -> dict[str, int]:
    """``{value: count}`` with text keys, sorted by key (stable JSON, easy to read)."""
    counted = Counter(str(v) for v in values)
    return dict(sorted(counted.items()))


def number_key(value: float, digits: int = 3) -> str:
    """Stable text of a number used as a key: ``1.25``, ``2`` (no ``2.0``, no ``-0``)."""
    text = f"{round(float(value), digits):.{digits}f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def histogram(values: Iterable[float], width: float, origin: float = 0.0) -> dict[str, int]:
    """Counts per bin ``[origin + k * width, origin + (k + 1) * width)``, keyed by bin centre."""
    counts: Counter[str] = Counter()
    for v in values:
        if v is None or not math.isfinite(v):
            continue
        k = math.floor((float(v) - origin) / width + 1e-9)
        counts[number_key(origin + (k + 0.5) * width)] += 1
    return dict(sorted(counts.items(), key=lambda kv: float(kv[0])))


def quantile_from_counts(counts: Mapping[str, int] | Sequence[int] | np.ndarray, q: float,
                         offset: float = 0.0) -> float | None:
    """The ``q`` quantile (0..1) of values given as counts per value.

    ``counts`` is either ``{value text: n}`` or a dense array where index ``i`` stands for value
    ``i + offset`` (a 1 HU histogram). Lower value at a tie (like ``np.quantile(method="lower")``).
    """
    if isinstance(counts, Mapping):
        items = sorted((float(k), int(n)) for k, n in counts.items() if int(n) > 0)
        values = np.array([k for k, _ in items], dtype=float)
        weights = np.array([n for _, n in items], dtype=np.int64)
    else:
        weights = np.asarray(counts, dtype=np.int64)
        values = np.arange(len(weights), dtype=float) + offset
        keep = weights > 0
        values, weights = values[keep], weights[keep]
    total = int(weights.sum())
    if total == 0:
        return None
    rank = q * (total - 1)
    index = int(np.searchsorted(np.cumsum(weights), math.floor(rank) + 1, side="left"))
    return float(values[min(index, len(values) - 1)])


def merge_counts(parts: Iterable[Mapping[str, int]]) -> dict[str, int]:
    """Sum ``{key: count}`` mappings (bins of the same width and origin)."""
    total: Counter[str] = Counter()
    for part in parts:
        total.update({k: int(v) for k, v in part.items()})
    return dict(sorted(total.items(), key=lambda kv: _sort_key(kv[0])))


def _sort_key(key: str) -> tuple[int, float, str]:
    try:
        return (0, float(key), "")
    except ValueError:
        return (1, 0.0, key)


def reason_category(reason: str) -> str:
    """The category of a reason (its text before the first ``:``) with any UID blanked out, so a
    count by category never carries an identifier."""
    head = str(reason).split(":", 1)[0].split(" [", 1)[0].strip()
    return _UID_LIKE.sub("<uid>", head) or "unspecified"


def by_category(counts: Mapping[str, int]) -> dict[str, int]:
    """Counts by reason (or category) re-keyed by :func:`reason_category` and summed."""
    total: Counter[str] = Counter()
    for reason, n in counts.items():
        total[reason_category(reason)] += int(n)
    return dict(sorted(total.items()))

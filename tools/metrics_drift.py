"""Compare reproduced metrics with committed ones; fail when a number drifts beyond tolerance.

Usage: python tools/metrics_drift.py --committed DIR --reproduced DIR [--rtol 0.02] [--atol 0.02]

Numbers are compared leaf by leaf (nested JSON); keys whose name says they are timings or versions
(``seconds``, ``per_s``, ``latency``, ``_ms``, ``version``) are reported but never fail the check,
since they measure the machine, not the result. Exit 0 when everything matches, 1 otherwise.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

VOLATILE = ("seconds", "per_s", "latency", "_ms", "version", "samples_per_sec")


def leaves(data: Any, prefix: str = "") -> Iterator[tuple[str, Any]]:
    """Yield (dotted key, value) for every leaf of a JSON document."""
    if isinstance(data, dict):
        for key in sorted(data):
            yield from leaves(data[key], f"{prefix}.{key}" if prefix else str(key))
    elif isinstance(data, list):
        for i, value in enumerate(data):
            yield from leaves(value, f"{prefix}[{i}]")
    else:
        yield prefix, data


def compare(committed: Path, reproduced: Path, rtol: float, atol: float) -> list[str]:
    """Return one line per metric that drifted (or disappeared) beyond tolerance."""
    problems = []
    for old_file in sorted(committed.glob("*.json")):
        new_file = reproduced / old_file.name
        if not new_file.exists():
            problems.append(f"{old_file.name}: not reproduced")
            continue
        new = dict(leaves(json.loads(new_file.read_text())))
        for key, old_value in leaves(json.loads(old_file.read_text())):
            if any(v in key for v in VOLATILE):
                continue
            new_value = new.get(key, "<missing>")
            if isinstance(old_value, (int, float)) and isinstance(new_value, (int, float)):
                if not math.isclose(old_value, new_value, rel_tol=rtol, abs_tol=atol):
                    problems.append(f"{old_file.name}:{key}: committed {old_value}, "
                                    f"reproduced {new_value}")
            elif old_value != new_value:
                problems.append(f"{old_file.name}:{key}: committed {old_value!r}, "
                                f"reproduced {new_value!r}")
    return problems


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--committed", type=Path, required=True)
    p.add_argument("--reproduced", type=Path, required=True)
    p.add_argument("--rtol", type=float, default=0.02)
    p.add_argument("--atol", type=float, default=0.02)
    args = p.parse_args(argv)
    problems = compare(args.committed, args.reproduced, args.rtol, args.atol)
    for line in problems:
        print(line)
    print(f"{len(problems)} metric(s) drifted beyond rtol={args.rtol}, atol={args.atol}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())

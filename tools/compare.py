"""The headline figures in one terminal screen: out-of-fold AUC and CPM of the model and the
baseline with their 95% CIs and paired differences, for the workspace and, with --rev, a git
revision beside it (e.g. `make compare` or `.venv/bin/python tools/compare.py --rev main`).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

METRICS = Path("metrics/evaluate.json")


def load(rev: str | None) -> dict[str, Any]:
    if rev is None:
        return json.loads(METRICS.read_text(encoding="utf-8"))
    out = subprocess.run(["git", "show", f"{rev}:{METRICS.as_posix()}"], capture_output=True,
                         text=True)
    if out.returncode != 0:
        raise SystemExit(f"compare: error: {rev}:{METRICS} not found ({out.stderr.strip()})")
    return json.loads(out.stdout)


def fmt(entry: dict[str, Any] | None) -> str:
    if not entry or entry.get("value") is None:
        return "n/a"
    lo, hi = entry.get("ci_low"), entry.get("ci_high")
    ci = f" [{lo:.3f}, {hi:.3f}]" if lo is not None and hi is not None else ""
    return f"{entry['value']:.3f}{ci}"


def rows(m: dict[str, Any]) -> list[tuple[str, str]]:
    oof, base = m["oof"], m["baseline"]
    return [("model", m.get("model", "?")), ("patients (out of fold)", str(oof["patients"])),
            ("AUC", fmt(oof["auc"])), ("CPM", fmt(oof["cpm"])),
            ("sensitivity", fmt(oof.get("sensitivity"))),
            ("specificity", fmt(oof.get("specificity"))),
            (f"baseline {base['model']} AUC", fmt(base.get("auc"))),
            (f"baseline {base['model']} CPM", fmt(base.get("cpm"))),
            ("delta AUC (paired)", fmt(base["delta_auc"])),
            ("delta CPM (paired)", fmt(base["delta_cpm"]))]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--rev", help="a git revision to show beside the workspace")
    args = p.parse_args(argv)
    if not METRICS.is_file():
        print(f"compare: error: {METRICS} not found (run `make repro`)", file=sys.stderr)
        return 2
    cols = [("workspace", rows(load(None)))]
    if args.rev:
        cols.append((args.rev, rows(load(args.rev))))
    names = [n for n, _ in cols[0][1]]
    width = max(len(n) for n in names)
    print(f"{'':<{width}}  " + "  ".join(f"{c:<24}" for c, _ in cols))
    for i, name in enumerate(names):
        print(f"{name:<{width}}  " + "  ".join(f"{r[i][1]:<24}" for _, r in cols))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

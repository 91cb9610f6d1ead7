"""The generated track's figures: the generator alone, and the full system by LUNA16's FROC.

In the generated track (``data.candidates: generated``) the out-of-fold FROC *is* the full
system's (generator + classifier): its sensitivity is over every annotated nodule of the evaluated
scans, and a nodule that no kept candidate hits stays in the denominator as the LUNA16 kit keeps it
(``FROCGTList`` 1, excluded from the ROC, ``sensitivity = tpr * n_detected / n_nodules``), so the
curve never rises above ``n_detected / n_nodules``. The generator's own sensitivity and candidates
per scan come from the patches stage's ``generator.json``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pipeline.evaluation.froc import FrocResult

GENERATOR_KEYS = ("scans", "nodules", "nodules_found", "sensitivity", "candidates",
                  "candidates_per_scan", "candidates_per_scan_max", "by_type")


def generated_track(generator: Mapping[str, Any], fr: FrocResult,
                    cpm: Mapping[str, Any]) -> dict[str, Any]:
    """``metrics["candidates"]`` of the generated track.

    Args:
        generator: ``generator.json`` (``pipeline.data.generated.generator_record``).
        fr: the out-of-fold FROC of the model over every scan.
        cpm: the model's CPM with its bootstrap interval (``{value, ci_low, ci_high}``).
    """
    return {
        "source": "generated",
        "generator": {k: generator[k] for k in GENERATOR_KEYS if k in generator},
        "full_system": {
            "cpm": dict(cpm),
            "nodules": int(fr.n_nodules),
            "nodules_detected": int(fr.n_detected),
            "scans": int(fr.n_scans),
            "max_sensitivity": round(fr.n_detected / fr.n_nodules, 6) if fr.n_nodules else None,
            "sensitivity_at": {f"{r:g}": round(v, 6) for r, v in fr.sensitivities.items()},
        },
    }

"""The train stage's ``oof.csv``: the held-out fold's candidates with their scores.

One row per candidate of the patients the fold did not train on: its ids and world centre (mm,
LPS), label, the fold model's nodule probability, the fold's operating threshold (chosen on the
inner validation part) and the prediction at that threshold. ``evaluate`` concatenates the folds'.
"""

from __future__ import annotations

from pipeline.tables import COORDS, Table

OOF = Table("oof.csv", "train", (
    ("fold", "int"), ("series_uid", "uid"), ("patient_id", "uid"), ("candidate_id", "text"),
    *((c, "number") for c in COORDS), ("label", "class"), ("probability", "number"),
    ("threshold", "number"), ("prediction", "class")), float_format="%.6f")
OOF_COLUMNS = list(OOF.names)

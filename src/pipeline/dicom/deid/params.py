"""``anonymize:`` of ``params.yaml``: the de-identification profile's options and pseudonyms."""

from __future__ import annotations

import re
from dataclasses import dataclass

from pipeline.config import Section, bounds
from pipeline.errors import ConfigError


@dataclass(frozen=True)
class AnonymizeParams(Section):
    """PS3.15 Basic Profile options (Table E.1-1 columns) and the pseudonyms' UID root."""

    SECTION = "anonymize"

    key_id: str
    uid_root: str
    retain_longitudinal_modified_dates: bool
    max_date_shift_days: int = bounds(1, 3650)
    retain_patient_characteristics: bool = bounds()
    retain_device_identity: bool = bounds()
    retain_safe_private: tuple[str, ...] = bounds()
    jobs: int = bounds(1)

    def check(self, prefix: str) -> None:
        root = self.uid_root.rstrip(".")
        if not root or not all(p.isdigit() and (p == "0" or not p.startswith("0"))
                               for p in root.split(".")) or len(root) > 40:
            raise ConfigError(f"{prefix}.uid_root must be a DICOM UID root like '2.25' "
                              f"(digits and dots, <= 40 chars), got {self.uid_root!r}")
        for entry in self.retain_safe_private:  # PS3.15 Table E.3.10-1 notation, odd group
            if not re.fullmatch(r"[0-9A-Fa-f]{3}[13579BbDdFf],[xX]{2}[0-9A-Fa-f]{2}:.+", entry):
                raise ConfigError(f"{prefix}.retain_safe_private entries must look like "
                                  f"'0019,xx0C:SIEMENS MR HEADER' (odd group), got {entry!r}")

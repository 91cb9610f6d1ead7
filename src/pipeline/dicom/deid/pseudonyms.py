"""Keyed, consistent pseudonyms: UIDs, patient IDs and per-patient date shifts (HMAC-SHA256).

The same key and the same original value give the same replacement in every file, series and run,
so references between instances (PS3.15 E.1.1, "U" action) and the grouping of series by patient
survive de-identification, while nobody without the key can recompute the mapping. The key comes
from the environment (``PIPELINE_DEID_KEY``) or a key file kept outside the repository; only its
non-secret ``key_id`` is ever recorded.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
from pathlib import Path

from pipeline.errors import DeidentificationError

log = logging.getLogger(__name__)

KEY_ENV_VAR = "PIPELINE_DEID_KEY"
MIN_KEY_BYTES = 16
MAX_UID_CHARS = 64  # PS3.5 9.1
# Public on purpose: only for the embedded synthetic cohort, whose identities are invented.
DEMO_KEY = b"lung-nodule-pipeline synthetic demo key (not secret)"


def load_key(key_file: Path | None, synthetic: bool) -> bytes:
    """The key: ``key_file``, else ``$PIPELINE_DEID_KEY``, else (synthetic only) the demo key.

    Raises:
        DeidentificationError: no key for real data, an unreadable key file, or a key shorter
            than :data:`MIN_KEY_BYTES`.
    """
    if key_file is not None:
        try:
            key = Path(key_file).read_bytes().strip()
        except OSError as exc:
            raise DeidentificationError(
                f"cannot read the de-identification key file {key_file}: {exc.strerror}") from None
        source = "key file"
    elif os.environ.get(KEY_ENV_VAR):
        key = os.environ[KEY_ENV_VAR].encode("utf-8")
        source = f"${KEY_ENV_VAR}"
    elif synthetic:
        log.warning("no de-identification key given: using the public demo key, acceptable only "
                    "for the synthetic cohort (set %s or --key-file for real data)", KEY_ENV_VAR)
        return DEMO_KEY
    else:
        raise DeidentificationError(
            f"no de-identification key: set the environment variable {KEY_ENV_VAR} or pass "
            "--key-file PATH (a file outside the repository); expected a secret of at least "
            f"{MIN_KEY_BYTES} bytes, got none")
    if len(key) < MIN_KEY_BYTES:
        raise DeidentificationError(f"de-identification key from {source} is too short: expected "
                                    f">= {MIN_KEY_BYTES} bytes, got {len(key)}")
    return key


class Pseudonymizer:
    """Keyed replacements for one key and UID root; results are memoised per instance."""

    def __init__(self, key: bytes, uid_root: str = "2.25") -> None:
        self._key = key
        self.uid_root = uid_root.rstrip(".")
        self._uid_digits = MAX_UID_CHARS - len(self.uid_root) - 1
        self._uids: dict[str, str] = {}

    def _digest(self, purpose: bytes, value: str) -> bytes:
        return hmac.new(self._key, purpose + b"\0" + value.encode("utf-8"), hashlib.sha256).digest()

    def uid(self, original: str) -> str:
        """New UID for ``original``: ``<root>.<decimal of the HMAC truncated to 128 bits>``.

        Under ``2.25`` this is the UUID-derived form of PS3.5 B.2; under another root the decimal
        is cut so the UID stays within 64 characters (PS3.5 9.1). A component never starts with 0.
        """
        found = self._uids.get(original)
        if found is None:
            number = int.from_bytes(self._digest(b"uid", original)[:16], "big") or 1
            found = f"{self.uid_root}.{str(number)[: self._uid_digits]}"
            self._uids[original] = found
        return found

    def patient_id(self, original: str) -> str:
        """Pseudonymous patient ID ``PAT-`` + 12 hex digits of the HMAC of the original ID."""
        return "PAT-" + self._digest(b"patient", original).hex()[:12].upper()

    def date_shift_days(self, patient_key: str, max_days: int) -> int:
        """Days to subtract from every date of this patient: 1..``max_days``, keyed and stable."""
        number = int.from_bytes(self._digest(b"dateshift", patient_key)[:8], "big")
        return 1 + number % max_days

    def tag(self, text: str, n_hex: int = 12) -> str:
        """A short keyed hash of any text (e.g. a relative input path) for quarantine rows."""
        return self._digest(b"item", text).hex()[:n_hex]

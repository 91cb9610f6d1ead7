"""Keyed, consistent pseudonyms: UIDs, patient IDs and per-patient date shifts (HMAC-SHA256).

The same key and the same original value give the same replacement in every file, series and run,
so references between instances (PS3.15 E.1.1, "U" action) and the grouping of series by patient
survive de-identification, while nobody without the key can recompute the mapping. The key comes
from the environment (``PIPELINE_DEID_KEY``) or a key file kept outside the repository; only its
non-secret ``key_id`` and fingerprint are ever recorded. Tasks carry a :class:`KeySource` (where
to read the key), never the key: a :class:`Pseudonymizer` refuses to be pickled and hides the key
from ``repr``.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Literal, NoReturn

from pipeline.errors import DeidentificationError
from pipeline.synth.marker import MARKER_NAME, is_synthetic_cohort

log = logging.getLogger(__name__)

KEY_ENV_VAR = "PIPELINE_DEID_KEY"
MIN_KEY_BYTES = 16
MAX_UID_CHARS = 64  # PS3.5 9.1
# Public on purpose: only for the embedded synthetic cohort, whose identities are invented.
DEMO_KEY = b"lung-nodule-pipeline synthetic demo key (not secret)"
DEMO_KEY_ID = "public-demo-key"  # recorded whenever the demo key is used, whatever params say


def key_fingerprint(key: bytes) -> str:
    """A short keyed digest of the key itself: tells two keys apart, reveals nothing of it."""
    return hmac.new(key, b"pipeline key fingerprint", hashlib.sha256).hexdigest()[:16]


@dataclass(frozen=True)
class KeySource:
    """Where a worker reads the key: ``file`` (``path``), ``env`` (:data:`KEY_ENV_VAR`) or
    ``demo``. Holds no secret, so tasks that carry it can be pickled, sent to dask workers over
    the network and printed; ``fingerprint`` lets a worker check it read the same key.

    On a dask cluster every worker needs the key in its own environment (start the workers with
    ``PIPELINE_DEID_KEY`` set) or the key file at the same absolute path.
    """

    kind: Literal["file", "env", "demo"]
    path: str = ""
    fingerprint: str = ""

    @property
    def key_id(self) -> str | None:
        """The fixed id of the demo key; None for a real key (params' ``key_id`` names it)."""
        return DEMO_KEY_ID if self.kind == "demo" else None

    def load(self) -> bytes:
        """The key (read once per process).

        Raises:
            DeidentificationError: the key cannot be read here, or differs from the stage's.
        """
        return _load_cached(self)


@lru_cache(maxsize=8)
def _load_cached(source: KeySource) -> bytes:
    if source.kind == "demo":
        key = DEMO_KEY
    elif source.kind == "file":
        key = _read_key_file(Path(source.path))
    else:
        key = os.environ.get(KEY_ENV_VAR, "").encode("utf-8")
        if not key:
            raise DeidentificationError(
                f"{KEY_ENV_VAR} is not set in this worker's environment (pid {os.getpid()}); "
                "start every worker with the key in its environment")
    if source.fingerprint and key_fingerprint(key) != source.fingerprint:
        raise DeidentificationError(
            f"the de-identification key read from {source.kind} in pid {os.getpid()} differs "
            "from the one the stage was started with")
    return key


def _read_key_file(path: Path) -> bytes:
    try:
        key = path.read_bytes().strip()
    except OSError as exc:
        raise DeidentificationError(
            f"cannot read the de-identification key file {path}: {exc.strerror}") from None
    if len(key) < MIN_KEY_BYTES:
        raise DeidentificationError(f"de-identification key file {path} is too short: expected "
                                    f">= {MIN_KEY_BYTES} bytes, got {len(key)}")
    return key


def load_key(key_file: Path | None, synthetic: bool = False,
             input_dir: Path | None = None) -> KeySource:
    """The key source: ``key_file``, else ``$PIPELINE_DEID_KEY``, else the public demo key, but
    only when ``synthetic`` and ``input_dir`` is, provably, the cohort ``synthesize`` wrote
    (:func:`pipeline.synth.marker.is_synthetic_cohort`).

    Raises:
        DeidentificationError: no key (and no provably synthetic input), an unreadable key file,
            or a key shorter than :data:`MIN_KEY_BYTES`.
    """
    if key_file is not None:
        path = Path(key_file).absolute()
        return KeySource("file", str(path), key_fingerprint(_read_key_file(path)))
    env = os.environ.get(KEY_ENV_VAR, "")
    if env:
        key = env.encode("utf-8")
        if len(key) < MIN_KEY_BYTES:
            raise DeidentificationError(f"de-identification key from ${KEY_ENV_VAR} is too short: "
                                        f"expected >= {MIN_KEY_BYTES} bytes, got {len(key)}")
        return KeySource("env", "", key_fingerprint(key))
    if synthetic and input_dir is not None and is_synthetic_cohort(input_dir):
        log.warning("no de-identification key given: using the public demo key on the synthetic "
                    "cohort (its %s proves it); set %s or --key-file for anything else",
                    MARKER_NAME, KEY_ENV_VAR)
        return KeySource("demo", "", key_fingerprint(DEMO_KEY))
    why = ("; the public demo key is used only on the unmodified cohort that synthesize wrote "
           f"(with its {MARKER_NAME})") if synthetic else ""
    raise DeidentificationError(
        f"no de-identification key: set the environment variable {KEY_ENV_VAR} or pass "
        f"--key-file PATH (a file outside the repository); expected a secret of at least "
        f"{MIN_KEY_BYTES} bytes, got none{why}")


class Pseudonymizer:
    """Keyed replacements for one key and UID root; results are memoised per instance."""

    def __init__(self, key: bytes, uid_root: str = "2.25") -> None:
        self._key = key
        self.uid_root = uid_root.rstrip(".")
        self._uid_digits = MAX_UID_CHARS - len(self.uid_root) - 1
        self._uids: dict[str, str] = {}

    def __repr__(self) -> str:
        hidden = key_fingerprint(self._key)
        return f"Pseudonymizer(key=<hidden {hidden}>, uid_root={self.uid_root!r})"

    def __reduce__(self) -> NoReturn:
        raise TypeError("a Pseudonymizer holds the de-identification key and is never pickled: "
                        "send a KeySource and build it in the worker")

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

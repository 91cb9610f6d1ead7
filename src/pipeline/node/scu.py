"""C-STORE results to the destination AE (PS3.4 B.2), one association per attempt."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import pydicom
from pydicom.uid import ExplicitVRLittleEndian, ImplicitVRLittleEndian
from pynetdicom import AE, build_context

from pipeline.errors import PipelineError
from pipeline.node.params import Destination

log = logging.getLogger(__name__)

# success and the storage warnings (coercion, elements discarded, data set mismatch) all mean
# "the PACS now holds it" (PS3.4 B.2.3)
STORED = frozenset({0x0000, 0xB000, 0xB006, 0xB007})


class SendError(PipelineError):
    """The destination could not be reached or did not store an object."""


def send_files(dest: Destination, calling_aet: str, files: Sequence[Path],
               timeout_s: float = 30.0) -> list[Path]:
    """Store ``files`` at ``dest`` in one association; returns those stored.

    Raises:
        SendError: no association (refused, unreachable, timed out) or not one file stored.
    """
    if not files:
        return []
    headers = [pydicom.dcmread(f, stop_before_pixels=True) for f in files]
    syntaxes: dict[str, list[str]] = {}
    for ds in headers:
        wanted = syntaxes.setdefault(str(ds.SOPClassUID), [])
        for ts in (str(ds.file_meta.TransferSyntaxUID), ExplicitVRLittleEndian,
                   ImplicitVRLittleEndian):
            if ts not in wanted:
                wanted.append(ts)
    ae = AE(ae_title=calling_aet)
    ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = timeout_s
    contexts = [build_context(sop, ts) for sop, ts in syntaxes.items()]
    assoc = ae.associate(dest.host, dest.port, contexts=contexts, ae_title=dest.aet)
    if not assoc.is_established:
        reason = "rejected" if assoc.is_rejected else "aborted" if assoc.is_aborted else "no answer"
        raise SendError(f"no association with {dest} ({reason})")
    stored, errors = [], []
    try:
        for path in files:
            status = assoc.send_c_store(path)
            code = int(status.Status) if "Status" in status else None
            if code in STORED:
                stored.append(path)
            else:
                errors.append(f"{path.name}: " + ("no reply" if code is None
                                                  else f"status 0x{code:04X}"))
    finally:
        if assoc.is_established:
            assoc.release()
    if errors:
        log.warning("%s did not store %d of %d object(s): %s", dest, len(errors), len(files),
                    "; ".join(errors))
    if not stored and files:
        raise SendError(f"{dest} stored none of {len(files)} object(s): {errors[0]}")
    return stored

"""The Storage SCP: accept CT images over C-STORE into the inbox, refuse anything else.

Statuses (PS3.4 B.2.3 and PS3.7 C.4.2): 0x0000 stored; 0x0122 SOP Class not supported (any
storage SOP class but CT Image Storage is negotiated, so the sender gets a per-object answer
instead of a refused association); 0xA900 the data set does not match the SOP class (wrong SOP
class in the data set, missing UIDs or pixel data); 0xC000 cannot understand (does not decode);
0xA700 out of resources (the node could not write it). Every refusal is logged with the calling
AE and the reason, never with a patient attribute; the association goes on.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from pydicom.dataset import Dataset
from pydicom.uid import UID, CTImageStorage
from pynetdicom import AE, ALL_TRANSFER_SYNTAXES, AllStoragePresentationContexts, evt
from pynetdicom.sop_class import Verification  # type: ignore[attr-defined]
from pynetdicom.transport import ThreadedAssociationServer

from pipeline.node.inbox import Inbox

log = logging.getLogger(__name__)

SUCCESS = 0x0000
SOP_CLASS_NOT_SUPPORTED = 0x0122
DOES_NOT_MATCH_SOP_CLASS = 0xA900
CANNOT_UNDERSTAND = 0xC000
OUT_OF_RESOURCES = 0xA700
ACCEPTED_SOP_CLASSES = frozenset({CTImageStorage})
REQUIRED = ("StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID", "Rows", "Columns",
            "PixelData")


def _status(code: int, comment: str) -> Dataset:
    ds = Dataset()
    ds.Status = code
    ds.ErrorComment = comment[:64]  # LO
    return ds


def check_instance(context_sop_class: str, request_sop_instance: str, ds: Dataset
                   ) -> tuple[int, str]:
    """``(status, reason)`` for one received data set; ``(0, "")`` when it may be stored."""
    if context_sop_class not in ACCEPTED_SOP_CLASSES:
        name = UID(context_sop_class).name
        return SOP_CLASS_NOT_SUPPORTED, f"SOP class {name} not accepted, only CT Image Storage"
    missing = [k for k in REQUIRED if k not in ds or ds[k].value in (None, "", b"")]
    if missing:
        return DOES_NOT_MATCH_SOP_CLASS, f"missing {', '.join(missing)}"
    if ds.get("SOPClassUID", "") != context_sop_class:
        return DOES_NOT_MATCH_SOP_CLASS, "SOPClassUID differs from the negotiated SOP class"
    if request_sop_instance and str(ds.SOPInstanceUID) != str(request_sop_instance):
        return DOES_NOT_MATCH_SOP_CLASS, "SOPInstanceUID differs from the C-STORE request"
    return SUCCESS, ""


class StorageSCP:
    """A pynetdicom AE serving C-STORE (CT only) and C-ECHO on ``host:port``."""

    def __init__(self, aet: str, host: str, port: int, inbox: Inbox, max_associations: int,
                 on_stored: Callable[[str], None] | None = None) -> None:
        self.inbox = inbox
        self.on_stored = on_stored
        self.ae = AE(ae_title=aet)
        self.ae.maximum_associations = max_associations
        self.ae.require_called_aet = True
        for cx in AllStoragePresentationContexts:
            self.ae.add_supported_context(str(cx.abstract_syntax), ALL_TRANSFER_SYNTAXES)
        self.ae.add_supported_context(Verification)
        self.address = (host, port)
        self.server: ThreadedAssociationServer | None = None

    def start(self) -> int:
        """Listen without blocking; returns the bound port (useful with port 0)."""
        handlers: list[Any] = [(evt.EVT_C_STORE, self._handle_store),
                               (evt.EVT_C_ECHO, lambda e: SUCCESS)]
        server = self.ae.start_server(self.address, block=False, evt_handlers=handlers)
        if server is None:  # start_server returns the server whenever block=False
            raise OSError(f"could not listen on {self.address[0]}:{self.address[1]}")
        self.server = server
        return int(server.server_address[1])

    def stop_accepting(self) -> None:
        """Close the listening socket; associations already open may finish."""
        if self.server is not None:
            self.server.shutdown()

    def active(self) -> int:
        return len(self.ae.active_associations)

    def abort_all(self) -> None:
        for assoc in self.ae.active_associations:
            assoc.abort()

    def _handle_store(self, event: Any) -> Dataset | int:
        caller = event.assoc.requestor.ae_title
        sop_class = str(event.context.abstract_syntax)
        request_uid = str(event.request.AffectedSOPInstanceUID or "")
        try:
            ds = event.dataset
            ds.file_meta = event.file_meta
            code, reason = check_instance(sop_class, request_uid, ds)
        except Exception as exc:  # any decoding failure of a peer's bytes: refuse, keep serving
            code, reason = CANNOT_UNDERSTAND, f"data set does not decode ({type(exc).__name__})"
        if code != SUCCESS:
            log.warning("refused an instance from %s: %s (status 0x%04X)", caller, reason, code)
            return _status(code, reason)
        try:
            key = self.inbox.store(str(ds.SeriesInstanceUID), str(ds.SOPInstanceUID),
                                   event.encoded_dataset(include_meta=True))
        except OSError as exc:
            log.error("could not store an instance from %s: %s (status 0x%04X)", caller,
                      exc.strerror or type(exc).__name__, OUT_OF_RESOURCES)
            return _status(OUT_OF_RESOURCES, "node could not write the instance")
        log.debug("stored instance %s of series %s from %s", ds.SOPInstanceUID, key, caller)
        if self.on_stored is not None:
            self.on_stored(key)
        return SUCCESS

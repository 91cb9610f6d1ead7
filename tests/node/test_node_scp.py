"""The Storage SCP: CT stored durably under hashed names; everything else refused, node goes on."""

from __future__ import annotations

import threading
from pathlib import Path
from types import SimpleNamespace

import pydicom
from node_helpers import NODE_AET, store, write_series
from pydicom.uid import CTImageStorage, MRImageStorage
from pynetdicom import AE

from pipeline.node.layout import uid_key
from pipeline.node.scp import (
    CANNOT_UNDERSTAND,
    DOES_NOT_MATCH_SOP_CLASS,
    SOP_CLASS_NOT_SUPPORTED,
    check_instance,
)


def _incoming_files(node) -> list[Path]:
    return sorted(node.workdir.incoming.glob("*/*.dcm"))


def test_ct_instances_are_stored_by_series_under_hashed_names(tmp_path, pacs, params_for,
                                                              start_node):
    node = start_node(params_for(pacs.dest, quiet_seconds=60))
    series = write_series(tmp_path / "s")
    assert store(node.port, series.files) == [0] * len(series.files)
    files = _incoming_files(node)
    assert {f.parent.name for f in files} == {uid_key(series.series_uid)}
    sop_uids = {str(pydicom.dcmread(f, stop_before_pixels=True).SOPInstanceUID) for f in files}
    assert {f.stem for f in files} == {uid_key(u) for u in sop_uids}
    assert len(files) == len(series.files)
    names = " ".join(str(f.relative_to(node.workdir.root)) for f in files)
    assert "PAT-0001" not in names and "DOE" not in names and series.series_uid not in names
    # what is on disk is the instance as sent, with its file meta
    original = pydicom.dcmread(series.files[0])
    stored = pydicom.dcmread(node.workdir.incoming / uid_key(series.series_uid)
                             / f"{uid_key(original.SOPInstanceUID)}.dcm")
    assert stored.pixel_array.tolist() == original.pixel_array.tolist()


def test_non_ct_object_is_refused_with_sop_class_not_supported_and_node_goes_on(
        tmp_path, pacs, params_for, start_node, caplog):
    node = start_node(params_for(pacs.dest, quiet_seconds=60))
    series = write_series(tmp_path / "s")
    mr = pydicom.dcmread(series.files[0])
    mr.SOPClassUID = mr.file_meta.MediaStorageSOPClassUID = MRImageStorage
    mr.Modality = "MR"
    statuses = store(node.port, [mr, series.files[1]], contexts=(MRImageStorage, CTImageStorage))
    assert statuses == [SOP_CLASS_NOT_SUPPORTED, 0]
    assert len(_incoming_files(node)) == 1
    assert "MR Image Storage not accepted" in caplog.text
    assert "DOE" not in caplog.text and "PAT-0001" not in caplog.text
    assert store(node.port, series.files[2:3]) == [0]  # still serving


def test_ct_data_set_without_series_uid_does_not_match_the_sop_class(tmp_path, pacs, params_for,
                                                                     start_node):
    node = start_node(params_for(pacs.dest, quiet_seconds=60))
    series = write_series(tmp_path / "s")
    no_series = pydicom.dcmread(series.files[0])
    del no_series.SeriesInstanceUID
    assert store(node.port, [no_series, series.files[1]]) == [DOES_NOT_MATCH_SOP_CLASS, 0]
    assert len(_incoming_files(node)) == 1


def test_data_set_of_another_sop_class_or_instance_than_negotiated_does_not_match(tmp_path):
    ds = pydicom.dcmread(write_series(tmp_path / "s").files[0])
    assert check_instance(CTImageStorage, str(ds.SOPInstanceUID), ds) == (0, "")
    code, reason = check_instance(CTImageStorage, "1.2.3.4.5.6", ds)
    assert code == DOES_NOT_MATCH_SOP_CLASS and "C-STORE request" in reason
    ds.SOPClassUID = MRImageStorage
    code, reason = check_instance(CTImageStorage, "", ds)
    assert code == DOES_NOT_MATCH_SOP_CLASS and "negotiated" in reason


def test_data_set_that_does_not_decode_cannot_be_understood(tmp_path, pacs, params_for):
    from pipeline.node.service import Node

    node = Node(params_for(pacs.dest))
    node.workdir.create()

    class Undecodable:
        @property
        def dataset(self):
            raise ValueError("truncated element")

    event = Undecodable()
    event.assoc = SimpleNamespace(requestor=SimpleNamespace(ae_title="TESTSCU"))
    event.context = SimpleNamespace(abstract_syntax=CTImageStorage)
    event.request = SimpleNamespace(AffectedSOPInstanceUID="1.2.3.4.5")
    status = node.scp._handle_store(event)
    assert status.Status == CANNOT_UNDERSTAND and "does not decode" in status.ErrorComment
    assert not list(node.workdir.incoming.iterdir())


def test_wrong_called_ae_title_is_refused(params_for, pacs, start_node):
    node = start_node(params_for(pacs.dest, quiet_seconds=60))
    ae = AE(ae_title="TESTSCU")
    ae.add_requested_context(CTImageStorage)
    assoc = ae.associate("127.0.0.1", node.port, ae_title="SOMEONEELSE")
    assert assoc.is_rejected


def test_concurrent_associations_all_store(tmp_path, pacs, params_for, start_node):
    node = start_node(params_for(pacs.dest, quiet_seconds=60, max_associations=4))
    series = [write_series(tmp_path / f"s{i}", seed=i) for i in range(4)]
    results: dict[int, list[int]] = {}
    barrier = threading.Barrier(4)

    def send(i: int) -> None:
        barrier.wait()
        results[i] = store(node.port, series[i].files)

    threads = [threading.Thread(target=send, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert all(results[i] == [0] * len(series[i].files) for i in range(4))
    folders = {f.parent.name for f in _incoming_files(node)}
    assert folders == {uid_key(s.series_uid) for s in series}
    assert len(_incoming_files(node)) == sum(len(s.files) for s in series)
    assert node.params.aet == NODE_AET

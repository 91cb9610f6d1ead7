"""The node against a real PACS: Orthanc sends a study to the node, the SR comes back into it.

Skipped only when the ``Orthanc`` binary is absent (Debian package ``orthanc``).
"""

from __future__ import annotations

import io
import shutil
from collections.abc import Iterator
from pathlib import Path

import pydicom
import pytest
from node_helpers import (
    NODE_AET,
    free_port,
    node_params,
    store,
    synthetic_series,
    tiny_model,
    wait_for,
    write_series,
)
from orthanc_server import ORTHANC, Orthanc

from pipeline.node.layout import WorkDir
from pipeline.node.outbox import Manifest
from pipeline.node.process import PredictProcessor
from pipeline.node.service import Node
from pipeline.node.sr import finding_summary, referenced_series

pytestmark = pytest.mark.skipif(ORTHANC is None, reason="Orthanc is not installed (apt-get "
                                                        "install orthanc)")


@pytest.fixture
def orthanc_and_node_port(tmp_path: Path) -> Iterator[tuple[Orthanc, int]]:
    node_port = free_port()
    server = Orthanc(tmp_path / "orthanc", free_port(), free_port(), NODE_AET, node_port).start()
    yield server, node_port
    server.stop()


def _srs_of(orthanc: Orthanc, study_id: str) -> list[pydicom.Dataset]:
    out = []
    for series in orthanc.series_of(study_id):
        if series["MainDicomTags"].get("Modality") == "SR":
            out += [pydicom.dcmread(io.BytesIO(orthanc.instance_file(i)))
                    for i in series["Instances"]]
    return out


def test_orthanc_sends_a_study_and_gets_back_the_sr_of_predict(tmp_path, orthanc_and_node_port,
                                                                caplog):
    orthanc, node_port = orthanc_and_node_port
    model = tiny_model(tmp_path / "model.onnx")
    series = synthetic_series(tmp_path / "scan")
    study_id = orthanc.upload(series.files)
    node = Node(node_params(tmp_path, orthanc.dest, port=node_port, model=str(model),
                            quiet_seconds=1.0))  # the default processing: predict, no candidates
    node.start()
    try:
        job = orthanc.send_to_node(study_id)
        assert job["InstancesCount"] == len(series.files) and job["FailedInstancesCount"] == 0
        assert node.wait_idle(180)
    finally:
        node.stop()

    [sr] = _srs_of(orthanc, study_id)
    assert sr.StudyInstanceUID == series.study_uid
    assert referenced_series(sr) == {series.series_uid}
    # predict run on the same files states the same findings
    local = tmp_path / "local"
    (local / "in").mkdir(parents=True)
    for f in series.files:
        shutil.copyfile(f, local / "in" / f"{f.name}.dcm")
    expected = PredictProcessor(model)(local / "in", local / "out")
    assert finding_summary(sr) == finding_summary(pydicom.dcmread(expected.sr_paths[0]))
    assert len(finding_summary(sr)) == expected.findings > 0
    health = [m for r in caplog.records if "from last instance to stored" in (m := r.getMessage())]
    assert len(health) == 1 and f"{expected.findings} finding(s)" in health[0]


def test_node_not_registered_in_orthanc_cannot_store_there(tmp_path, orthanc_and_node_port,
                                                           start_node):
    orthanc, node_port = orthanc_and_node_port
    stranger = node_params(tmp_path, orthanc.dest, aet="STRANGER", port=free_port(),
                           retry_initial_s=0.2, retry_max_s=0.2)
    node = start_node(stranger)
    series = write_series(tmp_path / "scan", n_slices=4)
    assert store(node.port, series.files, aet="STRANGER") == [0] * 4
    outbox = node.workdir.outbox

    def refused() -> bool:
        batches = WorkDir.batches(outbox)
        return bool(batches) and Manifest.read(outbox / batches[0]).attempts >= 2

    assert wait_for(refused)  # Orthanc refuses the association: the SR stays in the outbox
    assert "rejected" in Manifest.read(outbox / WorkDir.batches(outbox)[0]).last_error
    assert orthanc.get("/studies") == []

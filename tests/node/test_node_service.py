"""The node end to end with a test processor: series in, SR out, and nothing lost on the way."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pydicom
from node_helpers import FakePACS, RecordingProcessor, free_port, store, wait_for, write_series

from pipeline.node.layout import WorkDir
from pipeline.node.outbox import Manifest
from pipeline.node.sr import count_findings, referenced_series

REPO = Path(__file__).resolve().parents[2]


def test_received_series_comes_back_as_an_sr_citing_it(tmp_path, pacs, params_for, start_node,
                                                       caplog):
    node = start_node(params_for(pacs.dest))
    series = write_series(tmp_path / "s", n_slices=5)
    assert store(node.port, series.files) == [0] * 5
    assert node.wait_idle(20)
    [sr] = pacs.srs()
    assert sr.StudyInstanceUID == series.study_uid
    assert referenced_series(sr) == {series.series_uid}
    assert node.processor.calls == [(series.series_uid, 5)]
    health = [m for r in caplog.records if "from last instance to stored" in (m := r.getMessage())]
    assert len(health) == 1 and "1 finding(s)" in health[0] and pacs.dest in health[0]
    assert "DOE" not in caplog.text and "PAT-0001" not in caplog.text
    assert series.series_uid not in caplog.text
    wd = node.workdir
    assert not any(WorkDir.batches(d) for d in (wd.ready, wd.outbox, wd.work, wd.failed))


def _cited_instances(sr) -> int:
    evidence = sr.CurrentRequestedProcedureEvidenceSequence[0]
    return len(evidence.ReferencedSeriesSequence[0].ReferencedSOPSequence)


def test_restart_in_the_middle_of_a_study_loses_nothing(tmp_path, pacs, params_for, start_node):
    params = params_for(pacs.dest, quiet_seconds=1.0)
    first = start_node(params)
    series = [write_series(tmp_path / f"s{i}", n_slices=6, seed=i) for i in range(2)]
    # the study is half sent (three slices of series 1) when the node is stopped
    assert store(first.port, series[1].files[:3]) == [0] * 3
    first.stop(grace_s=1.0)
    assert first.inbox.pending() == 1 and not pacs.srs()

    second = start_node(params)
    assert store(second.port, series[1].files[3:] + series[0].files) == [0] * 9
    assert second.wait_idle(30)
    cited = sorted((next(iter(referenced_series(sr))), _cited_instances(sr)) for sr in pacs.srs())
    assert cited == sorted((s.series_uid, 6) for s in series)
    assert sorted(second.processor.calls) == sorted((s.series_uid, 6) for s in series)


def test_sealed_and_processed_work_is_taken_up_after_a_restart(tmp_path, params_for, start_node):
    dead = FakePACS()  # not started: every send fails
    params = params_for(dead.dest, quiet_seconds=0.3, workers=1)
    first = start_node(params, RecordingProcessor(delay_s=1.5))
    a, b = (write_series(tmp_path / f"s{i}", n_slices=4, seed=i) for i in range(2))
    store(first.port, a.files)
    assert wait_for(lambda: len(first.processor.calls) == 1)  # a is in hand
    store(first.port, b.files)
    assert wait_for(lambda: len(WorkDir.batches(first.workdir.ready)) == 2)  # b sealed, waiting
    first.stop(grace_s=1.0)  # finishes a (its result goes to the outbox), leaves b in ready/
    wd = first.workdir
    assert len(WorkDir.batches(wd.outbox)) == 1 and len(WorkDir.batches(wd.ready)) == 1

    dead.start()
    try:
        second = start_node(params)
        assert second.wait_idle(30)
        assert sorted(referenced_series(sr).pop() for sr in dead.srs()) == sorted(
            [a.series_uid, b.series_uid])
        assert [uid for uid, _ in second.processor.calls] == [b.series_uid]
    finally:
        dead.stop()


def test_failed_destination_keeps_the_result_and_sends_it_when_back(tmp_path, params_for,
                                                                    start_node, caplog):
    pacs = FakePACS()
    node = start_node(params_for(pacs.dest, retry_initial_s=0.2, retry_max_s=0.4))
    series = write_series(tmp_path / "s")
    store(node.port, series.files)
    outbox = node.workdir.outbox

    def retried() -> bool:
        batches = WorkDir.batches(outbox)
        return bool(batches) and Manifest.read(outbox / batches[0]).attempts >= 2

    assert wait_for(retried), "the result never reached the outbox or was not retried"
    [batch] = WorkDir.batches(outbox)
    manifest = Manifest.read(node.workdir.outbox / batch)
    assert manifest.sent == [] and "no association" in manifest.last_error
    assert "kept in the outbox" in caplog.text
    pacs.start()
    try:
        assert node.wait_idle(20)
        [sr] = pacs.srs()
        assert referenced_series(sr) == {series.series_uid}
        assert not WorkDir.batches(node.workdir.outbox)
    finally:
        pacs.stop()


def test_series_that_fails_processing_is_kept_and_the_node_goes_on(tmp_path, pacs, params_for,
                                                                  start_node, caplog):
    bad = write_series(tmp_path / "bad", n_slices=3, seed=1)
    good = write_series(tmp_path / "good", n_slices=4, seed=2)
    processor = RecordingProcessor(fail_when=lambda ds: len(ds) == 3)
    node = start_node(params_for(pacs.dest), processor)
    store(node.port, bad.files)
    store(node.port, good.files)
    assert node.wait_idle(20)
    assert [referenced_series(sr) for sr in pacs.srs()] == [{good.series_uid}]
    [failed] = WorkDir.batches(node.workdir.failed)
    folder = node.workdir.failed / failed
    assert len(WorkDir.instances(folder)) == 3
    assert "test processor refused" in (folder / "reason.txt").read_text()
    assert "processing failed" in caplog.text and node.failed == 1 and node.processed == 1


def test_keep_copies_archives_instances_and_results(tmp_path, pacs, params_for, start_node):
    node = start_node(params_for(pacs.dest, keep_copies=True))
    series = write_series(tmp_path / "s", n_slices=4)
    store(node.port, series.files)
    assert node.wait_idle(20)
    [batch] = WorkDir.batches(node.workdir.archive)
    archived = node.workdir.archive / batch
    assert len(WorkDir.instances(archived / "instances")) == 4
    [sr_copy] = WorkDir.instances(archived / "results")
    assert count_findings(sr_copy) == 1
    assert pydicom.dcmread(sr_copy).SOPInstanceUID == pacs.srs()[0].SOPInstanceUID


def test_more_sealed_series_than_the_queue_holds_all_get_processed(tmp_path, pacs, params_for,
                                                                   start_node):
    series = [write_series(tmp_path / f"s{i}", n_slices=3, seed=i) for i in range(5)]
    node = start_node(params_for(pacs.dest, queue_size=1, quiet_seconds=0.2),
                      RecordingProcessor(delay_s=0.2))
    for s in series:
        store(node.port, s.files)
    assert node.wait_idle(30)
    assert sorted(uid for uid, _ in node.processor.calls) == sorted(s.series_uid for s in series)
    assert len(pacs.srs()) == 5


def test_sigterm_stops_the_command_cleanly_and_keeps_what_arrived(tmp_path, pacs):
    model = tmp_path / "model.onnx"
    model.write_bytes(b"not used before a series is complete")
    port = free_port()
    workdir = tmp_path / "node"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO / "src"),
                                                        os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.Popen(
        [sys.executable, "-m", "pipeline.node.cli", "--aet", "LUNGNODE", "--port", str(port),
         "--host", "127.0.0.1", "--dest", pacs.dest, "--model", str(model), "--workdir",
         str(workdir), "--quiet-seconds", "60"], env=env, stderr=subprocess.PIPE, text=True)
    try:
        series = write_series(tmp_path / "s", n_slices=4)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                statuses = store(port, series.files)
                break
            except AssertionError:
                time.sleep(0.2)
        assert statuses == [0] * 4
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    assert "received SIGTERM" in err and "1 arriving" in err
    assert len(list((workdir / "incoming").glob("*/*.dcm"))) == 4

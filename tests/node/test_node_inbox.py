"""Sealing: a series moves to ready/ only after its quiet time and never while a write is open."""

from __future__ import annotations

import threading

from pipeline.node.inbox import Inbox
from pipeline.node.layout import WorkDir, redact_uids, uid_key


class Clock:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


def _inbox(tmp_path, quiet=10.0):
    wd = WorkDir(tmp_path / "node")
    wd.create()
    clock = Clock()
    return Inbox(wd, quiet, clock), wd, clock


def test_series_is_sealed_after_its_quiet_time_and_not_before(tmp_path):
    inbox, wd, clock = _inbox(tmp_path)
    inbox.store("1.2.3.4.5", "1.2.3.4.5.1", b"one")
    clock.t += 6
    inbox.store("1.2.3.4.5", "1.2.3.4.5.2", b"two")
    clock.t += 9.9
    assert inbox.seal_quiet() == []
    clock.t += 0.1
    [batch] = inbox.seal_quiet()
    assert batch.endswith(uid_key("1.2.3.4.5"))
    assert sorted(p.read_bytes() for p in WorkDir.instances(wd.ready / batch)) == [b"one", b"two"]
    assert not (wd.incoming / uid_key("1.2.3.4.5")).exists() and inbox.pending() == 0


def test_same_instance_sent_twice_is_kept_once(tmp_path):
    inbox, wd, clock = _inbox(tmp_path)
    inbox.store("1.2.3.4.5", "1.2.3.4.5.1", b"first")
    inbox.store("1.2.3.4.5", "1.2.3.4.5.1", b"again")
    clock.t += 10
    [batch] = inbox.seal_quiet()
    assert [p.read_bytes() for p in WorkDir.instances(wd.ready / batch)] == [b"again"]


def test_series_with_a_write_in_flight_is_not_sealed(tmp_path, monkeypatch):
    inbox, wd, clock = _inbox(tmp_path)
    entered, release = threading.Event(), threading.Event()
    import pipeline.node.inbox as inbox_module

    real_write = inbox_module.write_durably

    def slow_write(path, data):
        entered.set()
        release.wait(5)
        real_write(path, data)

    monkeypatch.setattr(inbox_module, "write_durably", slow_write)
    t = threading.Thread(target=inbox.store, args=("1.2.3.4.5", "1.2.3.4.5.9", b"late"))
    t.start()
    entered.wait(5)
    clock.t += 60
    assert inbox.seal_quiet() == []  # quiet by the clock, but a C-STORE is writing into it
    release.set()
    t.join(5)
    clock.t += 10
    [batch] = inbox.seal_quiet()
    assert [p.read_bytes() for p in WorkDir.instances(wd.ready / batch)] == [b"late"]


def test_series_left_arriving_by_a_previous_run_restarts_its_quiet_time(tmp_path):
    inbox, wd, clock = _inbox(tmp_path)
    inbox.store("1.2.3.4.5", "1.2.3.4.5.1", b"one")
    again, _, clock2 = _inbox(tmp_path)
    assert again.recover() == 1
    clock2.t += 9
    assert again.seal_quiet() == []
    clock2.t += 1
    assert len(again.seal_quiet()) == 1


def test_uids_are_redacted_from_messages_but_addresses_are_kept():
    text = "1.2.826.0.1.3680043.8.498.1: no usable series (PACS@127.0.0.1:4242)"
    assert redact_uids(text) == "<uid>: no usable series (PACS@127.0.0.1:4242)"

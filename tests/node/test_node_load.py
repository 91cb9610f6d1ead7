"""Load: 20 series sent back to back over several associations at once are all processed.

Completeness only; the throughput is printed by ``benchmarks/node_load.py``. The quiet time is
longer than in the other tests: under this load on two cores a pause of half a second between two
instances of one series happens, and would (correctly) split it into two batches.
"""

from __future__ import annotations

import threading

from node_helpers import RecordingProcessor, store, write_series

from pipeline.node.layout import WorkDir
from pipeline.node.sr import referenced_series

SERIES, ASSOCIATIONS = 20, 4


def test_twenty_series_from_four_associations_are_all_processed_none_lost(
        tmp_path, pacs, params_for, start_node):
    series = [write_series(tmp_path / f"s{i}", n_slices=4, size=16, seed=i)
              for i in range(SERIES)]
    node = start_node(params_for(pacs.dest, quiet_seconds=2.0, queue_size=4, workers=2,
                                 max_associations=ASSOCIATIONS), RecordingProcessor())
    statuses: list[int] = []
    lock = threading.Lock()

    def sender(k: int) -> None:
        files = [f for s in series[k::ASSOCIATIONS] for f in s.files]
        result = store(node.port, files)
        with lock:
            statuses.extend(result)

    threads = [threading.Thread(target=sender, args=(k,)) for k in range(ASSOCIATIONS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert statuses == [0] * sum(len(s.files) for s in series)
    assert node.wait_idle(120)
    cited = sorted(referenced_series(sr).pop() for sr in pacs.srs())
    assert cited == sorted(s.series_uid for s in series)
    assert sorted(node.processor.calls) == sorted((s.series_uid, 4) for s in series)
    wd = node.workdir
    assert not any(WorkDir.batches(d) for d in (wd.ready, wd.outbox, wd.failed))

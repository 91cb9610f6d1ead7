"""Load on the DICOM node: N series sent back to back over K associations at once, on localhost.

Baseline, in the same run: the same C-STOREs into a bare pynetdicom Storage SCP that keeps
nothing (the network and DIMSE floor). Measured: the node (durable writes, sealing after the
quiet time, processing, C-STORE of the result to a destination SCP). Printed: series/s and
instances/s of both, the node's processing throughput (first seal to last result stored, so the
quiet time is not counted) and the latency from a series' last instance to its result stored.

The sending side is pynetdicom's SCU, which bounds each association to ~15 C-STOREs/s on
localhost (Nagle's algorithm meets the delayed ACK; setting TCP_NODELAY on it trips a response
race in pynetdicom), so several associations are what load the node.

Processing is the real predict (``--model models/model.onnx``) or, without ``--model``, a
pass-through that returns no object (the node's own overhead). Usage:

    .venv/bin/python benchmarks/node_load.py [--series 20] [--associations 4] [--slices 8]
        [--size 64] [--quiet 2] [--workers 1] [--model models/model.onnx] [--profile tiny]
"""

from __future__ import annotations

import argparse
import logging
import socket
import statistics
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
from pydicom.uid import CTImageStorage, generate_uid
from pynetdicom import AE, AllStoragePresentationContexts, evt

from pipeline.imaging.geometry import Geometry
from pipeline.node.params import NodeParams
from pipeline.node.process import PredictProcessor, ProcessResult
from pipeline.node.service import Node
from pipeline.synth.dicom_writer import PatientIdentity, SeriesUIDs, write_ct_series

IDENTITY = PatientIdentity("BENCH^ONE", "B1", "19700101", "O", "050Y", "A1", "20240101", "120000",
                           "Bench", "Nowhere", "R^R", "P^P", "O^O", "ST1", "SN1")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def build(root: Path, n_series: int, n_slices: int, size: int) -> list[list[Path]]:
    rng = np.random.default_rng(0)
    out = []
    for s in range(n_series):
        uids = SeriesUIDs(generate_uid(), generate_uid(), generate_uid(),
                          tuple(generate_uid() for _ in range(n_slices)))
        volume = rng.normal(-600, 200, (n_slices, size, size))
        paths = [root / f"s{s:03d}" / f"IM{k:04d}" for k in range(n_slices)]
        out.append(write_ct_series(volume, Geometry((0, 0, 0), (0.7, 0.7, 1.25)), paths,
                                   IDENTITY, uids))
    return out


def build_synthetic(root: Path, n_series: int, profile: str) -> list[list[Path]]:
    """``n_series`` patients of the synthetic cohort (one plain series each)."""
    from pipeline.synth.cohort import generate_patient, plan_cohort
    from pipeline.synth.params import SynthesizeParams

    params = SynthesizeParams(
        seed=5, profile=profile, n_patients=n_series, nodules_per_patient=(1, 3),  # type: ignore[arg-type]
        nodule_diameter_mm=(8.0, 20.0), negatives_per_nodule=2.0, hard_negative_fraction=0.5,
        rle_fraction=0.0, implicit_vr_fraction=0.0, feet_first_fraction=0.0, prone_fraction=0.0,
        split_study_fraction=0.0, second_series_fraction=0.0, jobs=1)
    out = []
    for plan in plan_cohort(params, root):
        [record] = generate_patient(plan).series
        out.append([root / f for f in record.files])
    return out


def sink(port: int, aet: str) -> tuple[AE, list[int]]:
    """A Storage SCP that counts what it gets and keeps nothing."""
    count = [0]
    lock = threading.Lock()

    def on_store(event: evt.Event) -> int:
        event.encoded_dataset()
        with lock:
            count[0] += 1
        return 0x0000

    ae = AE(ae_title=aet)
    ae.maximum_associations = 16
    for cx in AllStoragePresentationContexts:
        ae.add_supported_context(str(cx.abstract_syntax))
    ae.start_server(("127.0.0.1", port), block=False, evt_handlers=[(evt.EVT_C_STORE, on_store)])
    return ae, count


def send_all(port: int, aet: str, series: list[list[Path]], k: int) -> float:
    """C-STORE every series, series i over association i % k, all k at once; seconds."""

    def one(j: int) -> None:
        ae = AE(ae_title="BENCHSCU")
        ae.add_requested_context(CTImageStorage)
        assoc = ae.associate("127.0.0.1", port, ae_title=aet)
        for files in series[j::k]:
            for f in files:
                assoc.send_c_store(f)
        assoc.release()

    t0 = time.perf_counter()
    threads = [threading.Thread(target=one, args=(j,)) for j in range(k)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return time.perf_counter() - t0


def passthrough(series_dir: Path, out_dir: Path) -> ProcessResult:
    return ProcessResult(sr_paths=())


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--series", type=int, default=20)
    p.add_argument("--associations", type=int, default=4)
    p.add_argument("--slices", type=int, default=8)
    p.add_argument("--size", type=int, default=64)
    p.add_argument("--quiet", type=float, default=2.0)
    p.add_argument("--workers", type=int, default=1)
    p.add_argument("--model", type=Path, default=None, help="run the real predict with this model")
    p.add_argument("--profile", choices=("tiny", "small"), default=None,
                   help="send synthetic chest CTs of this profile (default: noise slices)")
    args = p.parse_args()
    logging.basicConfig(level=logging.WARNING)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        series = (build_synthetic(root / "in", args.series, args.profile) if args.profile
                  else build(root / "in", args.series, args.slices, args.size))
        n_inst = sum(len(files) for files in series)

        floor_port = free_port()
        floor_ae, got = sink(floor_port, "FLOOR")
        floor_s = send_all(floor_port, "FLOOR", series, args.associations)
        floor_ae.shutdown()

        dest_port = free_port()
        dest_ae, stored = sink(dest_port, "DEST")
        params = NodeParams(aet="BENCHNODE", port=free_port(), dest=f"DEST@127.0.0.1:{dest_port}",
                            model=str(args.model or "unused.onnx"), workdir=str(root / "node"),
                            host="127.0.0.1", quiet_seconds=args.quiet, workers=args.workers,
                            max_associations=args.associations, queue_size=args.series)
        processor = PredictProcessor(args.model) if args.model else passthrough
        node = Node(params, processor)
        node.start()
        t0 = time.perf_counter()
        send_s = send_all(params.port, params.aet, series, args.associations)
        while node.inbox.pending() == args.series and time.perf_counter() - t0 < 600:
            time.sleep(0.01)
        first_seal = time.perf_counter()
        node.wait_idle(3600)
        total_s = time.perf_counter() - t0
        work_s = time.perf_counter() - first_seal
        node.stop()
        dest_ae.shutdown()
        lat = node.outbox.latencies_s
        shape = (f"{args.profile} synthetic chests" if args.profile
                 else f"{args.slices} slices of {args.size}^2")
        print(f"{args.series} series ({n_inst} instances, {shape}) over "
              f"{args.associations} associations, quiet {args.quiet:g} s, "
              f"processing: {'predict ' + str(args.model) if args.model else 'pass-through'}")
        print(f"  floor (bare SCP, keeps nothing): {n_inst / floor_s:8.1f} instances/s "
              f"({got[0]}/{n_inst} received)")
        print(f"  node receive:                    {n_inst / send_s:8.1f} instances/s "
              f"({n_inst / send_s / (n_inst / floor_s):.2f}x the floor)")
        print(f"  node end to end: {len(lat)}/{args.series} series delivered "
              f"({node.failed} failed), {args.series / total_s:.2f} series/s from first "
              f"instance, {args.series / work_s:.2f} series/s processing (after the first seal)")
        if lat:
            print(f"  last instance -> result stored: median {statistics.median(lat):.2f} s, "
                  f"max {max(lat):.2f} s (includes the {args.quiet:g} s quiet time); "
                  f"{stored[0]} object(s) stored at the destination")


if __name__ == "__main__":
    main()

"""Helpers for tests/node: tiny CT series, a test processor writing a real SR, SCUs, a fake PACS.

A uniquely named module (not conftest) so ``from node_helpers import ...`` never picks up another
directory's conftest.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import highdicom as hd
import numpy as np
import pydicom
from pydicom.dataset import Dataset
from pydicom.sr.codedict import codes
from pydicom.uid import CTImageStorage, generate_uid
from pynetdicom import AE, AllStoragePresentationContexts, evt

from pipeline.imaging.geometry import Geometry
from pipeline.node.params import NodeParams
from pipeline.node.process import ProcessResult
from pipeline.synth.dicom_writer import PatientIdentity, SeriesUIDs, write_ct_series

IDENTITY = PatientIdentity(
    patient_name="DOE^JANE", patient_id="PAT-0001", birth_date="19610203", sex="F", age="063Y",
    accession_number="ACC00012345", study_date="20240105", study_time="101500",
    institution_name="General Hospital", institution_address="1 Main Street",
    referring_physician="REF^DOC", performing_physician="PERF^DOC", operator_name="OP^ONE",
    station_name="CTSTATION1", device_serial="SN-998877",
)
PACS_AET = "FAKEPACS"
NODE_AET = "LUNGNODE"


def wait_for(condition: Callable[[], bool], timeout_s: float = 20.0) -> bool:
    """Poll ``condition`` until it holds or ``timeout_s`` passes; its last value."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return condition()


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass(frozen=True)
class Series:
    study_uid: str
    series_uid: str
    files: list[Path]


def write_series(folder: Path, n_slices: int = 6, size: int = 16, seed: int = 0,
                 study_uid: str | None = None) -> Series:
    """A small CT series (``n_slices`` of ``size``x``size``) with fresh UIDs, one file a slice."""
    rng = np.random.default_rng(seed)
    study = study_uid or generate_uid()
    uids = SeriesUIDs(study_uid=study, series_uid=generate_uid(),
                      frame_of_reference_uid=generate_uid(),
                      sop_instance_uids=tuple(generate_uid() for _ in range(n_slices)))
    volume = rng.normal(-700.0, 100.0, size=(n_slices, size, size))
    geometry = Geometry(origin=(-12.0, -12.0, -50.0), spacing=(1.5, 1.5, 2.5))
    paths = [folder / f"IM{k:04d}" for k in range(n_slices)]
    return Series(study, uids.series_uid, write_ct_series(volume, geometry, paths, IDENTITY, uids))


def findings_sr(instances: Sequence[Dataset], points_mm: Sequence[tuple[float, float, float]],
                out: Path) -> Path:
    """A TID 1500 Comprehensive 3D SR with one measurement group (a point) per finding."""
    ref = instances[0]
    groups = []
    for i, point in enumerate(points_mm, start=1):
        region = hd.sr.ImageRegion3D(graphic_type=hd.sr.GraphicTypeValues3D.POINT,
                                     graphic_data=np.array([point], dtype=float),
                                     frame_of_reference_uid=ref.FrameOfReferenceUID)
        groups.append(hd.sr.PlanarROIMeasurementsAndQualitativeEvaluations(
            tracking_identifier=hd.sr.TrackingIdentifier(uid=generate_uid(),
                                                         identifier=f"nodule {i}"),
            referenced_region=region, finding_type=codes.SCT.Nodule,
            measurements=[hd.sr.Measurement(name=codes.SCT.Diameter, value=5.0 + i,
                                            unit=codes.UCUM.Millimeter)]))
    observer = hd.sr.ObserverContext(
        observer_type=codes.DCM.Device,
        observer_identifying_attributes=hd.sr.DeviceObserverIdentifyingAttributes(
            uid=generate_uid(), name="test processor"))
    report = hd.sr.MeasurementReport(
        observation_context=hd.sr.ObservationContext(observer_device_context=observer),
        procedure_reported=codes.LN.CTUnspecifiedBodyRegion, imaging_measurements=groups)
    sr = hd.sr.Comprehensive3DSR(
        evidence=list(instances), content=report, series_instance_uid=generate_uid(),
        series_number=9901, sop_instance_uid=generate_uid(), instance_number=1,
        manufacturer="tests", is_complete=True, is_final=False)
    out.parent.mkdir(parents=True, exist_ok=True)
    sr.save_as(out, enforce_file_format=True)
    return out


@dataclass
class RecordingProcessor:
    """Writes a real findings SR for each series and records what it saw; can be told to fail."""

    points_mm: tuple[tuple[float, float, float], ...] = ((0.0, 0.0, -45.0),)
    fail_when: Callable[[list[Dataset]], bool] | None = None
    delay_s: float = 0.0
    calls: list[tuple[str, int]] = field(default_factory=list)  # (series uid, instances)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __call__(self, series_dir: Path, out_dir: Path) -> ProcessResult:
        instances = [pydicom.dcmread(p, stop_before_pixels=True)
                     for p in sorted(series_dir.glob("*.dcm"))]
        with self._lock:
            self.calls.append((str(instances[0].SeriesInstanceUID), len(instances)))
        if self.delay_s:
            time.sleep(self.delay_s)
        if self.fail_when is not None and self.fail_when(instances):
            raise RuntimeError("test processor refused the series")
        sr = findings_sr(instances, self.points_mm, out_dir / "sr.dcm")
        return ProcessResult(sr_paths=(sr,), findings=len(self.points_mm))


class FakePACS:
    """A Storage SCP standing in for the destination; can go down and come back."""

    def __init__(self, port: int | None = None, aet: str = PACS_AET) -> None:
        self.port = port or free_port()
        self.aet = aet
        self.received: list[Dataset] = []
        self._lock = threading.Lock()
        self._server = None

    def _store(self, event: evt.Event) -> int:
        ds = event.dataset
        ds.file_meta = event.file_meta
        with self._lock:
            self.received.append(ds)
        return 0x0000

    def start(self) -> FakePACS:
        ae = AE(ae_title=self.aet)
        for cx in AllStoragePresentationContexts:
            ae.add_supported_context(str(cx.abstract_syntax))
        self._server = ae.start_server(("127.0.0.1", self.port), block=False,
                                       evt_handlers=[(evt.EVT_C_STORE, self._store)])
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server = None

    @property
    def dest(self) -> str:
        return f"{self.aet}@127.0.0.1:{self.port}"

    def srs(self) -> list[Dataset]:
        with self._lock:
            return [ds for ds in self.received if ds.Modality == "SR"]


def store(port: int, files: Sequence[Path | Dataset], aet: str = NODE_AET,
          contexts: Sequence[str] = (CTImageStorage,)) -> list[int]:
    """C-STORE ``files`` to the node in one association; the status of each."""
    ae = AE(ae_title="TESTSCU")
    for sop in contexts:
        ae.add_requested_context(sop)
    assoc = ae.associate("127.0.0.1", port, ae_title=aet)
    assert assoc.is_established, "the node refused the association"
    try:
        return [int(assoc.send_c_store(f).Status) for f in files]
    finally:
        assoc.release()


def node_params(tmp_path: Path, dest: str, **kwargs: object) -> NodeParams:
    values: dict[str, object] = dict(aet=NODE_AET, port=free_port(), dest=dest,
                                     model=str(tmp_path / "model.onnx"),
                                     workdir=str(tmp_path / "node"), host="127.0.0.1",
                                     quiet_seconds=0.5, retry_initial_s=0.2, retry_max_s=1.0)
    values.update(kwargs)
    return NodeParams(**values)  # type: ignore[arg-type]




def synthetic_series(root: Path, profile: str = "tiny", seed: int = 7) -> Series:
    """One patient of the synthetic cohort (``profile``: tiny for tests, small is the default),
    plain Explicit VR, one series; its files as written (PACS-like names)."""
    from pipeline.synth.cohort import generate_patient, plan_cohort
    from pipeline.synth.params import SynthesizeParams

    params = SynthesizeParams(
        seed=seed, profile=profile, n_patients=1, nodules_per_patient=(2, 2),  # type: ignore[arg-type]
        nodule_diameter_mm=(10.0, 16.0), negatives_per_nodule=1.0, hard_negative_fraction=0.5,
        rle_fraction=0.0, implicit_vr_fraction=0.0, feet_first_fraction=0.0, prone_fraction=0.0,
        split_study_fraction=0.0, second_series_fraction=0.0, jobs=1)
    dicom = root / "dicom"
    [record] = generate_patient(plan_cohort(params, dicom)[0]).series
    files = [dicom / f for f in record.files]
    study = str(pydicom.dcmread(files[0], stop_before_pixels=True).StudyInstanceUID)
    return Series(study, record.series_uid, files)


def tiny_model(path: Path, mean_cutoff: float = 0.56, gain: float = 10.0) -> Path:
    """A tiny 3D "network" exported with the metadata predict reads (operating threshold 0.5).

    The cut-off suits the tiny synthetic scan of ``synthetic_series``: a few of its ~150 candidates
    are findings.
    """
    import torch
    from torch import nn

    from pipeline.data.inputs import model_inputs
    from pipeline.export.metadata import build_metadata
    from pipeline.export.onnx_export import EXPORTER, export_onnx

    preprocess = {"spacing_mm": 1.0, "cube_size": 12, "slice_px": 8,
                  "hu_window": [-1000.0, 400.0], "hu_range": [-1024.0, 3071.0],
                  "interpolator": "linear", "anti_alias": True, "axes": "zyx-LPS-ascending"}
    checkpoint = {"model_name": "tiny3d", "model_kwargs": {}, "input_kind": "cube3d",
                  "preprocess": preprocess, "train_params": {}, "data_hash": "md5:0",
                  "best_epoch": 1, "val_auc": 0.5}
    # the probability grows with the cube's mean intensity: tissue-filled blobs (nodules) score
    # above air-filled ones, so a synthetic scan gives a few findings, not all candidates
    net = nn.Sequential(nn.AdaptiveAvgPool3d(1), nn.Flatten(), nn.Linear(1, 2)).eval()
    with torch.no_grad():
        net[-1].weight.copy_(torch.tensor([[0.0], [gain]]))
        net[-1].bias.copy_(torch.tensor([0.0, -gain * mean_cutoff]))
    x = model_inputs(np.full((1, 12, 12, 12), -1000, np.int16), "cube3d", preprocess)
    path.write_bytes(export_onnx(net, x, 17, build_metadata(checkpoint, x.shape[1:], 0.5,
                                                            EXPORTER)))
    return path

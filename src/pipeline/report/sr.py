"""The findings of one series as a DICOM Comprehensive 3D SR, TID 1500 Measurement Report.

Each detection at or above the operating threshold is one TID 1410 Planar ROI Measurements
group (PS3.16 TID 1500 row 8) whose region is a SCOORD3D ``POINT`` at the candidate's centre, in
the frame of reference of the source series (PS3.3 C.18.9), with two measurements: the estimated
diameter (SCT 81827009 "Diameter", mm) and the model's nodule probability (a ``99LUNGPIPE`` code:
no standard concept exists for a classifier's output; unit UCUM ``1``). The evidence (PS3.3
C.17.2.3) lists every source instance, so a viewer can fetch the images the points lie in.

A series without findings still gets an SR that says so: TID 1500 needs at least one measurement
group (row 6 "Imaging Measurements" is mandatory and must not be empty), so the report holds one
TID 1501 Measurement and Qualitative Evaluation Group without a region: finding "Nodule" in the
lung, qualitative evaluation "Nodule" = "Absent" (SCT 272519000, CID 240 "Present-Absent"), by the
same algorithm. A reader tells the two apart with :func:`reports_no_nodule`.
Written with highdicom; the test suite validates both kinds with dciodvfy and reads them back.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import highdicom as hd
import numpy as np
import pydicom
from pydicom.sr.codedict import codes
from pydicom.sr.coding import Code
from pydicom.uid import generate_uid

PROBABILITY_CODE = Code("NODPROB", "99LUNGPIPE", "Nodule probability")
ALGORITHM_NAME = "lung-nodule-pipeline"
DIAMETER_CODE = codes.SCT.Diameter
ABSENT_CODE = codes.SCT.Absent
NO_NODULE_IDENTIFIER = "No lung nodule detected"


@dataclass(frozen=True)
class Finding:
    """One detection: world centre (mm, LPS), estimated diameter (mm) and probability."""

    center_mm: tuple[float, float, float]
    diameter_mm: float
    probability: float


def build_sr(source: Sequence[pydicom.Dataset], findings: Sequence[Finding], *,
             series_instance_uid: str, sop_instance_uid: str, series_number: int = 901,
             algorithm_version: str = "1", threshold: float | None = None
             ) -> hd.sr.Comprehensive3DSR:
    """A Comprehensive 3D SR of ``findings`` over the series whose headers are ``source``.

    Args:
        source: the series' instances (headers suffice: study, patient, frame of reference and
            SOP UIDs are read from them).
        findings: the detections to report (already filtered at the threshold).
        series_instance_uid, sop_instance_uid: UIDs of the new SR.
        threshold: the operating threshold, recorded in the series description.
    """
    if not source:
        raise ValueError("expected the source series' instances, got none")
    first = source[0]
    frame = str(first.FrameOfReferenceUID)
    algorithm = hd.sr.AlgorithmIdentification(name=ALGORITHM_NAME, version=algorithm_version)
    groups: list[hd.sr.PlanarROIMeasurementsAndQualitativeEvaluations
                 | hd.sr.MeasurementsAndQualitativeEvaluations] = []
    if not findings:
        groups.append(no_nodule_group(sop_instance_uid, algorithm))
    for k, f in enumerate(findings, start=1):
        region = hd.sr.ImageRegion3D(graphic_type=hd.sr.GraphicTypeValues3D.POINT,
                                     graphic_data=np.asarray([f.center_mm], dtype=np.float64),
                                     frame_of_reference_uid=frame)
        measurements = [
            hd.sr.Measurement(name=DIAMETER_CODE, value=round(float(f.diameter_mm), 2),
                              unit=codes.UCUM.Millimeter, algorithm_id=algorithm),
            hd.sr.Measurement(name=PROBABILITY_CODE, value=round(float(f.probability), 4),
                              unit=Code("1", "UCUM", "no units"), algorithm_id=algorithm),
        ]
        groups.append(hd.sr.PlanarROIMeasurementsAndQualitativeEvaluations(
            tracking_identifier=hd.sr.TrackingIdentifier(
                uid=generate_uid(entropy_srcs=[sop_instance_uid, "finding", str(k)]),
                identifier=f"Nodule candidate {k}"),
            referenced_region=region, finding_type=codes.SCT.Nodule,
            finding_sites=[hd.sr.FindingSite(anatomic_location=codes.SCT.Lung)],
            algorithm_id=algorithm, measurements=measurements))
    observer = hd.sr.ObserverContext(
        observer_type=codes.DCM.Device,
        observer_identifying_attributes=hd.sr.DeviceObserverIdentifyingAttributes(
            uid=generate_uid(entropy_srcs=[ALGORITHM_NAME, algorithm_version]),
            name=ALGORITHM_NAME))
    report = hd.sr.MeasurementReport(
        observation_context=hd.sr.ObservationContext(observer_device_context=observer),
        procedure_reported=codes.LN.CTUnspecifiedBodyRegion,
        imaging_measurements=groups,
        title=codes.DCM.ImagingMeasurementReport)
    description = ("Lung nodule candidates" + ("" if findings else ": none")
                   + (f" (p >= {threshold:.3f})" if threshold is not None else ""))
    return hd.sr.Comprehensive3DSR(
        evidence=list(source), content=report, series_instance_uid=series_instance_uid,
        series_number=series_number, sop_instance_uid=sop_instance_uid, instance_number=1,
        manufacturer=ALGORITHM_NAME, series_description=description[:64],
        is_complete=True, is_final=False, is_verified=False)


def no_nodule_group(sop_instance_uid: str, algorithm: hd.sr.AlgorithmIdentification
                    ) -> hd.sr.MeasurementsAndQualitativeEvaluations:
    """The TID 1501 group of a series without findings: "Nodule" = "Absent" in the lung."""
    return hd.sr.MeasurementsAndQualitativeEvaluations(
        tracking_identifier=hd.sr.TrackingIdentifier(
            uid=generate_uid(entropy_srcs=[sop_instance_uid, "no nodule"]),
            identifier=NO_NODULE_IDENTIFIER),
        finding_type=codes.SCT.Nodule,
        finding_sites=[hd.sr.FindingSite(anatomic_location=codes.SCT.Lung)],
        algorithm_id=algorithm,
        qualitative_evaluations=[hd.sr.QualitativeEvaluation(name=codes.SCT.Nodule,
                                                             value=ABSENT_CODE)])


def reports_no_nodule(sr: pydicom.Dataset) -> bool:
    """True when an SR written by :func:`build_sr` states that no nodule was detected."""
    doc = (sr if isinstance(sr, hd.sr.Comprehensive3DSR)
           else hd.sr.Comprehensive3DSR.from_dataset(sr))
    content: hd.sr.MeasurementReport = doc.content  # type: ignore[assignment]
    for group in content.get_image_measurement_groups(finding_type=codes.SCT.Nodule):
        for evaluation in group.get_qualitative_evaluations(name=codes.SCT.Nodule):
            if evaluation.value == ABSENT_CODE:
                return True
    return False


def read_findings(sr: pydicom.Dataset) -> list[Finding]:
    """The findings of an SR written by :func:`build_sr`, through highdicom's SR reading."""
    doc = (sr if isinstance(sr, hd.sr.Comprehensive3DSR)
           else hd.sr.Comprehensive3DSR.from_dataset(sr))
    content: hd.sr.MeasurementReport = doc.content  # type: ignore[assignment]
    out = []
    for group in content.get_planar_roi_measurement_groups():
        point = group.roi.value[0]  # type: ignore[union-attr]
        values = {m.name.value: float(m.value) for m in group.get_measurements()}
        out.append(Finding(center_mm=(float(point[0]), float(point[1]), float(point[2])),
                           diameter_mm=values[DIAMETER_CODE.value],
                           probability=values[PROBABILITY_CODE.value]))
    return out

"""Write a HU volume as a real CT Image Storage DICOM series (one file per slice) with pydicom.

Used by the synthetic cohort and by tests that need DICOM on disk. The files carry what a scanner
writes: patient, general study, general series, frame of reference, general equipment, image plane,
image pixel and CT image modules (PS3.3 A.3), with 12-bit stored values and a rescale to HU.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pydicom
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence as DicomSequence
from pydicom.uid import (
    PYDICOM_IMPLEMENTATION_UID,
    UID,
    CTImageStorage,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    RLELossless,
)

from pipeline.imaging.geometry import Geometry

RESCALE_INTERCEPT = -1024.0
STORED_MAX = 4095  # 12 bits stored
PRIVATE_CREATOR = "ACME CT PRIVATE 1.0"


@dataclass(frozen=True)
class PatientIdentity:
    """Everything identifying a synthetic scan carries in its headers (all fake)."""

    patient_name: str
    patient_id: str
    birth_date: str  # YYYYMMDD
    sex: str  # M | F | O
    age: str  # e.g. "063Y"
    accession_number: str
    study_date: str  # YYYYMMDD
    study_time: str  # HHMMSS
    institution_name: str
    institution_address: str
    referring_physician: str
    performing_physician: str
    operator_name: str
    station_name: str
    device_serial: str
    other_patient_ids: tuple[str, ...] = ()
    extra: dict[str, str] = field(default_factory=dict)  # more attributes, by DICOM keyword


@dataclass(frozen=True)
class SeriesUIDs:
    """The UIDs of one series; ``sop_instance_uids`` has one entry per slice."""

    study_uid: str
    series_uid: str
    frame_of_reference_uid: str
    sop_instance_uids: tuple[str, ...]


def stored_values(volume_hu: np.ndarray) -> np.ndarray:
    """HU -> 12-bit unsigned stored values (rounded, clipped to 0..4095)."""
    return np.clip(np.rint(volume_hu - RESCALE_INTERCEPT), 0, STORED_MAX).astype(np.uint16)


def _ds_number(value: float) -> str:
    """Format a float for a DS element (<= 16 characters, round-trips to 1e-6 mm)."""
    text = f"{value:.6f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def build_slice_dataset(
    pixels: np.ndarray,
    index: int,
    geometry: Geometry,
    identity: PatientIdentity,
    uids: SeriesUIDs,
    *,
    series_number: int = 1,
    instance_number: int | None = None,
    manufacturer: str = "ACME Medical",
    model_name: str = "Synthetica 64",
    kernel: str = "B30f",
    patient_position: str = "HFS",
) -> Dataset:
    """One CT Image Storage dataset for slice ``index`` of a volume with ``geometry``.

    ``pixels`` is the slice's ``(rows, columns)`` array of 12-bit stored values. The slice's
    ImagePositionPatient is ``geometry.index_to_world((0, 0, index))`` and ImageOrientationPatient
    the first two columns of the direction matrix (PS3.3 C.7.6.2).
    """
    ident = identity
    m = geometry.matrix
    position = geometry.index_to_world((0.0, 0.0, float(index)))
    sop_uid = uids.sop_instance_uids[index]

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = CTImageStorage
    meta.MediaStorageSOPInstanceUID = UID(sop_uid)
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    meta.ImplementationClassUID = PYDICOM_IMPLEMENTATION_UID
    meta.SourceApplicationEntityTitle = ident.station_name[:16]

    ds = Dataset()
    ds.file_meta = meta
    ds.SpecificCharacterSet = "ISO_IR 192"
    ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
    ds.InstanceCreationDate = ident.study_date
    ds.InstanceCreationTime = ident.study_time
    ds.SOPClassUID = CTImageStorage
    ds.SOPInstanceUID = sop_uid
    ds.StudyDate = ds.SeriesDate = ds.AcquisitionDate = ds.ContentDate = ident.study_date
    ds.StudyTime = ds.SeriesTime = ds.AcquisitionTime = ds.ContentTime = ident.study_time
    ds.AccessionNumber = ident.accession_number
    ds.Modality = "CT"
    ds.Manufacturer = manufacturer
    ds.InstitutionName = ident.institution_name
    ds.InstitutionAddress = ident.institution_address
    ds.ReferringPhysicianName = ident.referring_physician
    ds.StationName = ident.station_name
    ds.StudyDescription = "CT CHEST WITHOUT CONTRAST"
    ds.SeriesDescription = f"CHEST {kernel} {_ds_number(geometry.spacing[2])}mm"
    ds.PerformingPhysicianName = ident.performing_physician
    ds.OperatorsName = ident.operator_name
    ds.ManufacturerModelName = model_name
    ds.PatientName = ident.patient_name
    ds.PatientID = ident.patient_id
    ds.IssuerOfPatientID = ident.institution_name
    ds.PatientBirthDate = ident.birth_date
    ds.PatientSex = ident.sex
    ds.PatientAge = ident.age
    if ident.other_patient_ids:
        ds.OtherPatientIDsSequence = DicomSequence(
            [_other_id(pid, ident.institution_name) for pid in ident.other_patient_ids])
    ds.BodyPartExamined = "CHEST"
    ds.SliceThickness = _ds_number(geometry.spacing[2])
    ds.KVP = "120"
    ds.DeviceSerialNumber = ident.device_serial
    ds.SoftwareVersions = "SYN-2.4.1"
    ds.ProtocolName = "Thorax Routine"
    ds.ConvolutionKernel = kernel
    ds.PatientPosition = patient_position
    ds.StudyInstanceUID = uids.study_uid
    ds.SeriesInstanceUID = uids.series_uid
    ds.StudyID = ident.accession_number[-6:]
    ds.SeriesNumber = series_number
    ds.AcquisitionNumber = 1
    ds.InstanceNumber = index + 1 if instance_number is None else instance_number
    ds.ImagePositionPatient = [_ds_number(v) for v in position]
    ds.ImageOrientationPatient = [_ds_number(v) for v in (*m[:, 0], *m[:, 1])]
    ds.FrameOfReferenceUID = uids.frame_of_reference_uid
    ds.PositionReferenceIndicator = ""
    ds.SliceLocation = _ds_number(float(position @ m[:, 2]))
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.Rows, ds.Columns = (int(v) for v in pixels.shape)
    ds.PixelSpacing = [_ds_number(geometry.spacing[1]), _ds_number(geometry.spacing[0])]
    ds.BitsAllocated = 16
    ds.BitsStored = 12
    ds.HighBit = 11
    ds.PixelRepresentation = 0
    ds.WindowCenter = "-600"
    ds.WindowWidth = "1500"
    ds.RescaleIntercept = _ds_number(RESCALE_INTERCEPT)
    ds.RescaleSlope = "1"
    ds.RescaleType = "HU"
    ds.RequestAttributesSequence = DicomSequence([_request(ident)])
    for keyword, value in sorted(ident.extra.items()):  # e.g. PatientAddress, by keyword
        setattr(ds, keyword, value)
    block = ds.private_block(0x0009, PRIVATE_CREATOR, create=True)
    block.add_new(0x01, "LO", ident.patient_name)
    block.add_new(0x02, "LO", ident.patient_id)
    inner = Dataset()
    inner_block = inner.private_block(0x0011, PRIVATE_CREATOR, create=True)
    inner_block.add_new(0x01, "LO", ident.patient_name)
    inner_block.add_new(0x02, "DA", ident.birth_date)
    block.add_new(0x03, "SQ", DicomSequence([inner]))
    ds.PixelData = np.ascontiguousarray(pixels, dtype="<u2").tobytes()
    return ds


def restamp_slice(ds: Dataset, pixels: np.ndarray, index: int, geometry: Geometry,
                  uids: SeriesUIDs, instance_number: int | None = None) -> Dataset:
    """Turn a dataset from ``build_slice_dataset`` (same series) into slice ``index`` in place.

    Rewrites only what differs between slices (SOP Instance UID, InstanceNumber,
    ImagePositionPatient, SliceLocation, pixels) and resets the transfer syntax, so a series is
    written without rebuilding ~80 header elements per file; the bytes saved are the same as
    those of ``build_slice_dataset(pixels, index, ...)``.
    """
    m = geometry.matrix
    position = geometry.index_to_world((0.0, 0.0, float(index)))
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta.MediaStorageSOPInstanceUID = UID(uids.sop_instance_uids[index])
    ds.SOPInstanceUID = uids.sop_instance_uids[index]
    ds.InstanceNumber = index + 1 if instance_number is None else instance_number
    ds.ImagePositionPatient = [_ds_number(v) for v in position]
    ds.SliceLocation = _ds_number(float(position @ m[:, 2]))
    del ds.PixelData
    ds.PixelData = np.ascontiguousarray(pixels, dtype="<u2").tobytes()
    return ds


def _other_id(pid: str, issuer: str) -> Dataset:
    item = Dataset()
    item.PatientID = pid
    item.IssuerOfPatientID = issuer
    item.TypeOfPatientID = "TEXT"
    return item


def _request(ident: PatientIdentity) -> Dataset:
    item = Dataset()
    item.RequestedProcedureID = ident.accession_number
    item.ScheduledProcedureStepID = f"SPS{ident.accession_number[-5:]}"
    item.RequestedProcedureDescription = f"CT chest for {ident.patient_name.split('^')[0]}"
    return item


def save_dataset(ds: Dataset, path: Path, transfer_syntax: str = ExplicitVRLittleEndian) -> None:
    """Save ``ds`` to ``path`` in ``transfer_syntax`` (explicit/implicit VR LE or RLE Lossless)."""
    tsyntax = UID(transfer_syntax)
    if tsyntax == RLELossless:
        # keep the SOP Instance UID: compress() would otherwise mint a new random one
        ds.compress(RLELossless, encoding_plugin="pylibjpeg", generate_instance_uid=False)
    elif tsyntax not in (ExplicitVRLittleEndian, ImplicitVRLittleEndian):
        raise ValueError(f"unsupported transfer syntax for writing: {tsyntax.name}")
    else:
        ds.file_meta.TransferSyntaxUID = tsyntax
    path.parent.mkdir(parents=True, exist_ok=True)
    ds.save_as(path, enforce_file_format=True)


def write_ct_series(
    volume_hu: np.ndarray,
    geometry: Geometry,
    paths: Sequence[Path],
    identity: PatientIdentity,
    uids: SeriesUIDs,
    *,
    transfer_syntax: str = ExplicitVRLittleEndian,
    instance_numbers: Sequence[int] | None = None,
    **dataset_kwargs: object,
) -> list[Path]:
    """Write ``volume_hu`` ``(z, y, x)`` as one DICOM file per slice at ``paths[k]``.

    Slice ``k`` lies at ``geometry.index_to_world((0, 0, k))``. ``paths`` and ``instance_numbers``
    let the caller scatter files as a PACS export does (order and names unrelated to position).
    """
    if volume_hu.ndim != 3:
        raise ValueError(f"expected a (z, y, x) volume, got shape {volume_hu.shape}")
    if len(paths) != volume_hu.shape[0] or len(uids.sop_instance_uids) != volume_hu.shape[0]:
        raise ValueError(f"expected {volume_hu.shape[0]} paths and SOP UIDs, got {len(paths)} "
                         f"and {len(uids.sop_instance_uids)}")
    stored = stored_values(volume_hu)
    for k, path in enumerate(paths):
        number = None if instance_numbers is None else int(instance_numbers[k])
        ds = build_slice_dataset(stored[k], k, geometry, identity, uids,
                                 instance_number=number, **dataset_kwargs)  # type: ignore[arg-type]
        save_dataset(ds, Path(path), transfer_syntax)
    return [Path(p) for p in paths]


def read_back(path: Path) -> pydicom.Dataset:
    """Read one written file (headers and pixels), for tests and checks."""
    return pydicom.dcmread(path)

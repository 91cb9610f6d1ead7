"""Each action code applied to an element, recursion into sequences, private attributes."""

from __future__ import annotations

import pytest
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence

from conftest import TEST_KEY
from pipeline.dicom.deid.actions import DeidContext, deidentify_dataset
from pipeline.dicom.deid.dates import shift_da
from pipeline.dicom.deid.profile import Profile, ProfileOptions, build_profile, parse_safe_private
from pipeline.dicom.deid.pseudonyms import Pseudonymizer
from pipeline.dicom.deid.values import FoldedNeedles

CT_CLASS = "1.2.840.10008.5.1.4.1.1.2"


def context(actions: dict[int, str] | None = None, options: ProfileOptions | None = None,
            shift: int = 10) -> DeidContext:
    options = options or ProfileOptions(retain_longitudinal_modified_dates=True)
    profile = build_profile(options)
    if actions is not None:
        profile = Profile(actions, options, profile.safe_private, profile.safe_creators)
    return DeidContext(profile, Pseudonymizer(TEST_KEY), "PAT-TEST", shift)


def run(ds: Dataset, ctx: DeidContext) -> Dataset:
    deidentify_dataset(ds, ctx, top_level=False)
    return ds


@pytest.mark.parametrize("keyword, vr, value, dummy", [
    ("StationName", "SH", "ZEBCT07", "ANONYMIZED"),
    ("PerformedProcedureStepStartDate", "DA", "20240115", "19000101"),
    ("ExposureTime", "IS", "500", "0"),
    ("Rows", "US", 512, 0),
    ("RequestingPhysician", "PN", "Doe^John", "ANONYMOUS"),
])
def test_d_replaces_with_a_dummy_of_the_right_vr(keyword, vr, value, dummy):
    ds = Dataset()
    setattr(ds, keyword, value)
    tag = ds.data_element(keyword).tag
    run(ds, context({tag: "D"}))
    assert (ds[tag].VR, ds[tag].value) == (vr, dummy)


def test_z_empties_the_value():
    ds = Dataset()
    ds.AccessionNumber = "ACC1"
    ds.ReferencedStudySequence = Sequence([Dataset()])
    run(ds, context({0x00080050: "Z", 0x00081110: "Z"}))
    assert ds["AccessionNumber"].is_empty and len(ds.ReferencedStudySequence) == 0


def test_x_removes_the_element():
    ds = Dataset()
    ds.InstitutionName = "Sankt Zebulon"
    run(ds, context({0x00080080: "X"}))
    assert "InstitutionName" not in ds


def test_k_keeps_the_value_but_processes_sequence_items():
    ds = Dataset()
    item = Dataset()
    item.PatientName = "Doe^Jane"
    ds.Manufacturer = "ACME"
    ds.ReferencedInstanceSequence = Sequence([item])
    run(ds, context({0x00080070: "K", 0x0008114A: "K", 0x00100010: "D"}))
    assert ds.Manufacturer == "ACME"
    assert ds.ReferencedInstanceSequence[0].PatientName == "PAT-TEST"


def test_c_shifts_dates_and_keeps_times():
    ds = Dataset()
    ds.StudyDate = "20240115"
    ds.AcquisitionDateTime = "20240115093012.5+0100"
    ds.StudyTime = "093012"
    run(ds, context({0x00080020: "C", 0x0008002A: "C", 0x00080030: "C"}, shift=20))
    assert ds.StudyDate == "20231226"
    assert ds.AcquisitionDateTime == "20231226093012.5+0100"
    assert ds.StudyTime == "093012"


@pytest.mark.filterwarnings("ignore:Invalid value for VR DA")
def test_c_empties_a_date_it_cannot_shift():
    ds = Dataset()
    ds.add_new(0x00080020, "DA", "2024.01.15")  # legacy ACR-NEMA form: no safe shift
    run(ds, context({0x00080020: "C"}))
    assert ds["StudyDate"].is_empty


def test_u_maps_instance_uids_and_keeps_registered_ones():
    ds = Dataset()
    ds.SOPInstanceUID = "1.2.3.4.5"
    ds.SOPClassUID = CT_CLASS
    ds.FrameOfReferenceUID = CT_CLASS  # a registered UID in a U attribute stays as is
    run(ds, context({0x00080018: "U", 0x00080016: "K", 0x00200052: "U"}))
    assert ds.SOPInstanceUID == Pseudonymizer(TEST_KEY).uid("1.2.3.4.5")
    assert ds.SOPClassUID == CT_CLASS and ds.FrameOfReferenceUID == CT_CLASS


def test_patient_name_and_id_get_the_pseudonym():
    ds = Dataset()
    ds.PatientName = "Müller^Hans"
    ds.PatientID = "PID1"
    run(ds, context())
    assert ds.PatientName == "PAT-TEST" and ds.PatientID == "PAT-TEST"


def test_unlisted_elements_are_removed_unless_known_safe():
    ds = Dataset()
    ds.add_new(0x00142006, "PN", "Doe^John")  # EvaluatorName: not in Table E.1-1
    ds.add_new(0x00187050, "CS", "SOLID")  # FilterMaterial: unlisted, not known safe
    ds.add_new(0x00181160, "SH", "WEDGE1")  # FilterType: CT Image module, known safe
    ds.add_new(0x00080041, "LO", "Doe study subset")  # DataSetSubtype: unlisted free text
    ds.add_new(0x00431010, "US", 7)  # unknown even-group element
    ds.add_new(0x00180050, "DS", "2.5")  # SliceThickness: Image Plane, known safe
    ds.add_new(0x00091001, "UN", b"Doe^John")  # UN element
    run(ds, context())
    assert ds[0x00142006].value == "ANONYMOUS"
    assert ds[0x00181160].value == "WEDGE1" and ds[0x00180050].value == 2.5
    for tag in (0x00187050, 0x00080041, 0x00431010, 0x00091001):
        assert tag not in ds, hex(tag)


def test_identity_copied_into_kept_text_is_emptied():
    ds = Dataset()
    ds.ConvolutionKernel = "PID4711999"
    ds.SoftwareVersions = "v1 OTHERID5521"
    ds.WindowCenterWidthExplanation = "for Hans Müller"
    ds.Manufacturer = "mueller medical"
    ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
    ctx = context()
    ctx.set_identity(FoldedNeedles.build(["PID4711999", "OTHERID5521", "Müller", "Hans"]))
    run(ds, ctx)
    for kw in ("ConvolutionKernel", "SoftwareVersions", "WindowCenterWidthExplanation",
               "Manufacturer"):
        assert ds[kw].value in ("", None), kw
    assert list(ds.ImageType) == ["ORIGINAL", "PRIMARY", "AXIAL"]
    assert ctx.counts["identity_emptied"] == 4


def test_padding_elements_are_removed_at_every_level():
    ds = Dataset()
    item = Dataset()
    item.add_new(0xFFFCFFFC, "OB", b"PADDING Doe")
    item.ReferencedSOPClassUID = "1.2.840.10008.5.1.4.1.1.2"
    ds.ReferencedInstanceSequence = [item]
    run(ds, context())
    assert 0xFFFCFFFC not in ds.ReferencedInstanceSequence[0]


def test_private_attributes_removed_unless_allow_listed():
    ds = Dataset()
    ds.private_block(0x0029, "KEEP ME", create=True).add_new(0x01, "LO", "kept")
    ds.private_block(0x0029, "KEEP ME").add_new(0x02, "LO", "dropped")
    ds.private_block(0x0031, "OTHER", create=True).add_new(0x01, "LO", "dropped")
    options = ProfileOptions(safe_private=(parse_safe_private("0029,xx01:KEEP ME"),))
    run(ds, context(options=options))
    block = ds.private_block(0x0029, "KEEP ME")
    assert block[0x01].value == "kept" and block.get_tag(0x02) not in ds
    assert not any(elem.tag.group == 0x0031 for elem in ds)


def test_overlay_and_curve_groups_are_removed():
    ds = Dataset()
    ds.add_new(0x60000010, "US", 8)
    ds.add_new(0x60023000, "OW", b"\0\0")
    ds.add_new(0x50000005, "US", 1)
    run(ds, context())
    assert len(ds) == 0


def test_shift_da_moves_back_by_whole_days():
    assert shift_da("20240301", 1) == "20240229"
    assert shift_da("2024030", 1) is None and shift_da("20241301", 1) is None

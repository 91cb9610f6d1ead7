"""Scanner profiles and vendor tables of the synthetic cohort, kept as data.

A profile says how big the scans of a cohort are: image size, pixel and slice spacing, the field
of view that must hold the chest, and the cranio-caudal extent scanned. ``small`` keeps the whole
default pipeline to minutes on two CPU cores (a slab of chest through the lungs); ``tiny`` is a
thin, coarse slab for smoke tests and CI; ``realistic``
is what a clinical chest CT looks like (512x512, a whole adult chest).
"""

from __future__ import annotations

from dataclasses import dataclass

from pipeline.errors import ConfigError


@dataclass(frozen=True)
class ScannerProfile:
    """Ranges the per-patient scan geometry is drawn from (all lengths in mm)."""

    name: str
    rows_choices: tuple[int, ...]
    pixel_spacing_mm: tuple[float, float]
    fov_mm: tuple[float, float]
    slice_spacing_choices_mm: tuple[float, ...]
    z_extent_mm: tuple[float, float]
    whole_chest: bool  # True: apex to below the diaphragm; False: a slab through the lungs


PROFILES: dict[str, ScannerProfile] = {
    "small": ScannerProfile(
        name="small",
        rows_choices=(128, 144, 160, 176, 192),
        pixel_spacing_mm=(1.5, 2.5),
        fov_mm=(300.0, 340.0),
        slice_spacing_choices_mm=(1.25, 1.5, 2.0, 2.5, 3.0),
        z_extent_mm=(120.0, 170.0),
        whole_chest=False,
    ),
    # smoke tests and CI: a thin slab of coarse slices, so `dvc repro` end to end takes seconds
    "tiny": ScannerProfile(
        name="tiny",
        rows_choices=(80, 96),
        pixel_spacing_mm=(3.2, 4.0),
        fov_mm=(300.0, 340.0),
        slice_spacing_choices_mm=(2.5, 3.0),
        z_extent_mm=(50.0, 60.0),
        whole_chest=False,
    ),
    "realistic": ScannerProfile(
        name="realistic",
        rows_choices=(512,),
        pixel_spacing_mm=(0.6, 0.9),
        fov_mm=(320.0, 460.0),
        slice_spacing_choices_mm=(0.625, 0.8, 1.0, 1.25, 2.0, 2.5),
        z_extent_mm=(280.0, 340.0),
        whole_chest=True,
    ),
}


@dataclass(frozen=True)
class Kernel:
    """A reconstruction kernel: its name on the console, in-plane blur and noise multiplier."""

    name: str
    fwhm_mm: float
    noise_factor: float


@dataclass(frozen=True)
class Vendor:
    manufacturer: str
    model_name: str
    kernels: tuple[Kernel, Kernel, Kernel]  # soft, medium, sharp


VENDORS: tuple[Vendor, ...] = (
    Vendor("SIEMENS", "SOMATOM Definition AS+",
           (Kernel("B31f", 1.6, 1.0), Kernel("B45f", 1.2, 1.3), Kernel("B70f", 0.8, 1.8))),
    Vendor("GE MEDICAL SYSTEMS", "LightSpeed VCT",
           (Kernel("STANDARD", 1.6, 1.0), Kernel("LUNG", 1.1, 1.4), Kernel("BONE", 0.8, 1.8))),
    Vendor("Philips", "Brilliance 64",
           (Kernel("B", 1.6, 1.0), Kernel("C", 1.2, 1.3), Kernel("L", 0.9, 1.7))),
    Vendor("TOSHIBA", "Aquilion ONE",
           (Kernel("FC07", 1.6, 1.0), Kernel("FC51", 1.1, 1.4), Kernel("FC56", 0.8, 1.8))),
)


@dataclass(frozen=True)
class Orientation:
    """How a patient lies and how the scanner writes the image plane and the slice order.

    ``iop`` is ImageOrientationPatient (PS3.3 C.7.6.2.1.1) for that PatientPosition (C.7.3.1.1.2);
    ``instances_head_first`` says whether InstanceNumber 1 is the most cranial slice.
    """

    patient_position: str
    iop: tuple[float, float, float, float, float, float]
    instances_head_first: bool


ORIENTATIONS: dict[str, Orientation] = {
    "HFS": Orientation("HFS", (1.0, 0.0, 0.0, 0.0, 1.0, 0.0), True),
    "FFS": Orientation("FFS", (-1.0, 0.0, 0.0, 0.0, 1.0, 0.0), False),
    "HFP": Orientation("HFP", (-1.0, 0.0, 0.0, 0.0, -1.0, 0.0), True),
    "FFP": Orientation("FFP", (1.0, 0.0, 0.0, 0.0, -1.0, 0.0), False),
}


def get_profile(name: str) -> ScannerProfile:
    """The profile called ``name``, or ConfigError listing the known ones."""
    if name not in PROFILES:
        raise ConfigError(f"synthesize.profile must be one of {sorted(PROFILES)}, got {name!r}")
    return PROFILES[name]

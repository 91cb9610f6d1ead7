"""Both scanner profiles give the geometry they promise."""

from __future__ import annotations

import pytest
from synth_helpers import tiny_params

from pipeline.errors import ConfigError
from pipeline.parallel import ExecutorParams
from pipeline.synth.cohort import synthesize_cohort
from pipeline.synth.profiles import get_profile


def test_realistic_profile_writes_512_square_sub_millimetre_slices(tmp_path):
    params = tiny_params(profile="realistic", n_patients=1, second_series_fraction=0.0)
    result = synthesize_cohort(tmp_path / "real", params, ExecutorParams(jobs=1),
                               z_extent_mm=4.0, keep_volumes=True)
    series = result.patients[0].series[0]
    assert series.volume_hu.shape[1:] == (512, 512)
    assert 0.6 <= series.geometry.spacing[0] <= 0.9
    assert series.geometry.spacing[0] == series.geometry.spacing[1]
    assert 0.625 <= series.geometry.spacing[2] <= 2.5


def test_small_profile_fits_the_chest_in_128_to_192_pixels(tiny_cohort):
    _, result = tiny_cohort
    for patient in result.patients:
        for series in patient.series:
            nx, ny, _ = series.grid.size
            assert nx == ny and 128 <= nx <= 192
            assert 1.5 <= series.geometry.spacing[0] <= 2.5
            half_fov = nx * series.geometry.spacing[0] / 2
            assert patient.anatomy.body_a_mm < half_fov


def test_unknown_profile_is_rejected_with_the_known_ones():
    with pytest.raises(ConfigError, match="realistic"):
        get_profile("huge")

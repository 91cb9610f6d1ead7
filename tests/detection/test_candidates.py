"""generate_candidates on the tiny chest: nodules found, vessels not, world mm out."""

import numpy as np
import pandas as pd
from detection_phantoms import GGO, JUXTAPLEURAL, SOLID, chest, phantom_params

from pipeline.detection.candidates import CANDIDATE_COLUMNS, generate_candidates


def _nearest(table: pd.DataFrame, point) -> tuple[float, pd.Series]:
    d = np.linalg.norm(table[["coordX", "coordY", "coordZ"]].to_numpy() - np.asarray(point), axis=1)
    return float(d.min()), table.iloc[int(d.argmin())]


def test_solid_ground_glass_and_juxtapleural_nodules_are_found_near_their_centres():
    hu, geo = chest()
    table = generate_candidates(hu, geo, phantom_params(), "1.2.3")
    assert list(table.columns[:6]) == CANDIDATE_COLUMNS
    for point, diameter, density in ((SOLID, 8, "solid"), (GGO, 10, "subsolid"),
                                     (JUXTAPLEURAL, 8, "solid")):
        dist, row = _nearest(table, point)
        assert dist < diameter / 4, (point, dist)
        assert row["density"] == density
        assert 0.5 * diameter <= row["diameter_mm"] <= 1.5 * diameter
    assert (table["seriesuid"] == "1.2.3").all()


def test_a_vessel_alone_gives_no_candidate_on_its_axis():
    hu, geo = chest(nodules=False)
    table = generate_candidates(hu, geo, phantom_params())
    on_vessel = np.hypot(table["coordX"] - 32.0, table["coordZ"] - 8.0) < 3.0
    # only the vessel's ends (cut by the lung wall) may look like blobs
    inner = on_vessel & (table["coordY"].abs() < 20)
    assert not inner.any(), table[inner]


def test_juxtapleural_nodule_is_lost_without_the_closing():
    hu, geo = chest()
    closed = generate_candidates(hu, geo, phantom_params())
    open_ = generate_candidates(hu, geo, phantom_params(lung_closing_mm=0.0))
    assert _nearest(closed, JUXTAPLEURAL)[0] < 2.0
    assert _nearest(open_, JUXTAPLEURAL)[0] > 2.0


def test_candidates_are_sorted_by_score_and_capped():
    hu, geo = chest()
    table = generate_candidates(hu, geo, phantom_params(max_candidates=2))
    assert len(table) == 2
    assert table["score"].is_monotonic_decreasing


def test_world_coordinates_do_not_depend_on_the_direction_matrix():
    hu, geo = chest()
    # the same world content on a grid whose x index runs the other way
    flipped = hu[:, :, ::-1]
    geo_f = type(geo)(origin=(geo.origin[0] + 127.0, geo.origin[1], geo.origin[2]),
                      spacing=geo.spacing, direction=(-1, 0, 0, 0, 1, 0, 0, 0, 1))
    a = generate_candidates(hu, geo, phantom_params())
    b = generate_candidates(np.ascontiguousarray(flipped), geo_f, phantom_params())
    assert _nearest(b, SOLID)[0] < 2.0
    assert abs(_nearest(a, SOLID)[0] - _nearest(b, SOLID)[0]) < 1.0


def test_volume_without_lungs_gives_an_empty_table():
    hu = np.full((10, 20, 20), 40.0, dtype=np.float32)
    _, geo = chest(nodules=False)
    table = generate_candidates(hu, geo, phantom_params())
    assert table.empty and list(table.columns[:6]) == CANDIDATE_COLUMNS

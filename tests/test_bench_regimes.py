"""``bench/general_regimes.py``: the surface brightness at the grid nodes and the statistics over bright light."""
import numpy as np
import pytest


@pytest.fixture(scope="module")
def regimes():
    from conftest import load_bench

    return load_bench("general_regimes")


def _unit_inputs(surf, sigma, qobs):
    weight = 2 * np.pi * surf * qobs * sigma**2
    return dict(ln_sigma=np.log(sigma)[None], qobs=qobs[None], weight=weight[None])


def test_relative_surface_is_the_mge_surface_brightness_over_the_mean_inside_r_e(regimes):
    from fastjam.physics.mge import MGE

    rng = np.random.default_rng(3)
    surf, sigma, qobs = rng.uniform(0.1, 2, 6), rng.uniform(0.05, 3, 6), rng.uniform(0.2, 1, 6)
    x, y = rng.uniform(0, 2.5, 40), rng.uniform(0, 2.5, 40)
    l_tot = np.sum(2 * np.pi * surf * qobs * sigma**2)
    # in units of L_tot and R_e = 1: Sigma_e = L_tot / (2 pi)
    expect = MGE(surf, sigma, qobs).surface_brightness(x, y) / (l_tot / (2 * np.pi))
    got = regimes.relative_surface(_unit_inputs(surf / l_tot, sigma, qobs), x, y)
    assert got.shape == (1, 40)
    np.testing.assert_allclose(got[0], expect, rtol=1e-12)


def test_statistics_over_bright_light_drop_errors_planted_in_faint_light(regimes):
    from fastjam.emulator.general_evaluate import error_stats

    rng = np.random.default_rng(4)
    e = rng.normal(0, 0.001, (400, 300))
    surface = np.tile(np.geomspace(1e-4, 10, 300), (400, 1))
    faint = surface < 0.01
    e[:40] += np.where(faint[:40], 0.05, 0.0)  # a tenth of the maps err by 5% in faint light only
    rows = regimes.brighter_than(e, surface, thresholds=(0.0, 0.01))
    every, bright = rows
    stats = error_stats(e)
    for key in ("pixel_median", "pixel_p99", "map_max_p95", "map_bias_p95"):
        assert every[key] == pytest.approx(stats[key])
    assert every["node_share"] == 1.0 and bright["node_share"] == pytest.approx(1 - faint[0].mean())
    assert every["map_max_p95"] > 0.04 and bright["map_max_p95"] < 0.005
    assert bright["map_bias_p95"] < 0.5 * every["map_bias_p95"]


def test_weighted_percentile_matches_repeated_values(regimes):
    rng = np.random.default_rng(5)
    values, counts = rng.normal(size=300), rng.integers(1, 5, 300)
    repeated = np.repeat(values, counts)
    for q in (5, 50, 99):
        assert regimes.weighted_percentile(values, q, counts) == np.percentile(repeated, q, method="inverted_cdf")


def test_area_weighted_statistics_see_the_outer_field_not_the_dense_centre(regimes):
    from fastjam.physics import grid

    x, y = grid.polar_grid()
    r = np.hypot(x, y).ravel()
    e = np.tile(np.where(r < 0.1, 0.01, 0.001), (20, 1))  # 1% inside 0.1 R_e (41% of the nodes), 0.1% beyond
    stats = regimes.area_weighted(e)
    assert stats["pixel_median"] == pytest.approx(0.001)
    assert stats["pixel_p99"] == pytest.approx(0.001)  # the centre is 0.1% of the area
    assert stats["map_bias_p95"] == pytest.approx(0.001, rel=0.02)
    assert np.mean(e[0]) > 0.004  # the node mean, by contrast

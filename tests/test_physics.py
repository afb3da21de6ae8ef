import numpy as np
import pytest
from scipy.special import gammainc

from fastjam.physics import (
    beta_z_max,
    inclination_from_qintr,
    mge_fidelity,
    min_inclination,
    qintr_from_inclination,
    sersic_b,
    sersic_mge,
    sersic_total_luminosity,
    to_dimensionless,
    to_physical,
    velocity_scale,
)
from fastjam.physics import grid


def test_sersic_b_defines_half_light():
    for n in [1.0, 2.5, 4.0, 8.0]:
        assert gammainc(2 * n, sersic_b(n)) == pytest.approx(0.5, abs=1e-12)
    assert sersic_b(4.0) == pytest.approx(7.669, abs=1e-3)  # de Vaucouleurs


def test_sersic_total_luminosity_matches_numerical_integral():
    n, q = 3.0, 0.6
    r = np.geomspace(1e-6, 1e4, 200001)
    prof = np.exp(-sersic_b(n) * r ** (1 / n))
    numeric = np.trapezoid(2 * np.pi * q * r * prof, r)
    assert sersic_total_luminosity(n, q) == pytest.approx(numeric, rel=1e-6)


@pytest.mark.parametrize("n", [1.0, 1.3, 2.0, 3.0, 4.0, 5.5, 8.0])
def test_mge_matches_sersic_to_one_percent(n):
    fid = mge_fidelity(n)
    assert fid.max_rel_error < 0.01
    assert 0.95 < fid.light_fraction < 1.001


def test_sersic_mge_units():
    mge = sersic_mge(4.0, 0.7, r_e=5.0, l_tot=2e10, distance=20.0)
    assert np.all(mge.qobs == 0.7)
    # MGE light equals the analytic total up to the light beyond the outermost Gaussian
    assert mge.total_luminosity(20.0) == pytest.approx(2e10 * mge_fidelity(4.0).light_fraction, rel=1e-9)
    # profile follows the Sérsic shape in arcsec
    r = np.array([0.5, 5.0, 20.0])
    ratio = mge.surface_brightness(r, 0 * r) / np.exp(-sersic_b(4.0) * (r / 5.0) ** 0.25)
    assert np.ptp(ratio) / ratio.mean() < 0.01


def test_geometry_round_trip(rng):
    q_obs = rng.uniform(0.3, 0.99, 100)
    q_intr = rng.uniform(0.05, 1, 100) * q_obs
    q_intr = np.maximum(q_intr, 0.05)
    inc = inclination_from_qintr(q_obs, q_intr)
    assert np.all(inc >= min_inclination(q_obs) - 1e-9)
    np.testing.assert_allclose(qintr_from_inclination(q_obs, inc), q_intr, rtol=1e-9, atol=1e-12)
    # projection formula q_obs^2 = q^2 sin^2 i + cos^2 i
    rad = np.radians(inc)
    np.testing.assert_allclose(q_intr**2 * np.sin(rad) ** 2 + np.cos(rad) ** 2, q_obs**2, rtol=1e-12)


def test_min_inclination_and_beta_bound():
    assert min_inclination(1.0) == pytest.approx(0.0, abs=1e-12)
    assert qintr_from_inclination(0.5, min_inclination(0.5)) == pytest.approx(0.05, abs=1e-9)
    assert min_inclination(0.5) > np.degrees(np.arccos(0.5))
    assert beta_z_max(0.3) == pytest.approx(0.7 * 0.7)


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: qintr_from_inclination(0.5, 50.0), "below the minimum"),
        (lambda: qintr_from_inclination(1.2, 60.0), "q_obs"),
        (lambda: qintr_from_inclination(0.0, 60.0), "q_obs"),
        (lambda: qintr_from_inclination(np.nan, 60.0), "finite"),
        (lambda: inclination_from_qintr(0.5, 0.6), "q_intr must be <= q_obs"),
        (lambda: inclination_from_qintr(0.5, 0.01), "q_intr"),
        (lambda: sersic_mge(12.0, 0.5), "sersic n"),
        (lambda: sersic_mge(4.0, 0.5, r_e=-1.0), "R_e"),
        (lambda: velocity_scale(-1.0, 1e10, 1.0, 10.0), "M/L"),
    ],
)
def test_bad_input_raises_value_error(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_scaling_round_trip():
    f = np.linspace(0.1, 0.5, 12).reshape(3, 4)
    v = to_physical(f, np.array([1.0, 2.0, 4.0]), 1e10, 3.0, 20.0)
    np.testing.assert_allclose((v / f)[1] / (v / f)[0], np.sqrt(2))
    np.testing.assert_allclose((v / f)[2] / (v / f)[0], 2.0)
    np.testing.assert_allclose(to_dimensionless(v, np.array([1.0, 2.0, 4.0]), 1e10, 3.0, 20.0), f)
    # sqrt(G M / R): 1e10 Msun at 1 kpc is 207.4 km/s
    r_e_arcsec = 1000.0 / (20.0 * np.pi / 0.648)
    assert velocity_scale(1.0, 1e10, r_e_arcsec, 20.0) == pytest.approx(207.39, rel=1e-4)


def test_grid_interpolation_is_exact_on_nodes_and_linear_functions():
    x, y = grid.polar_grid()
    maps = np.stack([np.hypot(x, y), np.arctan2(y, x)])
    out = grid.interpolate_map(maps, x.ravel(), y.ravel())
    np.testing.assert_allclose(out[0], np.hypot(x, y).ravel(), rtol=1e-10)
    # symmetric in x -> -x and y -> -y
    np.testing.assert_allclose(grid.interpolate_map(maps, -x.ravel(), -y.ravel()), out)
    assert grid.inside_field(2.5, -2.5) and not grid.inside_field(2.6, 0.0)


def test_node_areas_integrate_over_the_field_quadrant():
    x, y = grid.polar_grid()
    area = grid.node_areas()
    half = grid.FIELD_HALF
    assert area.shape == x.shape and np.all(area > 0)
    # the quadrant's area and second moment, to the trapezoid rule's accuracy on this grid
    assert area.sum() == pytest.approx(half**2, rel=5e-3)
    assert np.sum(area * x**2) == pytest.approx(half**4 / 3, rel=2e-2)
    assert np.sum(area * x * y) == pytest.approx(half**4 / 4, rel=2e-2)
    # the dense centre covers almost none of it
    assert area[np.hypot(x, y) < 0.1].sum() / area.sum() < 0.005

"""The fixed-rule line-of-sight quadrature: against jampy's integrand integrated to 1e-12, against
jampy's own answer, one quadrature for both linear terms, and jampy restored after use."""
import numpy as np
import pytest

from fastjam import jampy_los
from fastjam.jam import JAMSettings, jam_linear_terms, jam_vrms
from fastjam.jampy_los import fixed_rule_los, los_linear_terms, tanh_sinh_rule
from fastjam.physics.mge import MGE

jam_axi_proj = pytest.importorskip("jampy.axi.jam_axi_proj")

# A bulge + disk: 12 Gaussians from 0.05 to 40 arcsec, q_obs from 0.95 down to 0.15 (a thin outer disk,
# seen at i >= 82 deg); QOBS_45 is a rounder one that can be seen at 45 deg.
SIGMA = np.geomspace(0.05, 40.0, 12)
QOBS = np.linspace(0.95, 0.15, 12)
QOBS_45 = np.linspace(0.97, 0.75, 12)
SURF = 1e4 * SIGMA**-1.5


def intrinsic(inclination_deg, qobs=QOBS):
    """jampy's deprojection (Cappellari 2008, eqs. 12-14): central density, sigma, intrinsic q."""
    inc = np.radians(inclination_deg)
    q = np.sqrt(qobs**2 - np.cos(inc) ** 2) / np.sin(inc)
    if not np.all(np.isfinite(q) & (q > 0.05)):
        raise ValueError(f"this MGE cannot be seen at {inclination_deg} deg")
    return SURF * qobs / (SIGMA * q * np.sqrt(2 * np.pi)), SIGMA, q


@pytest.mark.parametrize("peak, rtol", [(1e4, 1e-8), (1e6, 1e-4)])
def test_tanh_sinh_rule_integrates_endpoint_peaks(peak, rtol):
    """u^2 exp(-X u^2): the integrand's shape at u -> 0 for a point X^(1/2) mass-Gaussian widths out."""
    u, one_minus_u, w = tanh_sinh_rule(128)
    np.testing.assert_allclose(one_minus_u, 1 - u, atol=1e-15)
    assert np.sum(w) == pytest.approx(1.0, rel=1e-12)
    assert np.sum(w * u**2 * np.exp(-peak * u**2)) == pytest.approx(np.sqrt(np.pi) / 4 / peak**1.5, rel=rtol)


@pytest.mark.parametrize("inclination, qobs", [(45.0, QOBS_45), (85.0, QOBS)])
def test_both_terms_equal_jampys_integrand_integrated_to_1e12(inclination, qobs):
    from jampy.util.quad1d import quad1d

    dens, sigma, q = intrinsic(inclination, qobs)
    inc = np.radians(inclination)
    rng = np.random.default_rng(3)
    x = np.concatenate([[0.01, 60.0], rng.uniform(0.05, 50, 4)])  # inner, far out on compact Gaussians
    y = np.concatenate([[0.01, 1.0], rng.uniform(0.0, 20, 4)])
    i0, i1 = los_linear_terms(x, y, inc, dens, sigma, q, dens, sigma, q, n_nodes=128)
    for beta in (0.0, -0.5, 0.4):
        got = i0 + i1 / (1 - beta)
        ref = [quad1d(jam_axi_proj.integrand_cyl_los, [0.0, 1.0], singular=1, epsrel=1e-12,
                      args=(dens, sigma, q, dens, sigma, q, xj, yj, inc, np.full(12, beta), "zz")).integ
               for xj, yj in zip(x, y)]
        assert np.all(np.asarray(ref) > 0)
        np.testing.assert_allclose(got, ref, rtol=1e-6)


def test_jam_with_fixed_rule_equals_jampy_and_integrates_once(monkeypatch):
    """Two jampy calls of one galaxy: one quadrature; V_RMS as jampy's own to its 1e-5 tolerance."""
    mge = MGE(SURF, SIGMA, QOBS)
    rng = np.random.default_rng(8)
    x, y = rng.uniform(-15, 15, 40), rng.uniform(-15, 15, 40)
    fixed = JAMSettings(nrad=20, nang=10, los_nodes=128)
    jampy_settings = JAMSettings(nrad=20, nang=10)
    calls = []
    real = jampy_los.los_linear_terms

    def spy(*args, **kw):
        calls.append(1)
        return real(*args, **kw)

    monkeypatch.setattr(jampy_los, "los_linear_terms", spy)
    a, b = jam_linear_terms(mge, 85.0, 20.0, 0.3, 0.4, x, y, fixed)
    assert len(calls) == 1
    a0, b0 = jam_linear_terms(mge, 85.0, 20.0, 0.3, 0.4, x, y, jampy_settings)
    assert len(calls) == 1  # jampy's quadrature: the fixed rule untouched
    for beta in (0.0, -0.5, 0.5):
        np.testing.assert_allclose(a + b / (1 - beta), a0 + b0 / (1 - beta), rtol=1e-4)
    vrms = jam_vrms(mge, 85.0, 0.2, 1.0, 20.0, 0.3, 0.4, x, y, fixed)
    np.testing.assert_allclose(vrms**2, a + b / 0.8, rtol=1e-10)
    assert len(calls) == 2


def test_another_galaxy_in_the_same_block_is_integrated_again():
    mge = MGE(SURF, SIGMA, QOBS)
    other = MGE(SURF, SIGMA * 1.3, QOBS)
    x, y = np.array([1.0, 5.0, 10.0]), np.array([0.5, 2.0, 0.0])
    settings = JAMSettings(nrad=20, nang=10, los_nodes=96)
    with fixed_rule_los(96):
        one = jam_vrms(mge, 85.0, 0.0, 1.0, 20.0, 0.3, 0.4, x, y, settings)
        two = jam_vrms(other, 85.0, 0.0, 1.0, 20.0, 0.3, 0.4, x, y, settings)
    np.testing.assert_allclose(two, jam_vrms(other, 85.0, 0.0, 1.0, 20.0, 0.3, 0.4, x, y,
                                             JAMSettings(nrad=20, nang=10)), rtol=1e-4)
    assert np.all(np.abs(one / two - 1) > 1e-3)


def test_other_moments_and_anisotropy_per_gaussian_go_to_jampy():
    dens, sigma, q = intrinsic(85.0)
    x, y = np.array([1.0, 4.0]), np.array([0.5, 1.0])
    inc = np.radians(85.0)
    original = jam_axi_proj.surf_v2los_cyl
    varying = np.linspace(-0.2, 0.2, 12)
    with fixed_rule_los(128):
        assert jam_axi_proj.surf_v2los_cyl is not original
        got_beta = jam_axi_proj.surf_v2los_cyl(x, y, inc, dens, sigma, q, dens, sigma, q, varying, "zz")
        got_xx = jam_axi_proj.surf_v2los_cyl(x, y, inc, dens, sigma, q, dens, sigma, q, np.zeros(12), "xx")
    np.testing.assert_array_equal(got_beta, original(x, y, inc, dens, sigma, q, dens, sigma, q, varying, "zz"))
    np.testing.assert_array_equal(got_xx, original(x, y, inc, dens, sigma, q, dens, sigma, q, np.zeros(12), "xx"))


def test_jampy_restored_after_nesting_and_errors():
    original = jam_axi_proj.surf_v2los_cyl
    with fixed_rule_los(128):
        patched = jam_axi_proj.surf_v2los_cyl
        with fixed_rule_los(128):
            assert jam_axi_proj.surf_v2los_cyl is patched
        with pytest.raises(ValueError, match="already replaced"):
            with fixed_rule_los(64):
                pass
        assert jam_axi_proj.surf_v2los_cyl is patched
    assert jam_axi_proj.surf_v2los_cyl is original
    with pytest.raises(RuntimeError, match="inside"):
        with fixed_rule_los(128):
            raise RuntimeError("inside")
    assert jam_axi_proj.surf_v2los_cyl is original
    with fixed_rule_los(0):
        assert jam_axi_proj.surf_v2los_cyl is original


@pytest.mark.parametrize("nodes", [1, 31])
def test_too_few_nodes_rejected(nodes):
    with pytest.raises(ValueError, match=f"los_nodes = {nodes}"):
        JAMSettings(los_nodes=nodes)
    with pytest.raises(ValueError, match=f"n_nodes = {nodes}"):
        los_linear_terms(np.ones(1), np.ones(1), 1.0, *intrinsic(85.0), *intrinsic(85.0), n_nodes=nodes)


def test_settings_record_the_rule_only_when_set():
    """Sets and caches made with jampy's quadrature keep matching the default settings."""
    assert "los_nodes" not in JAMSettings().as_dict()
    assert JAMSettings(los_nodes=128).as_dict()["los_nodes"] == 128
    assert JAMSettings(**JAMSettings(los_nodes=128).as_dict()) == JAMSettings(los_nodes=128)

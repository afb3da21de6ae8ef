"""The JAM forward model against direct jampy calls, and the scaling law against jampy itself."""
import numpy as np
import pytest

from fastjam.galaxy import Galaxy, Sersic
from fastjam.jam import JAMModel, JAMSettings, dimensionless_map
from fastjam.physics import MGE, velocity_scale

# Cheap but converged-enough settings: the comparisons are exact whatever the settings.
FAST = JAMSettings(nrad=20, nang=10)


@pytest.fixture(scope="module")
def galaxy():
    return Galaxy(Sersic(n=3.0, r_e=4.0, q_obs=0.6, l_tot=3e10), distance=20.0, sigma_psf=0.8, pixsize=0.5)


@pytest.fixture(scope="module")
def positions():
    rng = np.random.default_rng(3)
    return rng.uniform(-8, 8, 40), rng.uniform(-8, 8, 40)


def test_wrapper_equals_direct_jampy_call(galaxy, positions):
    import jampy

    x, y = positions
    model = JAMModel(FAST).vrms(galaxy, [70.0, 85.0], [0.1, 0.2], [2.0, 3.0], x, y)
    mge = galaxy.mge
    for k, (inc, beta, ml) in enumerate([(70.0, 0.1, 2.0), (85.0, 0.2, 3.0)]):
        direct = jampy.axi.proj(
            mge.surf, mge.sigma, mge.qobs, mge.surf, mge.sigma, mge.qobs, inc, 0.0, 20.0, x, y,
            align="cyl", moment="zz", beta=np.full(mge.surf.size, beta), ml=ml, sigmapsf=0.8, pixsize=0.5,
            nrad=20, nang=10, plot=False, quiet=True,
        ).model
        np.testing.assert_allclose(model[k], direct, rtol=1e-12)
    assert model.shape == (2, 40)
    assert np.all((model > 50) & (model < 1000))


def test_user_mge_gives_same_answer_as_sersic(galaxy, positions):
    x, y = positions
    mge = galaxy.mge
    g2 = Galaxy(MGE(mge.surf, mge.sigma, mge.qobs), 20.0, 0.8, 0.5)
    a = JAMModel(FAST).vrms(galaxy, 70.0, 0.1, 2.0, x, y)
    b = JAMModel(FAST).vrms(g2, 70.0, 0.1, 2.0, x, y)
    np.testing.assert_array_equal(a, b)


def test_scaling_law_against_jampy(galaxy, positions):
    """V_RMS = sqrt(G (M/L) L / (R_e D)) f(x/R_e, ...), exact when PSF, pixel and positions scale with R_e."""
    x, y = positions
    ph = galaxy.photometry
    base = JAMModel(FAST).vrms(galaxy, 75.0, 0.15, 2.5, x, y)[0]
    f = base / velocity_scale(2.5, ph.l_tot, ph.r_e, galaxy.distance)
    for ml, l_tot, dist, s in [(2.5, 3e10, 20.0, 1.0), (0.7, 3e10, 20.0, 1.0), (2.5, 7e9, 20.0, 1.0),
                               (2.5, 3e10, 55.0, 1.0), (2.5, 3e10, 20.0, 2.7), (1.3, 1e11, 8.0, 0.37)]:
        g = Galaxy(Sersic(ph.n, ph.r_e * s, ph.q_obs, l_tot), dist, galaxy.sigma_psf * s, galaxy.pixsize * s)
        v = JAMModel(FAST).vrms(g, 75.0, 0.15, ml, x * s, y * s)[0]
        np.testing.assert_allclose(v, f * velocity_scale(ml, l_tot, ph.r_e * s, dist), rtol=1e-6)
    # and through dimensionless_map, which works in units of R_e
    f2 = dimensionless_map(ph.n, ph.q_obs, 75.0, 0.15, galaxy.sigma_psf / ph.r_e, galaxy.pixsize / ph.r_e, FAST,
                           x=x / ph.r_e, y=y / ph.r_e)
    np.testing.assert_allclose(f2, f, rtol=1e-6)


def test_scaling_law_breaks_when_psf_does_not_scale(galaxy, positions):
    """Sanity check of the test above: a PSF that does not scale with R_e changes f."""
    x, y = positions
    ph = galaxy.photometry
    f1 = JAMModel(FAST).vrms(galaxy, 75.0, 0.15, 1.0, x, y)[0] / velocity_scale(1.0, ph.l_tot, ph.r_e, 20.0)
    g = Galaxy(Sersic(ph.n, ph.r_e * 2, ph.q_obs, ph.l_tot), 20.0, galaxy.sigma_psf, galaxy.pixsize)
    f2 = JAMModel(FAST).vrms(g, 75.0, 0.15, 1.0, 2 * x, 2 * y)[0] / velocity_scale(1.0, ph.l_tot, 2 * ph.r_e, 20.0)
    assert np.max(np.abs(f2 / f1 - 1)) > 1e-3


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(inclination=40.0), "inclination"),  # below the minimum for q_obs = 0.6
        (dict(inclination=95.0), "inclination"),
        (dict(beta_z=1.0), "beta_z"),
        (dict(beta_z=np.nan), "beta_z"),
        (dict(ml=0.0), "M/L"),
        (dict(x=[1.0, 2.0], y=[1.0]), "mismatched"),
        (dict(x=[np.inf], y=[1.0]), "x"),
    ],
)
def test_forward_model_bad_input(galaxy, kwargs, match):
    args = dict(inclination=70.0, beta_z=0.1, ml=1.0, x=[1.0], y=[1.0])
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        JAMModel(FAST).vrms(galaxy, **args)


@pytest.mark.parametrize(
    "make, match",
    [
        (lambda: Galaxy(Sersic(3.0, 4.0, 0.6, 1e10), 20.0, 0.8, 0.0), "pixsize"),
        (lambda: Galaxy(Sersic(3.0, 4.0, 0.6, 1e10), 20.0, 0.0, 0.5), "sigma_psf"),
        (lambda: Galaxy(Sersic(3.0, 4.0, 1.5, 1e10), 20.0, 0.8, 0.5), "q_obs"),
        (lambda: Galaxy(Sersic(3.0, 4.0, 0.6, 1e10), -1.0, 0.8, 0.5), "distance"),
        (lambda: MGE([1.0, 2.0], [1.0], [0.5, 0.5]), "mismatched lengths"),
        (lambda: MGE([1.0], [1.0], [0.0]), "qobs"),
        (lambda: JAMSettings(nrad=2), "coarse"),
    ],
)
def test_galaxy_bad_input(make, match):
    with pytest.raises(ValueError, match=match):
        make()

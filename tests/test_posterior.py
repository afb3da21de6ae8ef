"""The posterior object: one log-density for JAM and the emulator, the way back to physical
parameters, padding, and one compilation for galaxies of the same size."""
import pickle

import numpy as np
import pytest

from fastjam.galaxy import Galaxy, Sersic
from fastjam.jam import JAMModel, JAMSettings
from fastjam.model import Likelihood, Priors
from fastjam.posterior import Posterior

CHEAP = JAMSettings(nrad=10, nang=6)


def _galaxy(n=3.0, q_obs=0.7, r_e=6.0):
    return Galaxy(Sersic(n, r_e, q_obs, 3e10), 20.0, 0.6, 0.6)


def _emulator_posterior(emulator, galaxy, p, seed):
    import jax.numpy as jnp

    rng = np.random.default_rng(seed)
    x, y = rng.uniform(-2.4, 2.4, (2, p)) * galaxy.photometry.r_e
    model = emulator.bind(galaxy, x, y)
    vrms = np.asarray(model(70.0, 0.1, 3.0)) * (1 + 0.02 * rng.standard_normal(p))
    lik = Likelihood(jnp.asarray(vrms), jnp.full(p, 5.0), jnp.full(p, 0.01), 1.0)
    priors = Priors(galaxy.q_obs, (0.5, 15.0)).within_emulator(emulator.space)
    return Posterior(priors, lik, model, galaxy.total_luminosity)


def test_to_physical_inverts_from_physical_and_derives_q_intr_and_mass():
    from fastjam.physics import qintr_from_inclination

    galaxy = _galaxy()
    post = Posterior(Priors(0.7, (0.5, 15.0)), None, None, galaxy.total_luminosity)
    theta = post.from_physical(np.array([60.0, 80.0]), np.array([0.1, -0.1]), np.array([2.0, 7.0]))
    p = post.to_physical(theta)
    np.testing.assert_allclose(p["inclination"], [60.0, 80.0])
    np.testing.assert_allclose(p["ml"], [2.0, 7.0])
    np.testing.assert_allclose(p["q_intr"], qintr_from_inclination(0.7, np.array([60.0, 80.0])))
    np.testing.assert_allclose(10 ** p["log10_mass"], p["ml"] * 3e10)


def test_jam_posterior_is_picklable_and_rejects_failures(monkeypatch):
    import fastjam.jam as jam

    galaxy = _galaxy()
    x, y = np.array([1.0, 3.0, -2.0]), np.array([0.5, -1.0, 2.0])
    model = JAMModel(CHEAP).bind(galaxy, x, y)
    v = model(70.0, 0.1, 3.0)
    post = Posterior(Priors(0.7, (0.5, 15.0)), Likelihood(v, np.full(3, 5.0), np.zeros(3)), model,
                     galaxy.total_luminosity)
    theta = post.from_physical(70.0, 0.1, 3.0)
    value = post(theta)
    assert np.isfinite(value)
    assert pickle.loads(pickle.dumps(post))(theta) == pytest.approx(value, rel=1e-12)
    assert post(np.array([np.nan, 0.0, 0.0])) == -np.inf

    def failing(*args, **kwargs):
        raise RuntimeError("no convergence")

    monkeypatch.setattr(jam, "jam_vrms", failing)
    assert post(theta) == -np.inf


def test_bind_validates_once():
    with pytest.raises(ValueError, match="mismatched lengths"):
        JAMModel(CHEAP).bind(_galaxy(), np.zeros(3), np.zeros(2))
    with pytest.raises(ValueError, match="Galaxy"):
        JAMModel(CHEAP).bind("NGC 4697", np.zeros(3), np.zeros(3))
    model = JAMModel(CHEAP).bind(_galaxy(), np.ones(3), np.ones(3))
    with pytest.raises(ValueError, match="inclination"):
        model(20.0, 0.0, 1.0)


def test_padding_keeps_the_density_and_galaxies_share_one_compilation(random_emulator):
    """Two galaxies with different bin counts, padded to one bucket: the padded log-density, its
    gradient and the model at the data bins equal the unpadded ones, and the batched density is
    compiled once for both."""
    from fastjam.emulator.jax_model import bucket_size
    from fastjam.posterior import _batched

    posts = [_emulator_posterior(random_emulator, _galaxy(), 50, 1),
             _emulator_posterior(random_emulator, _galaxy(5.0, 0.5, 9.0), 61, 2)]
    size = bucket_size(61)
    assert size == 64 and bucket_size(50) == 64
    theta = np.stack([p.from_physical(75.0, 0.05, 2.5) for p in posts])
    before = _batched()._cache_size()
    values = []
    for post, t in zip(posts, theta):
        padded = post.padded(size)
        v = np.asarray(padded.batched_log_density()(np.stack([t, t + 0.1])))
        np.testing.assert_allclose(v[0], float(post.log_density(t)), rtol=1e-5)
        values.append(v)
    post, padded, t = posts[0], posts[0].padded(size), theta[0]
    (lp, grad), (lp0, grad0) = padded.value_and_grad()(t), post.value_and_grad()(t)
    np.testing.assert_allclose([lp, *grad], [lp0, *grad0], rtol=1e-4, atol=1e-3)
    assert padded.n_bins == post.n_bins == post.likelihood.vrms.size == 50
    np.testing.assert_allclose(padded.vrms(75.0, 0.05, 2.5), post.vrms(75.0, 0.05, 2.5), rtol=1e-6)
    draws = padded.vrms_draws(np.array([70.0, 80.0]), np.array([0.0, 0.1]), np.array([2.0, 3.0]))
    np.testing.assert_allclose(draws[1], post.vrms(80.0, 0.1, 3.0), rtol=1e-6)
    np.testing.assert_array_equal(padded.likelihood.unpadded().vrms, post.likelihood.vrms)
    assert _batched()._cache_size() - before <= 1
    assert not np.allclose(values[0], values[1])
    with pytest.raises(ValueError, match="cannot pad"):
        posts[1].padded(32)
    with pytest.raises(ValueError, match="exceed the largest bucket"):
        bucket_size(10**6)

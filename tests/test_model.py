"""Priors, reparametrisation and likelihood; the samplers tested statistically with fixed seeds."""
import numpy as np
import pytest
from scipy import stats

from fastjam.model import Likelihood, Priors
from fastjam.posterior import Posterior
from fastjam.physics import beta_z_max, qintr_from_inclination


@pytest.fixture
def priors():
    return Priors(q_obs=0.6, ml_range=(0.5, 12.0))


def _uniform_theta(rng, n):
    s = rng.uniform(size=(n, 3))
    return np.log(s) - np.log1p(-s), np.sum(np.log(s * (1 - s)), 1)


@pytest.mark.parametrize("kw", [dict(), dict(ml_log_uniform=False), dict(isotropic=False), dict(beta_z_min=-0.5)])
def test_prior_times_jacobian_is_normalised(rng, kw):
    """Integral over theta of prior(transform(theta)) |J| = 1 (importance sampling, 4-sigma tolerance)."""
    p = Priors(q_obs=0.6, ml_range=(0.5, 12.0), **kw)
    theta, log_q = _uniform_theta(rng, 200_000)
    inc, beta, ml, log_jac = p.transform(theta)
    w = np.exp(p.log_prob(inc, beta, ml) + log_jac - log_q)
    assert abs(w.mean() - 1) < 4 * w.std() / np.sqrt(w.size)


def test_transform_respects_the_constraints_and_inverts(priors, rng):
    theta = rng.normal(0, 3, (5000, 3))
    inc, beta, ml, _ = priors.transform(theta)
    assert np.all((inc >= priors.inclination_min) & (inc <= 90))
    assert np.all(beta <= beta_z_max(qintr_from_inclination(0.6, inc)) + 1e-12)
    assert np.all((beta >= priors.beta_z_min) & (ml >= 0.5) & (ml <= 12.0))
    np.testing.assert_allclose(priors.inverse(inc, beta, ml), theta, atol=1e-6)


def test_priors_clip_to_the_emulator_domain():
    from fastjam.design import ParameterSpace

    p = Priors(q_obs=0.6, beta_z_min=-0.6).within_emulator(ParameterSpace())
    assert p.beta_z_min == ParameterSpace().beta_z_min


@pytest.mark.parametrize("kw, match", [(dict(ml_range=(2.0, 1.0)), "min < max"), (dict(ml_range=(0.0, 1.0)), "M/L"),
                                       (dict(beta_z_min=0.9), "beta_z_min"), (dict(q_intr_min=0.7), "q_intr_min")])
def test_bad_priors(kw, match):
    with pytest.raises(ValueError, match=match):
        Priors(q_obs=0.6, **kw)


def test_likelihood_is_gaussian():
    lik = Likelihood(np.array([100.0, 200.0]), np.array([3.0, 4.0]), np.array([0.01, 0.02]), systematic=2.0)
    model = np.array([103.0, 190.0])
    var = np.array([9 + 1.03**2 + 4, 16 + 3.8**2 + 4])
    expect = np.sum(stats.norm.logpdf([100.0, 200.0], model, np.sqrt(var)))
    assert lik.log_like(model) == pytest.approx(expect, rel=1e-12)


def test_coherent_error_likelihood_is_the_multivariate_normal(rng):
    """The Sherman-Morrison marginal of a common factor (1 + s), s ~ N(0, c^2), equals the
    multivariate normal with covariance diag(var) + c^2 m m^T, for numpy and JAX alike."""
    import jax.numpy as jnp

    for _ in range(5):
        p = int(rng.integers(2, 30))
        err, frac, sys_, c = rng.uniform(1, 10, p), rng.uniform(0, 0.05, p), rng.uniform(0, 3), rng.uniform(0.001, 0.3)
        data = rng.uniform(50, 300, p)
        models = rng.uniform(50, 300, (3, p))
        lik = Likelihood(data, err, frac, systematic=sys_, coherent_sigma=c)
        got = lik.log_like(models)
        for m, value in zip(models, got):
            cov = np.diag(err**2 + (frac * m) ** 2 + sys_**2) + c**2 * np.outer(m, m)
            assert value == pytest.approx(stats.multivariate_normal(m, cov).logpdf(data), rel=1e-10, abs=1e-9)
        jlik = Likelihood(jnp.asarray(data), jnp.asarray(err), jnp.asarray(frac), sys_, coherent_sigma=c)
        np.testing.assert_allclose(np.asarray(jlik.log_like(jnp.asarray(models), jnp)), got, rtol=2e-5)  # float32
    base = Likelihood(data, err, frac, systematic=sys_)
    assert Likelihood(data, err, frac, sys_, coherent_sigma=0.0).log_like(models[0]) == base.log_like(models[0])
    # a common scale error is forgiven: a model 0.5% high costs less with c = 0.01 than without
    tight, coherent = (Likelihood(data, np.full(p, 0.5), np.zeros(p), coherent_sigma=c) for c in (0.0, 0.01))
    assert coherent.log_like(data * 1.005) - coherent.log_like(data) > tight.log_like(data * 1.005) - tight.log_like(data)


def test_coherent_error_from_the_model_card():
    from fastjam.model import Z95, emulator_coherent_error

    card = {"metrics": {"per_map_bias": {"p95": 0.00125}}}
    assert emulator_coherent_error(card) == pytest.approx(0.00125 / Z95)
    assert stats.halfnorm.ppf(0.95) == pytest.approx(Z95)
    with pytest.warns(UserWarning, match="per_map_bias"):
        assert emulator_coherent_error({"metrics": {}}) == 0.0


def test_a_novelty_band_raises_the_cards_overall_error_model():
    """A band of a general card with its own error model and bias is read where larger than the card's, never
    below it; a band without them (a card written before bands had them) leaves the card's."""
    from fastjam.model import Z95, emulator_coherent_error, emulator_error_at

    card = {"metrics": {"per_map_bias": {"p95": 0.001}},
            "error_model": {"radius_re": [0.0, 1.0, 3.0], "frac_rms": [0.002, 0.003]}}
    band = {"bias_p95": 0.004, "error_model": {"radius_re": [0.0, 1.0, 3.0], "frac_rms": [0.006, 0.0025]}}
    r = np.array([0.5, 2.0, 5.0])
    np.testing.assert_array_equal(emulator_error_at(card, r), [0.002, 0.003, 0.003])
    np.testing.assert_array_equal(emulator_error_at(card, r, band), [0.006, 0.003, 0.003])
    assert emulator_coherent_error(card, band) == pytest.approx(0.004 / Z95)
    assert emulator_coherent_error(card, dict(band, bias_p95=0.0005)) == pytest.approx(0.001 / Z95)
    old_band = {"percentiles": [90.0, 100.0], "rms_median": 0.004}
    np.testing.assert_array_equal(emulator_error_at(card, r, old_band), emulator_error_at(card, r))
    assert emulator_coherent_error(card, old_band) == emulator_coherent_error(card)


class _FlatModel:
    """A bound forward model with constant output (a JAX pytree without leaves)."""

    @property
    def xp(self):
        import jax.numpy as jnp

        return jnp

    def __call__(self, inclination, beta_z, ml):
        return 0.0 * inclination * self.xp.ones(1)

    def tree_flatten(self):
        return (), None

    @classmethod
    def tree_unflatten(cls, aux, children):
        return cls()


def _prior_only_density(priors):
    """A posterior whose likelihood is flat: the posterior is the prior."""
    import jax
    import jax.numpy as jnp

    if not hasattr(_prior_only_density, "registered"):
        jax.tree_util.register_pytree_node_class(_FlatModel)
        _prior_only_density.registered = True
    lik = Likelihood(jnp.zeros(1), jnp.ones(1) * 1e6, jnp.zeros(1))
    return Posterior(priors, lik, _FlatModel(), 1.0)


def _check_prior_recovered(priors, theta):
    inc, beta, ml, _ = priors.transform(theta.reshape(-1, 3))
    # inclination: p(i) ∝ sin i on [i_min, 90] -> cos i uniform on [0, cos i_min]
    cos_i = np.cos(np.radians(inc)) / np.cos(np.radians(priors.inclination_min))
    assert stats.kstest(cos_i, "uniform").pvalue > 1e-3
    # M/L log-uniform
    u = np.log(ml / 0.5) / np.log(12.0 / 0.5)
    assert stats.kstest(u, "uniform").pvalue > 1e-3
    # beta_z uniform between its bounds given i
    b_max = beta_z_max(qintr_from_inclination(priors.q_obs, inc))
    assert stats.kstest((beta - priors.beta_z_min) / (b_max - priors.beta_z_min), "uniform").pvalue > 1e-3


def test_prior_draws_follow_the_prior(priors, rng):
    """Priors.sample against the analytic marginals, isotropic and log-uniform or uniform."""
    d = priors.sample(20000, rng)
    _check_prior_recovered(priors, priors.inverse(d["inclination"], d["beta_z"], d["ml"]))
    flat = Priors(q_obs=0.6, ml_range=(0.5, 12.0), isotropic=False, ml_log_uniform=False)
    d = flat.sample(20000, rng)
    assert stats.kstest((d["inclination"] - flat.inclination_min) / (90 - flat.inclination_min),
                        "uniform").pvalue > 1e-3
    assert stats.kstest((d["ml"] - 0.5) / 11.5, "uniform").pvalue > 1e-3
    with pytest.raises(ValueError, match="number of draws"):
        priors.sample(0, rng)


def test_numpyro_samples_the_prior(priors):
    from fastjam.samplers import Target, get_sampler

    sampler = get_sampler("numpyro", chains=2, warmup=500, samples=2000, seed=3, progress=False, target=Target(0))
    res = sampler.run(_prior_only_density(priors), np.zeros(3))
    assert res.theta.shape == (2, 2000, 3)
    # thin to roughly independent draws for the KS tests
    _check_prior_recovered(priors, res.theta[:, ::4])
    assert res.diagnostics["divergences"] < 20


def test_emcee_samples_the_prior(priors):
    from fastjam.samplers import Target, get_sampler

    sampler = get_sampler("emcee", walkers=16, steps=4000, burn=1000, seed=5, progress=False, target=Target(0))
    res = sampler.run(_prior_only_density(priors), np.zeros(3))
    assert res.theta.shape == (16, 3000, 3)
    tau = int(np.ceil(np.max(res.diagnostics["autocorr_time"])))
    _check_prior_recovered(priors, res.theta[:, :: 2 * tau])


def test_backends_recover_a_gaussian_posterior():
    """theta ~ N(mu, diag(s^2)) directly: mean within 5 Monte Carlo sigma (ESS from the chain length)."""
    import jax.numpy as jnp

    from fastjam.samplers import Target, get_sampler

    mu, s = np.array([0.5, -1.0, 2.0]), np.array([0.3, 0.5, 1.0])

    def log_density(theta):
        return -0.5 * jnp.sum(((theta - mu) / s) ** 2)

    for name, kw in [("numpyro", dict(chains=2, warmup=300, samples=1000)),
                     ("emcee", dict(walkers=16, steps=2000, burn=500))]:
        res = get_sampler(name, seed=7, progress=False, target=Target(0), **kw).run(log_density, np.zeros(3))
        flat = res.theta.reshape(-1, 3)
        ess = flat.shape[0] / (10 if name == "emcee" else 2)
        np.testing.assert_array_less(np.abs(flat.mean(0) - mu), 5 * s / np.sqrt(ess))
        np.testing.assert_allclose(flat.std(0), s, rtol=0.1)


@pytest.mark.parametrize("name, kw", [("numpyro", dict(chains=4, warmup=300, samples=20000, check_every=100)),
                                      ("emcee", dict(walkers=16, steps=50000, check_every=100))])
def test_sampling_stops_at_the_target_ess_and_r_hat(name, kw):
    """A correlated Gaussian: the run stops well before its cap with ESS and R-hat on target,
    and the mean is right within 5 Monte Carlo sigma of that ESS."""
    import arviz as az
    import jax.numpy as jnp

    from fastjam.samplers import Target, get_sampler

    mu, cov = np.array([0.5, -1.0, 2.0]), np.array([[1.0, 0.95, 0.0], [0.95, 1.0, 0.0], [0.0, 0.0, 4.0]])
    prec = jnp.asarray(np.linalg.inv(cov))

    def log_density(theta):
        d = theta - mu
        return -0.5 * d @ prec @ d

    target = Target(ess=400, r_hat=1.01)
    res = get_sampler(name, seed=11, progress=False, target=target, **kw).run(log_density, np.zeros(3))
    d = res.diagnostics
    assert d["converged"] and d["ess_bulk_min"] >= 400
    assert res.theta.shape[1] < (kw["samples"] if name == "numpyro" else kw["steps"]) // 4
    ess = min(float(az.ess(res.theta[..., j], method="bulk")) for j in range(3))
    assert ess >= 400 if name == "numpyro" else ess == pytest.approx(d["ess_bulk_min"], rel=1e-6)
    flat = res.theta.reshape(-1, 3)
    np.testing.assert_array_less(np.abs(flat.mean(0) - mu), 5 * np.sqrt(np.diag(cov) / ess))


def test_sampler_bad_options():
    from fastjam.samplers import Target, get_sampler

    with pytest.raises(ValueError, match="unknown sampler"):
        get_sampler("metropolis")
    with pytest.raises(ValueError, match="walkers"):
        get_sampler("emcee", walkers=5)
    with pytest.raises(ValueError, match="chains"):
        get_sampler("numpyro", chains=0)
    with pytest.raises(ValueError, match="R-hat"):
        Target(ess=100, r_hat=1.0)

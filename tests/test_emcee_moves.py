"""emcee's ensemble moves and stopping schedule, tested statistically on a known Gaussian with
fixed seeds: mean and covariance within 5 Monte Carlo sigma of the chain's own bulk ESS."""
import numpy as np
import pytest

MU = np.array([0.5, -1.0, 2.0])
#: Strongly correlated pair (like inclination and beta_z) and an independent third parameter.
COV = np.array([[1.0, 0.95, 0.0], [0.95, 1.0, 0.0], [0.0, 0.0, 4.0]])


def _log_density():
    import jax.numpy as jnp

    prec = jnp.asarray(np.linalg.inv(COV))

    def log_density(theta):
        d = theta - MU
        return -0.5 * d @ prec @ d

    return log_density


@pytest.mark.parametrize("moves", ["de", "stretch"])
def test_moves_recover_the_mean_and_covariance_of_a_correlated_gaussian(moves):
    """Fixed-length run (no stopping rule), the default many-walker ensemble."""
    import arviz as az

    from fastjam.samplers import Target, get_sampler

    res = get_sampler("emcee", walkers=64, steps=1500, burn=300, moves=moves, seed=13, progress=False,
                      target=Target(0)).run(_log_density(), np.zeros(3))
    ess = min(float(az.ess(res.theta[..., j], method="bulk")) for j in range(3))
    assert ess > 1000  # the run is long enough for the tolerances below to be tight
    flat = res.theta.reshape(-1, 3)
    sd = np.sqrt(np.diag(COV))
    np.testing.assert_array_less(np.abs(flat.mean(0) - MU), 5 * sd / np.sqrt(ess))
    # Monte Carlo sd of a Gaussian's sample covariance: sqrt((C_ij^2 + C_ii C_jj) / n)
    se = np.sqrt((COV**2 + np.outer(np.diag(COV), np.diag(COV))) / ess)
    np.testing.assert_array_less(np.abs(np.cov(flat.T) - COV), 5 * se)


def test_de_needs_fewer_evaluations_per_effective_sample_than_stretch():
    """The reason DE is the default: on the correlated Gaussian, stopped by the ESS target."""
    from fastjam.samplers import Target, get_sampler

    runs = {m: get_sampler("emcee", moves=m, seed=3, progress=False, target=Target(500)).run(_log_density(),
                                                                                              np.zeros(3))
            for m in ("de", "stretch")}
    for r in runs.values():
        assert r.diagnostics["converged"]
    per_ess = {m: r.n_evaluations / r.diagnostics["ess_bulk_min"] for m, r in runs.items()}
    assert per_ess["de"] < 0.7 * per_ess["stretch"]


def test_checks_follow_the_predicted_ess():
    """The next check is where the ESS, proportional to the steps, reaches the target: at least
    ``check_every`` steps on, at most twice the steps run."""
    from fastjam.samplers import Target
    from fastjam.samplers.emcee_backend import EmceeSampler

    s = EmceeSampler(check_every=25, target=Target(1000))
    assert s._next_check(100, 500.0) == 200
    assert s._next_check(100, 100.0) == 200  # at most doubled
    assert s._next_check(100, 800.0) == 125  # at least check_every on
    assert s._next_check(300, 750.0) == 400
    assert s._next_check(100, float("nan")) == 200


def test_unknown_moves_are_refused():
    from fastjam.samplers import get_sampler

    with pytest.raises(ValueError, match="unknown emcee moves 'snooker'"):
        get_sampler("emcee", moves="snooker")


def test_walker_groups_and_the_summary_r_hat_of_an_ensemble(rng):
    """The summary's R-hat of an emcee posterior compares groups of walkers, as the stopping
    rule does: it sees one group of walkers stuck elsewhere, and reads ~1 for iid walkers."""
    import arviz as az

    from fastjam.result import summarize
    from fastjam.samplers.emcee_backend import group_walkers

    chains = rng.standard_normal((16, 50))
    grouped = group_walkers(chains, 4)
    assert grouped.shape == (4, 200)
    np.testing.assert_array_equal(grouped[1, :4], chains[4:8, 0])  # draw 0 of walkers 4..7, then draw 1
    ok = summarize(az.from_dict(posterior={"x": chains}, attrs={"r_hat_walker_groups": 4}))["x"]["r_hat"]
    assert ok == pytest.approx(float(az.rhat(grouped))) and ok < 1.05
    stuck = chains + 3.0 * (np.arange(16) < 4)[:, None]
    assert summarize(az.from_dict(posterior={"x": stuck}, attrs={"r_hat_walker_groups": 4}))["x"]["r_hat"] > 1.2

"""Emulator-vs-JAM comparison: the grid posterior against known posteriors, the report's
structure and values on a cheap setting, resuming, and the emcee reference's plumbing."""
import json
import pickle
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from fastjam.compare import (Grid, GridCache, coarsened, compare, energy_test, grid_error,
                             grid_posterior, run_grid)
from fastjam.compare.stats import compare_parameter, parameter_stats
from fastjam.config import load_config
from fastjam.jam import JAMModel, JAMSettings
from fastjam.model import Likelihood, Priors
from fastjam.posterior import Posterior

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "example_galaxy" / "galaxy.toml"
CHEAP = JAMSettings(nrad=10, nang=5)
TINY = {"sampler.backend": "emcee", "sampler.steps": 200, "sampler.walkers": 16, "sampler.seed": 1}


def _toy_likelihood(vrms, err):
    vrms = np.asarray(vrms, dtype=float)
    return Likelihood(vrms, np.full(vrms.size, float(err)), np.zeros(vrms.size))


def _posterior_quantiles(x, log_density, q):
    """Quantiles of a tabulated 1-D density (dense trapezoid CDF)."""
    dens = np.exp(log_density - log_density.max())
    cdf = np.concatenate([[0.0], np.cumsum(0.5 * (dens[1:] + dens[:-1]) * np.diff(x))])
    return np.interp(np.asarray(q) * cdf[-1], cdf, x)


# ----------------------------------------------------------------- the grid posterior


@pytest.mark.parametrize("isotropic, log_uniform", [(True, True), (False, False)])
def test_grid_recovers_prior_and_exact_ml_posterior(isotropic, log_uniform):
    """A model independent of (i, beta_z): their posterior is the prior (sin i or uniform i,
    beta_z uniform on [beta_min, beta_max(i)]), and M/L's is likelihood x prior, known by
    quadrature. A wrong Jacobian of the beta_z fraction, or a wrong M/L prior or Jacobian,
    fails this."""
    priors = Priors(q_obs=0.65, ml_range=(0.5, 20.0), ml_log_uniform=log_uniform, isotropic=isotropic)
    grid = Grid.over_prior(priors, 60, 40)
    m1 = np.full((grid.size, 5), 100.0)
    lik = _toy_likelihood(np.full(5, 200.0 * 0.7), 45.0)  # s = sqrt(M/L) ~ 1.4 +- 0.2: the prior matters
    post = grid_posterior(priors, lik, grid, m1)
    n = 40000
    draws = post.sample(n, np.random.default_rng(5))
    i0 = priors.inclination_min
    if isotropic:
        cdf_i = lambda i: (np.cos(np.radians(i0)) - np.cos(np.radians(i))) / np.cos(np.radians(i0))  # noqa: E731
    else:
        cdf_i = lambda i: (i - i0) / (90.0 - i0)  # noqa: E731
    assert stats.kstest(draws["inclination"], cdf_i).pvalue > 1e-3
    b_max = priors.beta_max(draws["inclination"], np)
    frac = (draws["beta_z"] - priors.beta_z_min) / (b_max - priors.beta_z_min)
    assert np.all((frac > 0) & (frac < 1))
    assert stats.kstest(frac, "uniform").pvalue > 1e-3
    # M/L: exact posterior by dense quadrature in M/L itself
    ml = np.linspace(*priors.ml_range, 200001)
    log_post = lik.log_like(np.sqrt(ml)[:, None] * 100.0) + (-np.log(ml) if log_uniform else 0.0)
    exact = _posterior_quantiles(ml, log_post, [0.16, 0.5, 0.84])
    sigma = 0.5 * (exact[2] - exact[0])
    got = np.percentile(draws["ml"], [16, 50, 84])
    np.testing.assert_allclose(got, exact, atol=6 * 1.6 * sigma / np.sqrt(n))
    assert post.kish_ess > 0.5 * grid.size  # flat in (i, u) up to sin i


def _toy_model1(inc, beta):
    """V_RMS at M/L = 1 of a linear toy with correlated (i, beta_z), three "bins"."""
    inc, beta = np.broadcast_arrays(inc, beta)
    return np.stack([100 + 1.0 * (inc - 70), 100 + 100 * (beta - 0.1) + 0.5 * (inc - 70), 100 + 0 * inc], -1)


def _toy_problem(err=5.0):
    priors = Priors(q_obs=0.65, ml_range=(0.5, 20.0))
    lik = _toy_likelihood(np.sqrt(4.0) * _toy_model1(70.0, 0.1) + np.array([3.0, -4.0, 2.0]) * err / 5, err)
    return priors, lik


def _brute_force_moments(priors, lik, ml_lim=(2.0, 7.0), n=201):
    """Mean and sd of (inclination, beta_z, ml) by 3-D quadrature in the physical parameters."""
    i_ax = np.linspace(priors.inclination_min, 90, n)[:, None, None]
    b_ax = np.linspace(priors.beta_z_min, 0.7, n)[None, :, None]
    ml_ax = np.linspace(*ml_lim, n)[None, None, :]
    ok = b_ax < priors.beta_max(i_ax, np)
    logp = np.where(ok, priors.log_prob(i_ax, b_ax, ml_ax), -np.inf)
    logp = logp + lik.log_like(np.sqrt(ml_ax)[..., None] * _toy_model1(i_ax, b_ax))
    w = np.exp(logp - logp.max())
    w /= w.sum()
    out = {}
    for name, axis in (("inclination", i_ax), ("beta_z", b_ax), ("ml", ml_ax)):
        mean = np.sum(w * axis)
        out[name] = (mean, np.sqrt(np.sum(w * (axis - mean) ** 2)))
    return out


def _stack(draws):
    return np.column_stack([draws[p] for p in ("inclination", "beta_z", "ml")])


def _grid_draws(priors, lik, grid, n, seed):
    inc, beta = grid.nodes(priors)
    post = grid_posterior(priors, lik, grid, _toy_model1(inc, beta))
    return post, post.sample(n, np.random.default_rng(seed))


def test_grid_matches_brute_force_posterior():
    """A linear-Gaussian toy with correlated (i, beta_z, M/L): the grid's moments agree with a
    brute-force 3-D quadrature in the physical parameters."""
    priors, lik = _toy_problem()
    post, draws = _grid_draws(priors, lik, Grid.over_prior(priors, 120, 100), 60000, 2)
    for name, (mean, sd) in _brute_force_moments(priors, lik).items():
        assert abs(np.mean(draws[name]) - mean) < 0.05 * sd, name
        assert abs(np.std(draws[name]) / sd - 1) < 0.05, name
    assert abs(post.best["inclination"] - 70.0) < 10
    assert post.edge_mass() == 0.0  # a full grid has no open edge


def test_zoomed_grid_matches_brute_force_with_few_nodes():
    """With 1 km/s errors the posterior spans a few per cent of the prior: a 30 x 24 box around
    rough posterior samples reproduces the brute-force moments; a box that cuts the posterior
    shows its mass on the box's edges."""
    priors, lik = _toy_problem(err=1.0)
    _, rough = _grid_draws(priors, lik, Grid.over_prior(priors, 60, 50), 20000, 3)
    grid = Grid.around(priors, rough["inclination"], rough["beta_z"], 30, 24)
    assert all(grid.open_sides) and grid.steps[0] < (90 - priors.inclination_min) / 120
    post, draws = _grid_draws(priors, lik, grid, 60000, 4)
    for name, (mean, sd) in _brute_force_moments(priors, lik, (3.5, 4.5), 301).items():
        assert abs(np.mean(draws[name]) - mean) < 0.05 * sd, name
        assert abs(np.std(draws[name]) / sd - 1) < 0.05, name
    assert post.edge_mass() < 1e-3
    # the quadrature error from halving the resolution: small at 30 x 24, larger at 15 x 12
    inc, beta = grid.nodes(priors)
    coarse = coarsened(priors, lik, grid, _toy_model1(inc, beta))
    assert coarse.grid.shape == (15, 12)
    err = grid_error(_stack(draws), _stack(coarse.sample(60000, np.random.default_rng(6))))
    for name, (mean, sd) in _brute_force_moments(priors, lik, (3.5, 4.5), 301).items():
        assert err[name]["median"] < 0.1 * sd and err[name]["sigma"] < 0.1 * sd, (name, err[name], sd)
    assert coarsened(priors, lik, Grid.over_prior(priors, 5, 8), np.ones((40, 3))) is None
    (i0, i1), (u0, u1) = grid.bounds
    assert np.all((draws["inclination"] >= i0) & (draws["inclination"] <= i1))
    tight = Grid.around(priors, rough["inclination"], rough["beta_z"], 30, 24, tail=0.2, pad=0.0)
    assert _grid_draws(priors, lik, tight, 10, 5)[0].edge_mass() > 0.05
    with pytest.raises(ValueError, match="empty grid box"):
        Grid.box(priors, (91.0, 95.0), (0, 1), 5, 5)


def test_grid_input_errors():
    priors = Priors(q_obs=0.65)
    with pytest.raises(ValueError, match="at least 3 x 3"):
        Grid.over_prior(priors, 2, 5)
    grid = Grid.over_prior(priors, 4, 3)
    lik = _toy_likelihood([100.0, 100.0], 5.0)
    with pytest.raises(ValueError, match="m1 must have shape"):
        grid_posterior(priors, lik, grid, np.ones((5, 2)))
    bad = Likelihood(lik.vrms, lik.vrms_err, np.full(2, 0.01))
    with pytest.raises(ValueError, match="fractional model error"):
        grid_posterior(priors, bad, grid, np.ones((grid.size, 2)))
    with pytest.raises(ValueError, match="no grid node"):
        grid_posterior(priors, lik, grid, np.full((grid.size, 2), np.nan))


def test_energy_null_is_positive_and_detects_a_shift():
    rng = np.random.default_rng(0)
    a = rng.standard_normal((4000, 3))
    same = energy_test(rng.standard_normal((4000, 3)), a, rng, 1000, 5)
    shifted = energy_test(rng.standard_normal((4000, 3)) + [1.0, 0, 0], a, rng, 1000, 5)
    assert same["null_mean"] > 0 and same["null_sd"] > 0
    assert abs(same["excess"]) < 5
    assert shifted["excess"] > 20
    with pytest.raises(ValueError, match=">= 10 samples"):
        energy_test(a[:5], a, rng)


# ----------------------------------------------------------------- JAM on the example galaxy


@pytest.fixture
def jam_calls(monkeypatch):
    """Record every jampy call made in this process (serial runs): (inclination, beta_z, ml)."""
    import fastjam.jam as jam

    calls = []
    real = jam.jam_vrms

    def spy(mge, inclination, beta_z, ml, *args, **kwargs):
        calls.append((float(inclination), float(beta_z), float(ml)))
        return real(mge, inclination, beta_z, ml, *args, **kwargs)

    monkeypatch.setattr(jam, "jam_vrms", spy)
    return calls


KEYS = {"jam_method", "parameters", "energy", "speed", "goals", "best", "diagnostics", "truth"}
PARAM_KEYS = {"emulator", "jam", "shift_sigma", "shift_mc_error", "width_ratio", "width_ratio_mc_error"}
STAT_KEYS = {"median", "p16", "p84", "sigma", "ess", "mc_error"}
SPEED_KEYS = {"seconds_per_call", "n_calls", "cost_seconds", "wall_seconds", "ess_min",
              "seconds_per_effective_sample"}
OUTPUTS = ("comparison.json", "comparison.txt", "corner_overlay.png", "maps_emulator.png", "maps_jam.png",
           "posterior_emulator.nc", "posterior_jam.nc")


def _check_report_against_posteriors(report, out):
    """The saved report's medians, widths, shifts and width ratios recomputed from the two saved
    posteriors: catches swapped sides, a wrong sigma or a report of other samples."""
    import arviz as az

    post = {side: az.from_netcdf(str(out / f"posterior_{side}.nc")).posterior for side in ("emulator", "jam")}
    for name, c in report["parameters"].items():
        q = {side: np.percentile(np.asarray(p[name]).ravel(), [16, 50, 84]) for side, p in post.items()}
        for side in ("emulator", "jam"):
            np.testing.assert_allclose([c[side]["p16"], c[side]["median"], c[side]["p84"]], q[side], rtol=1e-9)
        sigma_jam = 0.5 * (q["jam"][2] - q["jam"][0])
        assert c["shift_sigma"] == pytest.approx((q["emulator"][1] - q["jam"][1]) / sigma_jam, rel=1e-9)
        assert c["width_ratio"] == pytest.approx((q["emulator"][2] - q["emulator"][0]) / (2 * sigma_jam), rel=1e-9)


def test_shift_and_width_ratio_and_their_errors_are_calibrated():
    """Two Gaussian posteriors, N(0.3, 1.2) against N(0, 1), each of 2000 independent draws:
    the shift is 0.3 reference sigma and the width ratio 1.2, and over 300 repeats the scatter
    of both matches their reported Monte Carlo errors (within 15%)."""
    rng = np.random.default_rng(11)
    rows = []
    for _ in range(300):
        emu = parameter_stats(rng.normal(0.3, 1.2, 2000), 2000)
        jam = parameter_stats(rng.normal(0.0, 1.0, 2000), 2000)
        rows.append(compare_parameter(emu, jam))
    shift = np.array([r["shift_sigma"] for r in rows])
    ratio = np.array([r["width_ratio"] for r in rows])
    assert abs(shift.mean() - 0.3) < 4 * shift.std() / np.sqrt(len(rows))
    assert abs(ratio.mean() - 1.2) < 4 * ratio.std() / np.sqrt(len(rows))
    assert shift.std() / np.mean([r["shift_mc_error"] for r in rows]) == pytest.approx(1.0, abs=0.15)
    assert ratio.std() / np.mean([r["width_ratio_mc_error"] for r in rows]) == pytest.approx(1.0, abs=0.15)
    with pytest.raises(ValueError, match="zero width"):
        compare_parameter(emu, dict(jam, sigma=0.0))


def test_grid_comparison_report_and_resume(random_emulator, jam_calls, tmp_path):
    from fastjam.fit import build_problem

    cfg = load_config(EXAMPLE, TINY)
    kw = dict(emulator=random_emulator, jam_method="grid", workers=0, out=tmp_path, progress=False,
              grid_size=(4, 3), jam_settings=CHEAP, n_draws=4000, energy_samples=300)
    res = compare(cfg, **kw)
    assert len(jam_calls) == 12 and all(ml == 1.0 for *_, ml in jam_calls)
    d = json.loads((tmp_path / "comparison.json").read_text())
    assert set(d) == KEYS
    _check_report_against_posteriors(d, tmp_path)
    assert set(d["parameters"]) == {"inclination", "beta_z", "ml"}
    for c in d["parameters"].values():
        assert set(c) == PARAM_KEYS
        assert set(c["emulator"]) == STAT_KEYS and set(c["jam"]) == STAT_KEYS | {"grid_error"}
        for side in ("emulator", "jam"):
            assert c[side]["p16"] <= c[side]["median"] <= c[side]["p84"]
        for key in ("shift_sigma", "shift_mc_error", "width_ratio", "width_ratio_mc_error"):
            assert c[key] is not None and np.isfinite(c[key]), key
        assert c["width_ratio"] > 0 and c["shift_mc_error"] > 0
    en = d["energy"]
    assert en["null_mean"] > 0 and en["null_sd"] > 0 and len(en["null"]) == 5 and en["distance"] > 0
    for side in ("emulator", "jam"):
        assert set(d["speed"][side]) == SPEED_KEYS
        assert d["speed"][side]["seconds_per_call"] > 0
    assert d["speed"]["speedup_per_call"] > 0 and d["speed"]["speedup_per_effective_sample"] > 0
    assert set(d["goals"]) == {"medians", "widths", "speed", "thresholds"}
    jam_diag = d["diagnostics"]["jam"]
    assert (jam_diag["n_nodes"], jam_diag["n_computed"], jam_diag["n_cached"], jam_diag["n_failed"]) == (12, 12, 0, 0)
    assert d["truth"]["ml"] == 4.0
    for name in OUTPUTS:
        assert (tmp_path / name).stat().st_size > 0, name
    assert not list(tmp_path.rglob("*.tmp*"))
    assert "shift/sig" in res.table() and "energy distance" in res.table()

    # resume: delete one cached node; only that node is recomputed, and the report is unchanged
    node = tmp_path / "jam_grid" / "node_000005.npz"
    node.unlink()
    jam_calls.clear()
    again = compare(cfg, **kw)
    assert len(jam_calls) == 1
    priors = build_problem(cfg, emulator=random_emulator).priors
    emu = res.emulator.samples
    inc, beta = Grid.around(priors, emu[:, 0], emu[:, 1], 4, 3).nodes(priors)
    np.testing.assert_allclose(jam_calls[0][:2], (inc[5], beta[5]))
    dj = again.to_dict()["diagnostics"]["jam"]
    assert (dj["n_computed"], dj["n_cached"]) == (1, 11)
    for name in ("inclination", "beta_z", "ml"):  # the same nodes, up to the rounding of the cached box's edges
        assert json.loads(json.dumps(again.parameters[name]["jam"])) == pytest.approx(
            json.loads(json.dumps(res.parameters[name]["jam"])), rel=1e-10), name
    # another emulator sampler (another seed): its posterior lies inside the cached box, so
    # every node is reused
    jam_calls.clear()
    other = compare(load_config(EXAMPLE, dict(TINY, **{"sampler.seed": 5})), **kw)
    assert jam_calls == [] and other.to_dict()["diagnostics"]["jam"]["box_reused"]
    # and a different grid in the same directory is refused, not mixed
    with pytest.raises(ValueError, match="another galaxy"):
        compare(cfg, **dict(kw, grid_size=(5, 3)))


def test_cached_box_is_reused_only_when_it_fits(tmp_path):
    from fastjam.compare.reference import _cached_box

    meta = dict(forward="abc", grid=[40, 30], jam_settings=dict(nrad=40))
    path = tmp_path / "box.json"
    assert _cached_box(path, meta, ((60, 70), (0.3, 0.6))) is None
    path.write_text(json.dumps(dict(meta, inclination=[55.0, 80.0], beta_frac=[0.2, 0.9])))
    assert _cached_box(path, meta, ((60, 70), (0.3, 0.6))) == ((55.0, 80.0), (0.2, 0.9))
    assert _cached_box(path, meta, ((50, 70), (0.3, 0.6))) is None          # posterior beyond the box
    assert _cached_box(path, meta, ((60, 70), (0.3, 0.95))) is None
    assert _cached_box(path, dict(meta, forward="xyz"), ((60, 70), (0.3, 0.6))) is None  # other data
    path.write_text("{not json")
    assert _cached_box(path, meta, ((60, 70), (0.3, 0.6))) is None


class _Interrupt(BaseException):
    """Stands in for Ctrl-C (a BaseException, as KeyboardInterrupt, so not caught as a failed node)."""


def test_interrupted_grid_resumes_and_failed_nodes_are_retried(jam_calls, monkeypatch, tmp_path):
    import fastjam.jam as jam
    from fastjam.fit import build_galaxy, load_kinematics

    cfg = load_config(EXAMPLE)
    kin = load_kinematics(cfg)
    forward = jam.JAMModel(CHEAP).bind(build_galaxy(cfg), kin.x[:40], kin.y[:40])
    priors = Priors(q_obs=0.65)
    inc, beta = Grid.over_prior(priors, 4, 3).nodes(priors)
    spec = dict(forward=forward.fingerprint(), grid=[4, 3])
    spy = jam.jam_vrms

    def interrupted(*args, **kwargs):
        if len(jam_calls) == 5:
            raise _Interrupt
        return spy(*args, **kwargs)

    monkeypatch.setattr(jam, "jam_vrms", interrupted)
    with pytest.raises(_Interrupt):
        run_grid(forward, inc, beta, GridCache(tmp_path / "jam_grid", spec), workers=0, progress=False)
    assert len(list((tmp_path / "jam_grid").glob("node_*.npz"))) == 5

    def failing(mge, inclination, *args, **kwargs):  # one node fails: reported, not cached
        if inclination == inc[7]:
            raise RuntimeError("no convergence")
        return spy(mge, inclination, *args, **kwargs)

    monkeypatch.setattr(jam, "jam_vrms", failing)
    jam_calls.clear()
    m1, info = run_grid(forward, inc, beta, GridCache(tmp_path / "jam_grid", spec), workers=0, progress=False)
    assert (info["n_cached"], info["n_computed"], info["failed"]) == (5, 7, [6, 7, 8])
    assert np.all(np.isnan(m1[6:9])) and np.all(np.isfinite(np.delete(m1, [6, 7, 8], 0)))

    monkeypatch.setattr(jam, "jam_vrms", spy)
    jam_calls.clear()
    m1, info = run_grid(forward, inc, beta, GridCache(tmp_path / "jam_grid", spec), workers=0, progress=False)
    assert (info["n_cached"], info["n_computed"], info["n_failed"]) == (9, 3, 0)
    assert sorted(round(c[0], 9) for c in jam_calls) == [round(inc[7], 9)] * 3
    assert np.all(np.isfinite(m1))
    with pytest.raises(ValueError, match="another galaxy"):
        GridCache(tmp_path / "jam_grid", dict(spec, grid=[5, 3]))


def test_emcee_reference_checkpoint_and_pickling(random_emulator, jam_calls, tmp_path):
    from fastjam.fit import build_problem

    cfg = load_config(EXAMPLE, TINY)
    problem = build_problem(cfg, emulator=random_emulator)
    density = Posterior(problem.priors, Likelihood(problem.vrms, problem.vrms_err, np.zeros(problem.x.size)),
                        JAMModel(CHEAP).bind(problem.galaxy, problem.x, problem.y), problem.galaxy.total_luminosity)
    theta = np.zeros(3)
    assert pickle.loads(pickle.dumps(density))(theta) == pytest.approx(density(theta))
    assert density(np.array([np.nan, 0, 0])) == -np.inf

    kw = dict(emulator=random_emulator, jam_method="emcee", workers=0, out=tmp_path, progress=False,
              jam_walkers=6, jam_steps=12, jam_settings=CHEAP, energy_samples=20)
    jam_calls.clear()
    res = compare(cfg, **kw)
    # 1 + 3 timing calls, 6 initial walkers, 6 x 12 steps, 1 best-fit model
    assert len(jam_calls) == 4 + 6 + 72 + 1
    assert res.speed["jam"]["n_calls"] == 72 and res.jam.idata.posterior["ml"].shape == (6, 8)
    for name in OUTPUTS:
        assert (tmp_path / name).stat().st_size > 0, name
    assert set(res.to_dict()) == KEYS and np.isfinite(res.parameters["ml"]["shift_sigma"])
    jam_calls.clear()
    again = compare(cfg, **kw)  # the finished chain is read back, not sampled again
    assert len(jam_calls) == 4 + 1
    np.testing.assert_array_equal(again.jam.samples, res.jam.samples)


def test_compare_input_errors(random_emulator):
    cfg = load_config(EXAMPLE, TINY)
    with pytest.raises(ValueError, match="unknown JAM method"):
        compare(cfg, emulator=random_emulator, jam_method="nested")
    with pytest.raises(ValueError, match="workers must be >= 0"):
        compare(cfg, emulator=random_emulator, workers=-1)
    with pytest.raises(ValueError, match="grid size"):
        compare(cfg, emulator=random_emulator, jam_method="grid", grid_size=(4,))

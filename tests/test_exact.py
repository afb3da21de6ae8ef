"""The exact JAM posterior: the linear decomposition against direct jampy calls, the posterior
against a brute-force jampy grid, resuming after a kill, and errors on bad requests."""
import numpy as np
import pytest

import fastjam.exact as exact_mod
from fastjam.compare import Grid, grid_posterior
from fastjam.exact import DEPTH, LinearTerms, Nodes, compute_nodes, node_cache
from fastjam.exact_posterior import ExactSettings, exact_posterior, model_grid, moments, posterior_on_grid
from fastjam.galaxy import Galaxy, Sersic
from fastjam.jam import JAMSettings, jam_linear_terms, jam_vrms
from fastjam.model import Likelihood, Priors
from fastjam.physics import MGE

SMALL = JAMSettings(nrad=10, nang=6)


def _sersic():
    return Galaxy(Sersic(n=3.0, r_e=4.0, q_obs=0.6, l_tot=3e10), distance=20.0, sigma_psf=0.8, pixsize=0.5)


def _mge():
    """Three Gaussians of different flattening (q from 0.55 to 0.9)."""
    return Galaxy(MGE([3000.0, 800.0, 90.0], [0.6, 2.5, 8.0], [0.9, 0.55, 0.75]), distance=15.0, sigma_psf=0.7,
                  pixsize=0.6)


def _positions(n=10, seed=3):
    rng = np.random.default_rng(seed)
    return rng.uniform(-7, 7, n), rng.uniform(-5, 5, n)


@pytest.mark.parametrize("make", [_sersic, _mge], ids=["sersic", "mge"])
def test_linear_terms_match_direct_jampy_calls(make):
    """V_RMS^2 = ml (A + B/(1 - beta_z)) from two jampy calls equals a direct call at other
    (beta_z, M/L), at three inclinations."""
    galaxy = make()
    mge, x, y = galaxy.mge, *_positions()
    for inc, pairs in ((62.0, [(0.2, 2.5)]), (75.0, [(-0.15, 0.7)]), (89.0, [(0.3, 1.3), (-0.1, 5.0)])):
        a, b = jam_linear_terms(mge, inc, galaxy.distance, galaxy.sigma_psf, galaxy.pixsize, x, y, SMALL)
        for beta, ml in pairs:
            direct = jam_vrms(mge, inc, beta, ml, galaxy.distance, galaxy.sigma_psf, galaxy.pixsize, x, y, SMALL)
            # exact up to jampy's adaptive quadrature, which differs with beta_z at the 1e-8 level
            np.testing.assert_allclose(ml * (a + b / (1 - beta)), direct**2, rtol=1e-6)


def _problem(galaxy, x, y, truth=(70.0, 0.1, 3.0), err=0.03):
    """Noise-free data at ``truth`` with fractional errors ``err``."""
    inc, beta, ml = truth
    vrms = jam_vrms(galaxy.mge, inc, beta, ml, galaxy.distance, galaxy.sigma_psf, galaxy.pixsize, x, y, SMALL)
    lik = Likelihood(vrms, err * vrms, np.zeros(vrms.size))
    return Priors(galaxy.q_obs, (0.5, 20.0)), lik


def test_spline_in_q_intr_reproduces_jampy_between_nodes(tmp_path):
    galaxy, (x, y) = _mge(), _positions()
    terms = LinearTerms(galaxy, x, y, SMALL)
    nodes, _ = compute_nodes(terms, np.linspace(0, 2**DEPTH, 9).astype(int), workers=0, progress=False)
    for inc in (58.0, 71.3, 84.9):
        a, b = jam_linear_terms(galaxy.mge, inc, galaxy.distance, galaxy.sigma_psf, galaxy.pixsize, x, y, SMALL)
        ai, bi = nodes.interpolate([inc])
        np.testing.assert_allclose(ai[0] + bi[0] / 0.8, a + b / 0.8, rtol=1e-3)


def test_exact_posterior_matches_a_brute_force_jampy_grid():
    """The exact posterior (adaptive nodes, interpolated A, B) against a grid posterior with a
    direct jampy call at every (inclination, beta_z) cell: moments within 0.05 sigma."""
    from fastjam.compare import run_grid
    from fastjam.jam import JAMModel

    galaxy, (x, y) = _mge(), _positions(8)
    priors, lik = _problem(galaxy, x, y, err=0.05)
    res = exact_posterior(LinearTerms(galaxy, x, y, SMALL), priors, lik, settings=ExactSettings(tol=0.01),
                          workers=0, progress=False)
    assert res.diagnostics["converged"] and res.diagnostics["n_jam_calls"] <= 60
    grid = Grid.over_prior(priors, 24, 10)
    m1, _ = run_grid(JAMModel(SMALL).bind(galaxy, x, y), *grid.nodes(priors), workers=0, progress=False)
    brute = grid_posterior(priors, lik, grid, m1)
    on_same = grid_posterior(priors, lik, grid, model_grid(res.nodes, priors, grid))
    np.testing.assert_allclose(on_same.log_mass, brute.log_mass, atol=1e-3)
    mean, sd = moments(res.grid_posterior)
    b_mean, b_sd = moments(brute)
    # the coarse brute-force grid has its own quadrature error: compare at 0.1 sigma
    np.testing.assert_array_less(np.abs(mean - b_mean) / sd, 0.1)
    np.testing.assert_array_less(np.abs(sd / b_sd - 1), 0.1)


def test_exact_posterior_recovers_the_truth_and_converges():
    galaxy, (x, y) = _mge(), _positions(8)
    priors, lik = _problem(galaxy, x, y, err=0.02)
    res = exact_posterior(LinearTerms(galaxy, x, y, SMALL), priors, lik, settings=ExactSettings(n_draws=4000),
                          workers=0, progress=False)
    d = res.diagnostics
    assert d["converged"] and max(d["interpolation_error"].values()) < 0.02
    assert d["n_jam_calls"] == 2 * d["n_nodes"] and d["edge_mass"] < 1e-3
    for name, true in zip(("inclination", "beta_z", "ml"), (70.0, 0.1, 3.0)):
        lo, hi = np.percentile(res.draws[name], [0.5, 99.5])
        assert lo < true < hi, name
    assert np.all(res.draws["beta_z"] <= priors.beta_max(res.draws["inclination"]) + 1e-12)


class _Kill(KeyboardInterrupt):
    """What a Ctrl-C or a dying worker raises: not an error of jampy, nothing to record."""


def test_killed_run_resumes_without_losing_a_jampy_call(monkeypatch, tmp_path):
    galaxy, (x, y) = _mge(), _positions(6)
    terms = LinearTerms(galaxy, x, y, SMALL)
    real, calls = exact_mod.jam_linear_terms, []

    def killed_after_three(mge, inclination, *args):
        if len(calls) == 3:
            raise _Kill
        calls.append(float(inclination))
        return real(mge, inclination, *args)

    monkeypatch.setattr(exact_mod, "jam_linear_terms", killed_after_three)
    indices = [0, 512, 1024, 2048, 3000, 4096]
    with pytest.raises(_Kill):
        compute_nodes(terms, indices, node_cache(terms, tmp_path), workers=0, progress=False)
    assert len(list(tmp_path.glob("node_*.npz"))) == 3 and not list(tmp_path.glob("*.tmp*"))
    done, calls[:] = list(calls), []
    monkeypatch.setattr(exact_mod, "jam_linear_terms", lambda *a: (calls.append(float(a[1])), real(*a))[1])
    nodes, info = compute_nodes(terms, indices, node_cache(terms, tmp_path), workers=0, progress=False)
    assert (info["n_cached"], info["n_computed"]) == (3, 3)
    assert not set(np.round(calls, 9)) & set(np.round(done, 9))
    direct = jam_linear_terms(galaxy.mge, nodes.inclination[1], galaxy.distance, galaxy.sigma_psf, galaxy.pixsize, x,
                              y, SMALL)
    np.testing.assert_allclose(nodes.a[1], direct[0], rtol=1e-12)
    with pytest.raises(ValueError, match="another galaxy"):
        node_cache(LinearTerms(galaxy, x[:5], y[:5], SMALL), tmp_path)


def test_unphysical_models_get_zero_posterior_mass():
    """Where A + B/(1 - beta_z) <= 0 in a bin (large beta_z, B < 0) the cell is excluded."""
    q_obs, p = 0.5, 4
    inc = np.array([65.0, 75.0, 90.0])
    q = np.sqrt(q_obs**2 - np.cos(np.radians(inc)) ** 2) / np.sin(np.radians(inc))
    a = np.full((3, p), 100.0)
    b = np.full((3, p), -60.0)  # A + B/(1 - beta) <= 0 for beta >= 0.4
    nodes = Nodes(q_obs, np.arange(3), q, inc, a, b)
    priors = Priors(q_obs, (0.5, 20.0))
    lik = Likelihood(np.full(p, 8.0), np.full(p, 1.0), np.zeros(p))
    grid = Grid.box(priors, (65.0, 90.0), (0.0, 1.0), 6, 10)
    post, unphysical = posterior_on_grid(nodes, priors, lik, grid, 32)
    _, beta = grid.nodes(priors)
    assert 0 < unphysical < 1
    assert np.all(post.weights[beta >= 0.4] == 0) and np.all(post.weights[beta < 0.39] > 0)


def test_bad_requests():
    galaxy, (x, y) = _sersic(), _positions(4)
    terms = LinearTerms(galaxy, x, y, SMALL)
    priors, lik = Priors(0.6), Likelihood(np.ones(4), np.ones(4), np.zeros(4))
    with pytest.raises(ValueError, match="tol"):
        ExactSettings(tol=0.0)
    with pytest.raises(ValueError, match="n_start"):
        ExactSettings(n_start=2)
    with pytest.raises(ValueError, match="n_start"):
        ExactSettings(n_start=20, max_nodes=10)
    with pytest.raises(ValueError, match="inclination range"):
        exact_posterior(terms, priors, lik, inclination_range=(20.0, 30.0), workers=0)
    with pytest.raises(ValueError, match="node indices"):
        compute_nodes(terms, [-1, 3], workers=0)
    nodes = Nodes(0.6, np.arange(2), np.array([0.3, 0.5]), np.array([70.0, 80.0]), np.ones((2, 4)), np.ones((2, 4)))
    with pytest.raises(ValueError, match="outside the nodes' range"):
        nodes.interpolate([85.0])
    with pytest.raises(ValueError, match="at least 2 nodes"):
        nodes.subset([0]).interpolate([70.0])
    with pytest.raises(ValueError, match="coherent error"):
        grid_posterior(priors, Likelihood(np.ones(4), np.ones(4), np.zeros(4), coherent_sigma=0.01),
                       Grid.over_prior(priors, 3, 3), np.ones((9, 4)))


def test_failed_jampy_node_is_a_clear_error(monkeypatch):
    galaxy, (x, y) = _sersic(), _positions(4)

    def broken(*args):
        raise RuntimeError("no convergence")

    monkeypatch.setattr(exact_mod, "jam_linear_terms", broken)
    with pytest.raises(ValueError, match="jampy failed at 2 node.*no convergence"):
        compute_nodes(LinearTerms(galaxy, x, y, SMALL), [0, 4096], workers=0, progress=False)


def _mge_config(tmp_path):
    """A configuration of the three-Gaussian MGE galaxy with noise-free data at 3% errors."""
    galaxy, (x, y) = _mge(), _positions(10)
    _, lik = _problem(galaxy, x, y, err=0.03)
    mge = galaxy.photometry
    np.savetxt(tmp_path / "mge.txt", np.column_stack([mge.surf, mge.sigma, mge.qobs]))
    np.savetxt(tmp_path / "bins.txt", np.column_stack([x, y, lik.vrms, lik.vrms_err]))
    (tmp_path / "galaxy.toml").write_text(
        '[galaxy]\nmge = "mge.txt"\ndistance = 15.0\nsigma_psf = 0.7\npixsize = 0.6\n[data]\npath = "bins.txt"\n'
        '[truth]\ninclination = 70.0\nbeta_z = 0.1\nml = 3.0\n')
    return tmp_path / "galaxy.toml"


def test_exact_reference_side_of_compare(tmp_path):
    """The exact posterior as `fastjam compare`'s JAM side, started on a window of inclination samples."""
    from fastjam.compare import report
    from fastjam.config import load_config
    from fastjam.exact_fit import run_jam_exact
    from fastjam.fit import build_problem

    problem = build_problem(load_config(_mge_config(tmp_path)), forward="jam")
    around = np.random.default_rng(1).normal(70.0, 2.0, 500)
    side = run_jam_exact(problem, SMALL, tmp_path / "out", workers=0, progress=False, around=around,
                         settings=ExactSettings(n_draws=4000))
    assert side.samples.shape == (4000, 3) and side.n_calls == 2 * side.diagnostics["n_nodes"]
    assert len(list((tmp_path / "out" / "jam_exact").glob("node_*.npz"))) == side.diagnostics["n_nodes"]
    lo, hi = side.diagnostics["window"]
    assert lo < 70.0 < hi and side.diagnostics["converged"]
    same = report(side, side, "exact", np.random.default_rng(0), energy_samples=200, energy_repeats=2)
    for c in same.parameters.values():
        assert c["shift_sigma"] == 0 and c["width_ratio"] == 1


def test_sampled_fit_refuses_the_jam_forward_model_and_names_the_exact_fit(tmp_path):
    """`fit` samples the emulator; the JAM posterior is computed exactly by `fit_exact`, never by emcee with jampy."""
    from fastjam.config import load_config
    from fastjam.fit import fit

    path = _mge_config(tmp_path)
    with pytest.raises(ValueError, match="fit_exact"):
        fit(load_config(path, {"forward.model": "jam"}))
    with pytest.raises(ValueError, match="fit_exact"):
        fit(load_config(path), forward="jam", backend="emcee")


@pytest.mark.slow
def test_fit_forward_jam_from_the_command_line_with_an_mge(tmp_path):
    """`fastjam fit --forward jam` on an MGE galaxy writes the outputs of an emulator fit."""
    import json

    from fastjam.cli import main

    _mge_config(tmp_path)
    out = tmp_path / "out"
    args = ["fit", str(tmp_path / "galaxy.toml"), "--forward", "jam", "--nrad", "10", "--nang", "6", "--workers", "0",
            "--cache", str(tmp_path / "nodes"), "--out", str(out), "--no-progress"]
    assert main(args) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["backend"] == "exact" and summary["forward"] == "jam" and summary["emulator_error_band"] is None
    assert set(summary["summary"]) == {"inclination", "beta_z", "ml", "q_intr", "log10_mass"}
    assert summary["diagnostics"]["converged"] and summary["n_evaluations"] == summary["diagnostics"]["n_jam_calls"] > 0
    for name in ("posterior.nc", "corner.png", "maps.png", "best_model.txt"):
        assert (out / name).exists(), name
    assert main(args) == 2  # the same --out again: refused (--out policy) ...
    assert main(args + ["--overwrite"]) == 0  # ... unless replaced; rerun: every node from the cache
    assert json.loads((out / "summary.json").read_text())["n_evaluations"] == 0
    assert main(args + ["--overwrite", "--set", "likelihood.clip_sigma=3.0"]) == 2  # refused with a one-line error


def test_importance_reference_recovers_the_exact_posterior_from_a_shifted_proposal(tmp_path):
    """Direct jampy calls reweight a proposal shifted by one sigma in inclination back to the exact
    posterior (medians within 4 Monte Carlo errors, PSIS k-hat < 0.7); a rerun reads every call from its cache,
    and a rerun with more draws computes only the new ones."""
    from fastjam.compare.importance import run_jam_importance
    from fastjam.compare.stats import parameter_stats
    from fastjam.config import load_config
    from fastjam.exact_fit import fit_exact
    from fastjam.fit import build_problem

    cfg = load_config(_mge_config(tmp_path))
    exact = fit_exact(cfg, jam_settings=SMALL, cache_dir=tmp_path / "nodes", workers=0, progress=False)
    problem = build_problem(cfg, forward="jam")
    phys = [np.asarray(exact.idata.posterior[p]).ravel() for p in ("inclination", "beta_z", "ml")]
    theta = problem.posterior.from_physical(*phys)
    shifted = theta + np.array([theta[:, 0].std(), 0.0, 0.0])
    kw = dict(n_draws=400, out=tmp_path / "is", workers=0, progress=False, seed=4, inflate=1.5)
    side = run_jam_importance(problem, SMALL, shifted, **kw)
    d = side.diagnostics
    assert d["n_computed"] == 400 and d["n_failed"] == 0 and d["khat"] < 0.7 and d["kish_ess"] > 60
    for k, values in enumerate(phys):
        ref = parameter_stats(values, values.size)
        got = parameter_stats(side.samples[:, k], side.ess["inclination"])
        assert abs(got["median"] - ref["median"]) < 4 * got["mc_error"], k
    again = run_jam_importance(problem, SMALL, shifted, **kw)
    assert again.diagnostics["n_computed"] == 0 and again.diagnostics["n_cached"] == 400
    np.testing.assert_array_equal(again.samples, side.samples)
    more = run_jam_importance(problem, SMALL, shifted, **dict(kw, n_draws=450))
    assert (more.diagnostics["n_computed"], more.diagnostics["n_cached"]) == (50, 400)
    with pytest.raises(ValueError, match="n_draws >= 100"):
        run_jam_importance(problem, SMALL, shifted, n_draws=10)


def test_exact_posterior_with_the_fixed_line_of_sight_rule_matches_jampys(tmp_path):
    """`[refine] los_nodes = 128` reaches the exact posterior, whose medians and widths match those with
    jampy's quadrature (the maps differ by ~1e-4 at most) to 2% of a posterior width."""
    from dataclasses import replace

    from fastjam.config import load_config
    from fastjam.exact_fit import fit_exact, refine_settings

    path = _mge_config(tmp_path)
    _, jam = refine_settings(load_config(path, {"refine.los_nodes": 128}))
    assert jam.los_nodes == 128
    with pytest.raises(ValueError, match="los_nodes = 5"):
        refine_settings(load_config(path, {"refine.los_nodes": 5}))
    cfg = load_config(path)
    kw = dict(workers=0, progress=False, settings=ExactSettings(n_draws=4000))
    fixed = fit_exact(cfg, jam_settings=replace(SMALL, los_nodes=128), cache_dir=tmp_path / "fixed", **kw)
    ref = fit_exact(cfg, jam_settings=SMALL, cache_dir=tmp_path / "jampy", **kw)
    for name in ("inclination", "beta_z", "ml"):
        a, b = (np.asarray(r.idata.posterior[name]).ravel() for r in (fixed, ref))
        assert abs(np.median(a) - np.median(b)) < 0.02 * b.std(), name
        assert a.std() == pytest.approx(b.std(), rel=0.02), name

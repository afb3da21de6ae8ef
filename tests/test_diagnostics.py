"""Model criticism: each warning on a mock built to trigger it, and no false alarm on the clean mocks."""
from pathlib import Path

import numpy as np
import pytest

from fastjam import diagnostics as dg
from fastjam.model import Priors
from fastjam.physics.mge import sersic_mge

ROOT = Path(__file__).resolve().parents[1]
CLEAN = [ROOT / "examples" / "example_galaxy" / "galaxy.toml"] + sorted((ROOT / "examples" / "mocks").glob("*/galaxy.toml"))


def _codes(findings):
    return {f.code for f in findings}


@pytest.fixture
def bins(rng):
    """A clean 200-bin map: x, y [arcsec], V_RMS and 4% errors [km/s]; R_e = 8 arcsec."""
    r = 20 * np.sqrt(rng.random(200))
    phi = rng.uniform(0, 2 * np.pi, 200)
    x, y = r * np.cos(phi), r * np.sin(phi)
    vrms = 250 / (1 + 0.02 * r)
    return x, y, vrms, 0.04 * vrms


def test_clean_bins_raise_nothing(bins):
    assert dg.check_data(*bins, r_e=8.0) == []


@pytest.mark.parametrize("mutate, code, severity", [
    (lambda x, y, v, e: (x, y, np.where(x > 0, v, -v), e), "vrms_not_positive", "error"),
    (lambda x, y, v, e: (x[:3], y[:3], v[:3], e[:3]), "too_few_bins", "error"),
    (lambda x, y, v, e: (x[:1], y[:1], v[:1], e[:1]), "too_few_bins", "error"),
    (lambda x, y, v, e: (x[:10], y[:10], v[:10], e[:10]), "few_bins", "warning"),
    (lambda x, y, v, e: tuple(np.r_[a, a] for a in (x, y, v, e)), "duplicate_positions", "warning"),
    (lambda x, y, v, e: (x, y, 1e3 * v, 1e3 * e), "vrms_scale", "warning"),
    (lambda x, y, v, e: (x, y, e, v), "errors_large", "warning"),
    (lambda x, y, v, e: (x, y, v, e / v * 0.01), "errors_small", "warning"),
    (lambda x, y, v, e: (x / 60, y / 60, v, e), "extent", "warning"),          # arcmin
    (lambda x, y, v, e: (x * 100, y * 100, v, e), "extent", "warning"),
    (lambda x, y, v, e: (x / 0.8 + 40, y / 0.8 + 40, v, e), "centre_offset", "warning"),
])
def test_each_data_check_fires_on_its_mock(bins, mutate, code, severity):
    found = {f.code: f for f in dg.check_data(*mutate(*bins), r_e=8.0)}
    assert code in found and found[code].severity == severity
    assert "\n" not in found[code].message


def _gof(scale, rng, n=200, draws=300, spread=0.3):
    """chi2 / predictive check of data drawn with errors ``err`` but analysed with ``scale * err``;
    posterior draws of the model shifted by ``spread`` errors."""
    model = np.linspace(150, 300, n)
    err = 0.04 * model
    data = model + err * rng.standard_normal(n)
    draw_models = model + spread * err * rng.standard_normal((draws, 1))
    return dg.goodness_of_fit(data, lambda m: (scale * err) ** 2 + 0 * m, model, draw_models, seed=1)


def test_goodness_of_fit_clean_errors_and_units(rng):
    gof = _gof(1.0, rng)
    assert gof.dof == 197 and abs(gof.chi2_per_dof - 1) < 0.2 and 0.01 < gof.ppc_p_value < 0.99
    assert dg.check_goodness(gof) == []
    high = _gof(0.2, rng)          # errors 5x too small (e.g. per cent of V_RMS taken as km/s)
    assert high.chi2_per_dof > 10 and high.ppc_p_value == 0 and _codes(dg.check_goodness(high)) == {"chi2_high"}
    low = _gof(8.0, rng)           # errors as variance
    assert low.chi2_per_dof < 0.05 and low.ppc_p_value == 1 and _codes(dg.check_goodness(low)) == {"chi2_low"}
    assert "per cent" in dg.check_goodness(high)[0].message and "variance" in dg.check_goodness(low)[0].message


def test_predictive_p_value_is_calibrated(rng):
    """With the model known exactly the p-value is uniform: 200 replications, tolerance 0.1 on the mean."""
    p = [_gof(1.0, rng, n=50, draws=100, spread=0.0).ppc_p_value for _ in range(200)]
    assert abs(np.mean(p) - 0.5) < 0.1 and np.mean(np.array(p) < 0.05) < 0.15


def test_prior_bound_warning_names_the_bound(rng):
    priors = Priors(q_obs=0.65, ml_range=(0.5, 20.0))
    inc = rng.uniform(60, 70, 4000)
    beta = np.full(4000, 0.05)
    assert dg.check_prior_bounds(priors, inc, beta, rng.uniform(3, 5, 4000)) == []
    piled = dg.check_prior_bounds(priors, inc, beta, 20.0 * np.exp(-np.abs(rng.normal(0, 0.01, 4000))))
    assert _codes(piled) == {"bound_ml_upper"} and "upper bound 20" in piled[0].message
    low = dg.check_prior_bounds(priors, inc, np.full(4000, priors.beta_z_min + 1e-4), rng.uniform(3, 5, 4000))
    assert _codes(low) == {"bound_beta_z_lower"}


def test_convergence_and_strict():
    good = dict(r_hat=1.01, ess_bulk=900.0)
    assert dg.check_convergence({"inclination": good, "beta_z": good, "ml": good}) == []
    bad = dg.check_convergence({"inclination": dict(r_hat=1.3, ess_bulk=40.0), "beta_z": good, "ml": good})
    assert _codes(bad) == {"not_converged"} and "inclination" in bad[0].message
    warning = dg.Finding("few_bins", "warning", "only 10 bins")
    dg.raise_on([warning])                                   # logged only
    with pytest.raises(ValueError, match="--strict"):
        dg.raise_on([warning], strict=True)
    with pytest.raises(ValueError, match="V_RMS <= 0"):
        dg.raise_on([dg.Finding("vrms_not_positive", "error", "V_RMS <= 0")])


@pytest.mark.parametrize("config", CLEAN, ids=lambda p: p.parent.name)
def test_no_false_alarm_on_the_clean_mocks(config):
    """Data checks, and chi2 and the predictive check at the MAP point, of the bundled mocks."""
    from fastjam.config import load_config
    from fastjam.fit import build_problem, find_map

    problem = build_problem(load_config(config))
    assert dg.data_findings(problem) == []
    theta = find_map(problem, n_starts=1)
    inc, beta, ml, _ = problem.priors.transform(theta)
    model = np.asarray(problem.vrms_fn(inc, beta, ml), dtype=float)
    gof = dg.goodness_of_fit(problem.vrms, lambda m: np.asarray(problem.likelihood.variance(m)), model,
                             model[None, :], seed=0)
    assert dg.check_goodness(gof) == [] and 0.5 < gof.chi2_per_dof < 2


@pytest.mark.slow
@pytest.mark.parametrize("config", CLEAN, ids=lambda p: p.parent.name)
def test_full_fit_of_each_clean_mock_has_no_warning(config):
    """The whole fit with the configured sampler: goodness, bounds and convergence all quiet."""
    from fastjam.config import load_config
    from fastjam.fit import fit

    result = fit(load_config(config), progress=False)
    assert result.checks.findings == [], [str(f) for f in result.checks.findings]


def test_model_error_warning_names_the_emulator_and_data_errors(bins):
    """The emulator's error model dominating the likelihood's variance is a warning with both sizes; the
    shipped Sérsic emulator's size of error (0.3% per bin, 0.06% coherent) against 4% data errors is not."""
    _, _, vrms, err = bins
    assert dg.check_model_error(np.full(vrms.size, 0.003), 0.0006, vrms, err) == []
    (finding,) = dg.check_model_error(np.full(vrms.size, 0.04), 0.01, vrms, err)
    assert finding.code == "emulator_error" and finding.severity == "warning"
    assert "emulator 4.12% of V_RMS, data 4.00%" in finding.message and "--refine" in finding.message
    assert dg.check_model_error(np.full(vrms.size, 0.035), 0.0, vrms, err) == []  # share 43% < 50%


def test_novelty_warning_names_the_errors_of_held_out_maps_that_far():
    from fastjam.emulator.novelty import Novelty

    assert dg.check_novelty(None) == []
    assert dg.check_novelty(Novelty(5.0, 70.0, 60.0, 0.007, 0.012, 0.005)) == []
    (finding,) = dg.check_novelty(Novelty(12.0, 65.0, 93.2, 0.0197, 0.0559, 0.0054))
    assert finding.code == "emulator_novelty" and finding.severity == "warning"
    assert "than 93% of its held-out maps (at i = 65 deg)" in finding.message
    assert "1.97% (median) to 5.59% (90th pct), against 0.54%" in finding.message and "--refine" in finding.message
    assert "biased beyond the error model" in finding.message
    band = {"percentiles": [90.0, 97.0], "error_model": {"radius_re": [0.0, 3.0], "frac_rms": [0.02]}}
    (finding,) = dg.check_novelty(Novelty(12.0, 65.0, 93.2, 0.0197, 0.0559, 0.0054, band))
    assert "the likelihood's error model is raised to that of held-out maps as far as the galaxy" in finding.message


def test_novelty_of_real_mges_under_a_sauron_set_up():
    """Under a SAURON-like set-up (PSF FWHM 1.5", 0.8" spaxels) the shipped general emulator flags M32 where
    it is farthest from its training maps (beyond 90% of the held-out maps), while NGC 5831, a truncated MGE
    like those it was trained on (V_RMS 0.3-0.9% RMS off jampy, docs/general_emulator.md), lies among
    typical maps (below the 50th percentile), and so does a single de Vaucouleurs galaxy (q_obs 0.7, one of
    the family's kinds) under the same set-up at 70 deg."""
    import sys

    from fastjam.emulator import Emulator
    from fastjam.emulator.store import default_path
    from fastjam.galaxy import Galaxy

    if not (default_path("general") / "emulator.npz").exists():
        pytest.skip("no general emulator")
    sys.path.insert(0, str(ROOT / "bench"))
    from real_galaxies import GALAXIES, PIXSIZE, SIGMA_PSF, load_mge

    emulator = Emulator.load(kind="general")
    curves = {n: emulator.novelty(Galaxy(load_mge(n), GALAXIES[n], SIGMA_PSF, PIXSIZE)) for n in GALAXIES}
    pct = {n: [c.at(i).percentile for i in c.inclinations] for n, c in curves.items()}
    assert max(pct["m32"]) > 90 and max(pct["ngc5831"]) < 50, pct
    sersic = Galaxy(sersic_mge(4.0, 0.7, r_e=10.0, l_tot=1e10, distance=20.0), 20.0, SIGMA_PSF, PIXSIZE)
    typical = emulator.novelty(sersic).at(70.0)
    assert typical.percentile < 90 and dg.check_novelty(typical) == []
    curve = curves["m32"]
    m32 = curve.at(curve.inclinations[int(np.argmax(curve.distances))])
    assert [f.code for f in dg.check_novelty(m32)] == ["emulator_novelty"]
    # a fit of each takes the error model of held-out maps (untruncated and truncated) of its median novelty over
    # the prior's inclinations: beyond the 75th percentile for M32, the 90th for NGC 4342, both larger than the
    # card's overall one at nearly every radius; the 0-50th for NGC 5831 and the de Vaucouleurs galaxy
    from fastjam.fit import error_band
    from fastjam.model import emulator_coherent_error, emulator_error_at

    radius = np.linspace(0.0, 3.0, 31)
    assert error_band(curves["ngc5831"])["percentiles"] == [0.0, 50.0]
    for name in ("m32", "ngc4342"):
        band = error_band(curves[name])
        assert band["percentiles"][0] >= (75 if name == "m32" else 90), (name, band["percentiles"])
        raised, overall = emulator_error_at(emulator.card, radius, band), emulator_error_at(emulator.card, radius)
        assert np.all(raised >= overall) and np.mean(raised > overall) > 0.9, name
        assert emulator_coherent_error(emulator.card, band) > emulator_coherent_error(emulator.card)
    assert error_band(None) is None and error_band(emulator.novelty(sersic))["percentiles"] == [0.0, 50.0]

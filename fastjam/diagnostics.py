"""Model criticism of a V_RMS fit: goodness of fit, a posterior predictive check and warnings.

The checks are plain functions of arrays and posterior draws, so a fit, a survey table or a
notebook can call them alike. Each one returns :class:`Finding` records: one line naming the
symptom, the likely cause and the fix, with a severity (``"error"`` stops a fit; ``"warning"``
becomes an error only under ``--strict``; :mod:`fastjam.findings`). The checks of the input
before sampling (data, the emulator's error model and novelty) are in :mod:`fastjam.input_checks`
and re-exported here. The thresholds are the module constants, documented in
``docs/diagnostics.md``.

References: Gelman, Meng & Stern (1996, Statistica Sinica 6, 733) for the posterior predictive
check of the chi^2 discrepancy; Vehtari et al. (2021, Bayesian Analysis 16, 667) for R-hat and
the effective sample size.
"""
import logging
from dataclasses import dataclass, field

import numpy as np

from .findings import Finding, raise_on  # noqa: F401  (the fit's API: diagnostics.Finding, raise_on)
from .input_checks import (MIN_BINS_WARN, N_PARAMETERS, check_data, check_model_error,  # noqa: F401
                           check_novelty, data_findings)

log = logging.getLogger(__name__)

#: chi^2 per degree of freedom outside [low, high] AND a predictive p-value outside
#: [P_VALUE_MIN, 1 - P_VALUE_MIN] is a warning (both, so small samples do not cry wolf).
CHI2_PER_DOF_RANGE = (0.5, 2.0)
P_VALUE_MIN = 0.001
#: A bound is "piled on" when more than BOUND_MASS of the draws lie within BOUND_WIDTH (a
#: fraction of the prior range, per parameter) of it.
BOUND_WIDTH = 0.02
BOUND_MASS = 0.2
#: Convergence targets on inclination, beta_z and M/L.
RHAT_MAX = 1.05
ESS_MIN = 100
#: Posterior draws used by the predictive check (a JAM forward model uses at most JAM_DRAWS).
PPC_DRAWS = 200
JAM_DRAWS = 20


@dataclass
class GoodnessOfFit:
    """chi^2 at the best fit and the posterior predictive check.

    Attributes
    ----------
    chi2 : float
        :math:`\\chi^2 = \\sum_k (d_k - m_k)^2/\\sigma_k^2` at the best fit, with the
        likelihood's variance (errors, emulator error, systematic term).
    n_bins, dof : int
        Bins and degrees of freedom, ``n_bins - 3``.
    chi2_per_dof : float
    ppc_p_value : float
        Fraction of posterior draws whose replicated data have a larger chi^2 than the
        observed data, :math:`p = P(\\chi^2(y^{\\rm rep}, \\theta) \\ge \\chi^2(y, \\theta) | y)`.
    ppc_chi2_observed, ppc_chi2_replicated : float
        Medians over the draws of the observed and replicated chi^2.
    ppc_draws : int
    """

    chi2: float
    n_bins: int
    dof: int
    chi2_per_dof: float
    ppc_p_value: float
    ppc_chi2_observed: float
    ppc_chi2_replicated: float
    ppc_draws: int

    def to_dict(self):
        return dict(self.__dict__)

    def line(self):
        return (f"chi2 = {self.chi2:.4g} for {self.n_bins} bins, {self.dof} degrees of freedom (bins - 3 "
                f"parameters): chi2/dof = {self.chi2_per_dof:.3g}; posterior predictive p = {self.ppc_p_value:.3g} "
                f"({self.ppc_draws} draws)")


@dataclass
class FitChecks:
    """Goodness of fit and every finding of one fit."""

    goodness: GoodnessOfFit
    findings: list = field(default_factory=list)

    @property
    def warnings(self):
        return [f for f in self.findings if f.severity == "warning"]

    def to_dict(self):
        return dict(goodness_of_fit=self.goodness.to_dict(),
                    warnings=[dict(code=f.code, severity=f.severity, message=f.message) for f in self.findings])

    def lines(self):
        return [self.goodness.line()] + [str(f) for f in self.findings]


# --------------------------------------------------------------------------------------------
# Checks of a posterior
# --------------------------------------------------------------------------------------------

def goodness_of_fit(vrms, variance, best_model, draw_models, seed=0):
    """chi^2 at the best fit and the chi^2 posterior predictive check.

    Parameters
    ----------
    vrms : ndarray, shape (n,)
        Data in km/s.
    variance : callable
        ``variance(model) -> (..., n)`` likelihood variance in (km/s)^2 for model V_RMS.
    best_model : ndarray, shape (n,)
        Model at the best fit, km/s.
    draw_models : ndarray, shape (s, n)
        Models at ``s`` posterior draws, km/s.
    seed : int
        Seed of the replicated noise.

    Returns
    -------
    GoodnessOfFit
    """
    vrms = np.asarray(vrms, dtype=float)
    n = vrms.size
    chi2 = float(np.sum((vrms - best_model) ** 2 / variance(best_model)))
    dof = max(n - N_PARAMETERS, 1)
    var = variance(draw_models)
    rng = np.random.default_rng(seed)
    replicated = draw_models + np.sqrt(var) * rng.standard_normal(draw_models.shape)
    chi2_obs = np.sum((vrms - draw_models) ** 2 / var, axis=-1)
    chi2_rep = np.sum((replicated - draw_models) ** 2 / var, axis=-1)
    return GoodnessOfFit(chi2, n, dof, chi2 / dof, float(np.mean(chi2_rep >= chi2_obs)), float(np.median(chi2_obs)),
                         float(np.median(chi2_rep)), int(len(draw_models)))


def check_goodness(gof):
    """A warning when chi^2/dof is far from 1 and the predictive check agrees."""
    low, high = CHI2_PER_DOF_RANGE
    if gof.chi2_per_dof > high and gof.ppc_p_value < P_VALUE_MIN:
        return [Finding("chi2_high", "warning", f"chi2/dof = {gof.chi2_per_dof:.3g} (> {high:g}, predictive p = "
                        f"{gof.ppc_p_value:.2g}): the model cannot fit the data; likely causes: errors too small "
                        "(in per cent of V_RMS?), positions or distance in the wrong units, a wrong position angle "
                        "(radians?), signed V instead of V_RMS; otherwise add [likelihood] systematic")]
    if gof.chi2_per_dof < low and gof.ppc_p_value > 1 - P_VALUE_MIN:
        return [Finding("chi2_low", "warning", f"chi2/dof = {gof.chi2_per_dof:.3g} (< {low:g}, predictive p = "
                        f"{gof.ppc_p_value:.3g}): errors too large; likely causes: errors given as variances or in "
                        "the wrong units, V_RMS and error columns swapped, or duplicated bins; check eVrms")]
    return []


#: Per parameter and bound: what the bound is and the usual reason a posterior piles on it.
BOUND_CAUSES = {
    ("ml", "lower"): "L_tot or distance too large (L_tot in Lsun, not log10; distance in Mpc, not kpc) or V_RMS "
                     "too low; otherwise lower [priors] ml",
    ("ml", "upper"): "L_tot or distance too small (L_tot as log10? distance in kpc or Gpc?) or V_RMS too high; "
                     "otherwise raise [priors] ml",
    ("inclination", "lower"): "the map wants a flatter galaxy than q_obs allows: check q_obs, the position angle "
                              "and the photometry",
    ("inclination", "upper"): "edge-on: fine for an edge-on galaxy; else check the position angle",
    ("beta_z", "lower"): "lower [priors] beta_z_min, or check the position angle and the PSF",
    ("beta_z", "upper"): "the bound 0.7 eps_intr is the training prior's; check the position angle and the PSF "
                         "(FWHM given as sigma?)",
}


def prior_coordinates(priors, inclination, beta_z, ml):
    """Position of draws in their prior ranges, each in [0, 1] (beta_z relative to its i-dependent range).

    Returns
    -------
    dict
        ``inclination``, ``beta_z``, ``ml`` -> ndarray like the input; and ``bounds``, the
        lower and upper bound of each parameter (beta_z's upper one at the median inclination).
    """
    i0 = priors.inclination_min
    b_max = priors.beta_max(inclination)
    lo, hi = priors.ml_range
    u_ml = np.log(ml / lo) / np.log(hi / lo) if priors.ml_log_uniform else (ml - lo) / (hi - lo)
    bounds = dict(inclination=(i0, 90.0), beta_z=(priors.beta_z_min, float(np.median(b_max))), ml=(lo, hi))
    return dict(inclination=(inclination - i0) / (90.0 - i0), beta_z=(beta_z - priors.beta_z_min)
                / (b_max - priors.beta_z_min), ml=u_ml, bounds=bounds)


def check_prior_bounds(priors, inclination, beta_z, ml):
    """A warning per bound holding more than ``BOUND_MASS`` of the draws within ``BOUND_WIDTH`` of it."""
    coords = prior_coordinates(priors, *(np.ravel(a) for a in (inclination, beta_z, ml)))
    out = []
    for name in ("inclination", "beta_z", "ml"):
        u = coords[name]
        for side, near, value in (("lower", u < BOUND_WIDTH, coords["bounds"][name][0]),
                                  ("upper", u > 1 - BOUND_WIDTH, coords["bounds"][name][1])):
            mass = float(np.mean(near))
            if mass > BOUND_MASS:
                out.append(Finding(f"bound_{name}_{side}", "warning", f"{mass:.0%} of the posterior of {name} lies "
                                   f"within {BOUND_WIDTH:.0%} of the prior range of its {side} bound {value:.3g}: "
                                   f"{BOUND_CAUSES[name, side]}"))
    return out


def check_convergence(summary, names=("inclination", "beta_z", "ml")):
    """A warning when R-hat > ``RHAT_MAX`` or the bulk ESS < ``ESS_MIN`` for a parameter."""
    bad = [f"{n} (R-hat {summary[n]['r_hat']:.3f}, ESS {summary[n]['ess_bulk']:.0f})" for n in names
           if n in summary and not (summary[n]["r_hat"] <= RHAT_MAX and summary[n]["ess_bulk"] >= ESS_MIN)]
    if not bad:
        return []
    return [Finding("not_converged", "warning", f"not converged: {', '.join(bad)}; targets R-hat <= {RHAT_MAX:g}, "
                    f"ESS >= {ESS_MIN}: run longer ([sampler] steps for emcee, warmup and samples for numpyro)")]


# --------------------------------------------------------------------------------------------
# A whole fit
# --------------------------------------------------------------------------------------------

def diagnose_fit(result, n_draws=PPC_DRAWS, seed=0):
    """Goodness of fit, predictive check and every finding of a :class:`~fastjam.fit.FitResult`.

    Parameters
    ----------
    result : FitResult
    n_draws : int
        Posterior draws for the predictive check (at most ``JAM_DRAWS`` with the JAM model).
    seed : int

    Returns
    -------
    FitChecks
    """
    problem = result.problem
    post = result.idata.posterior
    inc, beta, ml = (np.asarray(post[name], dtype=float).ravel() for name in ("inclination", "beta_z", "ml"))
    rng = np.random.default_rng(seed)
    jam = problem.xp is np
    idx = rng.choice(inc.size, min(n_draws, JAM_DRAWS if jam else n_draws, inc.size), replace=False)
    models = problem.posterior.vrms_draws(inc[idx], beta[idx], ml[idx])
    gof = goodness_of_fit(problem.vrms, lambda m: np.asarray(problem.likelihood.variance(m), dtype=float),
                          result.best_model(), models, seed)
    novelty = problem.novelty.at(float(np.median(inc))) if getattr(problem, "novelty", None) else None
    findings = (data_findings(problem) + check_goodness(gof) + check_prior_bounds(problem.priors, inc, beta, ml)
                + check_convergence(result.summary) + check_novelty(novelty))
    return FitChecks(gof, findings)


class ChecksFailed(ValueError):
    """Warnings of a finished fit under ``strict``; ``result`` keeps the fit so it can be saved."""

    def __init__(self, message, result):
        super().__init__(message)
        self.result = result


def report(result, logged=(), strict=False):
    """Log the findings of ``result.checks`` not already in ``logged``; under ``strict`` raise
    :class:`ChecksFailed` if there is any warning."""
    log.info("%s", result.checks.goodness.line())
    for f in result.checks.findings:
        if f not in logged:
            log.warning("%s", f.message)
    if strict and result.checks.warnings:
        raise ChecksFailed("; ".join(f.message for f in result.checks.warnings) + " (--strict: warnings are errors)",
                           result)

"""Model criticism of a V_RMS fit: goodness of fit, a posterior predictive check and warnings.

The checks are plain functions of arrays and posterior draws, so a fit, a survey table or a
notebook can call them alike. Each one returns :class:`Finding` records: one line naming the
symptom, the likely cause and the fix, with a severity (``"error"`` stops a fit; ``"warning"``
becomes an error only under ``--strict``). The thresholds are the module constants below and
are documented in ``docs/diagnostics.md``.

References: Gelman, Meng & Stern (1996, Statistica Sinica 6, 733) for the posterior predictive
check of the chi^2 discrepancy; Vehtari et al. (2021, Bayesian Analysis 16, 667) for R-hat and
the effective sample size.
"""
import logging
from dataclasses import dataclass, field

import numpy as np

log = logging.getLogger(__name__)

#: chi^2 per degree of freedom outside [low, high] AND a predictive p-value outside
#: [P_VALUE_MIN, 1 - P_VALUE_MIN] is a warning (both, so small samples do not cry wolf).
CHI2_PER_DOF_RANGE = (0.5, 2.0)
P_VALUE_MIN = 0.001
#: A fit of the 3 parameters needs more bins than this (error); fewer than MIN_BINS_WARN warns.
N_PARAMETERS = 3
MIN_BINS_WARN = 20
#: Two bins closer than this (arcsec) are duplicates.
DUPLICATE_TOLERANCE = 1e-4
#: Plausible median V_RMS of a galaxy, km/s.
VRMS_RANGE = (10.0, 1000.0)
#: Plausible median error / V_RMS (below: errors as a fraction or in per cent of V_RMS as
#: km/s is too small to be real; above: columns swapped or errors as variances).
ERROR_FRACTION_RANGE = (0.002, 0.5)
#: Plausible radius of the outermost bin in R_e, and largest centroid offset of the bins as a
#: fraction of that radius.
EXTENT_RE_RANGE = (0.2, 8.0)
MAX_CENTRE_OFFSET = 0.5
#: A bound is "piled on" when more than BOUND_MASS of the draws lie within BOUND_WIDTH (a
#: fraction of the prior range, per parameter) of it.
BOUND_WIDTH = 0.02
BOUND_MASS = 0.2
#: Convergence targets on inclination, beta_z and M/L.
RHAT_MAX = 1.05
ESS_MIN = 100
#: The emulator's error model taking more than this share of the likelihood's variance (median
#: over bins) means the posterior's width is the emulator's, not the data's.
MODEL_ERROR_SHARE = 0.5
#: Posterior draws used by the predictive check (a JAM forward model uses at most JAM_DRAWS).
PPC_DRAWS = 200
JAM_DRAWS = 20


@dataclass(frozen=True)
class Finding:
    """One diagnostic message.

    Attributes
    ----------
    code : str
        Short identifier, e.g. ``"chi2_high"``.
    severity : {"warning", "error"}
    message : str
        One line: the symptom, the likely cause and the fix.
    """

    code: str
    severity: str
    message: str

    def __str__(self):
        return f"{self.severity}: {self.message}"


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
# Checks of the data, before any sampling
# --------------------------------------------------------------------------------------------

def check_data(x, y, vrms, vrms_err, r_e=None):
    """Findings about binned data on their own.

    Parameters
    ----------
    x, y : ndarray, shape (n,)
        Bin positions in arcsec (x along the major axis).
    vrms, vrms_err : ndarray, shape (n,)
        V_RMS and its 1-sigma error in km/s.
    r_e : float, optional
        Effective radius of the photometry in arcsec (enables the extent check).

    Returns
    -------
    list of Finding
    """
    x, y, vrms, err = (np.asarray(a, dtype=float) for a in (x, y, vrms, vrms_err))
    out = []
    bad = vrms <= 0
    if bad.any():
        out.append(Finding("vrms_not_positive", "error", f"{bad.sum()} of {vrms.size} bins have V_RMS <= 0 (first "
                           f"{vrms[bad][0]:g} km/s): V_RMS = sqrt(V^2 + sigma^2) is positive; a signed velocity V was "
                           "probably given in the V_RMS column"))
    n = vrms.size
    if n <= N_PARAMETERS:
        out.append(Finding("too_few_bins", "error", f"{n} bins cannot constrain the {N_PARAMETERS} parameters "
                           f"(inclination, beta_z, M/L): give at least {N_PARAMETERS + 1}"))
    elif n < MIN_BINS_WARN:
        out.append(Finding("few_bins", "warning", f"only {n} bins (< {MIN_BINS_WARN}): inclination and beta_z will be "
                           "prior-dominated; check the table was read whole, or bin less coarsely"))
    out += _check_duplicates(x, y)
    out += _check_scales(vrms[~bad], err[~bad])
    if r_e is not None:
        out += _check_extent(x, y, r_e)
    return out


def _check_duplicates(x, y):
    key = np.round(np.column_stack([x, y]) / DUPLICATE_TOLERANCE)
    n_unique = np.unique(key, axis=0).shape[0]
    if n_unique == x.size:
        return []
    return [Finding("duplicate_positions", "warning", f"{x.size - n_unique} of {x.size} bins repeat the position of "
                    "another bin: duplicated rows (concatenated tables?) count those data twice; remove them")]


def _check_scales(vrms, err):
    if vrms.size == 0:
        return []
    out = []
    med = float(np.median(vrms))
    if not VRMS_RANGE[0] <= med <= VRMS_RANGE[1]:
        out.append(Finding("vrms_scale", "warning", f"median V_RMS = {med:.4g} km/s is outside the plausible "
                           f"{VRMS_RANGE[0]:g}-{VRMS_RANGE[1]:g} km/s: V_RMS in m/s, or the error column in its place?"))
    frac = float(np.median(err / vrms))
    if frac > ERROR_FRACTION_RANGE[1]:
        out.append(Finding("errors_large", "warning", f"median error / V_RMS = {frac:.3g} (> "
                           f"{ERROR_FRACTION_RANGE[1]:g}): V_RMS and error columns swapped, or errors given as variances?"))
    elif frac < ERROR_FRACTION_RANGE[0]:
        out.append(Finding("errors_small", "warning", f"median error / V_RMS = {frac:.3g} (< "
                           f"{ERROR_FRACTION_RANGE[0]:g}): errors as a fraction of V_RMS instead of km/s?"))
    return out


def _check_extent(x, y, r_e):
    r = np.hypot(x, y)
    out = []
    extent = float(r.max() / r_e) if r.size else 0.0
    if not EXTENT_RE_RANGE[0] <= extent <= EXTENT_RE_RANGE[1]:
        out.append(Finding("extent", "warning", f"the outermost bin is at {extent:.3g} R_e (R_e = {r_e:.3g} arcsec), "
                           f"outside the plausible {EXTENT_RE_RANGE[0]:g}-{EXTENT_RE_RANGE[1]:g} R_e: positions not "
                           "in arcsec (kpc, pixels?) or R_e in other units"))
    if r.size > 1 and r.max() > 0:
        offset = float(np.hypot(np.mean(x), np.mean(y)) / r.max())
        if offset > MAX_CENTRE_OFFSET:
            out.append(Finding("centre_offset", "warning", f"the bins' centroid is {offset:.2f} of the field radius "
                               f"from the galaxy centre (> {MAX_CENTRE_OFFSET:g}): positions must be offsets from the "
                               "galaxy centre, not absolute pixel or sky coordinates"))
    return out


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


def raise_on(findings, strict=False):
    """Log every finding; raise ``ValueError`` on errors (and on warnings when ``strict``)."""
    fatal = [f for f in findings if f.severity == "error" or strict]
    for f in findings:
        if f not in fatal:
            log.warning("%s", f.message)
    if fatal:
        extra = " (--strict: warnings are errors)" if strict and any(f.severity == "warning" for f in fatal) else ""
        raise ValueError("; ".join(f.message for f in fatal) + extra)


# --------------------------------------------------------------------------------------------
# A whole fit
# --------------------------------------------------------------------------------------------

def data_findings(problem):
    """:func:`check_data` of a fit's problem (R_e from the Sérsic or, for an MGE, jampy's half-light isophote)
    and :func:`check_model_error` of its likelihood."""
    lik, n = problem.posterior.likelihood, len(problem.vrms)
    from .photometry import effective_radius

    return check_data(problem.x, problem.y, problem.vrms, problem.vrms_err, effective_radius(problem.galaxy)) + \
        check_model_error(np.asarray(lik.frac_model_err)[:n], lik.coherent_sigma, problem.vrms, problem.vrms_err)


def check_model_error(frac_model_err, coherent_sigma, vrms, vrms_err):
    """Warn when the emulator's error model, not the data, sets the likelihood's variance.

    The share of bin k is (e_k^2 + c^2) / (e_k^2 + c^2 + (err_k/V_k)^2), with e_k the radial
    model error and c the coherent one (fractions of V_RMS, from the emulator's card); a median
    share above ``MODEL_ERROR_SHARE`` is a warning naming both sizes.
    """
    model = np.asarray(frac_model_err, dtype=float) ** 2 + float(coherent_sigma) ** 2
    data = (np.asarray(vrms_err, dtype=float) / np.asarray(vrms, dtype=float)) ** 2
    if model.size == 0 or not np.all(np.isfinite(data)):
        return []
    share = float(np.median(model / (model + data)))
    if share <= MODEL_ERROR_SHARE:
        return []
    return [Finding("emulator_error", "warning", f"the emulator's error model is {share:.0%} of the likelihood's "
                    f"variance (median bin: emulator {np.sqrt(np.median(model)):.2%} of V_RMS, data "
                    f"{np.sqrt(np.median(data)):.2%}): the posterior is as wide as the emulator's accuracy, not the "
                    "data's; refine with JAM (fastjam fit --refine) for the JAM-exact posterior")]


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
    findings = (data_findings(problem) + check_goodness(gof) + check_prior_bounds(problem.priors, inc, beta, ml)
                + check_convergence(result.summary))
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

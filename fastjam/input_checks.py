"""Checks of a fit's input before any sampling: the binned data, the emulator's error model and how far
the galaxy lies from a general emulator's training maps.

Each check returns :class:`~fastjam.findings.Finding` records; the thresholds are the constants
below, documented in ``docs/diagnostics.md``. :func:`data_findings` runs them all on a fit's
problem.
"""
import numpy as np

from .findings import Finding

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
#: The emulator's error model taking more than this share of the likelihood's variance (median
#: over bins) means the posterior's width is the emulator's, not the data's.
MODEL_ERROR_SHARE = 0.5
#: A galaxy farther from a general emulator's training maps than this percentile of its held-out
#: maps is warned about (fastjam.emulator.novelty).
NOVELTY_PERCENTILE = 90.0


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


def data_findings(problem):
    """:func:`check_data` of a fit's problem (R_e from the Sérsic or, for an MGE, jampy's half-light isophote)
    and :func:`check_model_error` of its likelihood."""
    lik, n = problem.posterior.likelihood, len(problem.vrms)
    from .photometry import effective_radius

    return check_data(problem.x, problem.y, problem.vrms, problem.vrms_err, effective_radius(problem.galaxy)) + \
        check_model_error(np.asarray(lik.frac_model_err)[:n], lik.coherent_sigma, problem.vrms, problem.vrms_err)


def check_novelty(novelty):
    """Warn when a galaxy lies farther from the emulator's training maps than NOVELTY_PERCENTILE of its
    held-out maps (a :class:`fastjam.emulator.novelty.Novelty`, at the inclination the fit found), with
    the errors the held-out maps show there."""
    if novelty is None or novelty.percentile <= NOVELTY_PERCENTILE:
        return []
    model = ("the likelihood's error model is raised to that of held-out maps as far as the galaxy's median over "
             "its prior, but errors that far vary widely from map to map" if (novelty.band or {}).get("error_model")
             else "the fit may be biased beyond the error model")
    return [Finding("emulator_novelty", "warning", f"the galaxy lies farther from the emulator's training maps "
                    f"than {novelty.percentile:.0f}% of its held-out maps (at i = {novelty.inclination:.0f} deg): "
                    f"held-out maps that far have RMS errors of {novelty.rms_median:.2%} (median) to "
                    f"{novelty.rms_p90:.2%} (90th pct), against {novelty.card_rms_median:.2%} for all; {model}: "
                    "refine with JAM (fastjam fit --refine)")]


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

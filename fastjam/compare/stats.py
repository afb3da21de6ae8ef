"""Statistics of posteriors against a reference or against the truth.

* One posterior against another (the emulator's against JAM's): per parameter the median,
  16/84 percentiles and their Monte Carlo errors (:func:`parameter_stats`), the shift of the
  medians in units of the reference sigma and the width ratio with their errors
  (:func:`compare_parameter`), and a two-sample energy distance of the joint posteriors with
  its null expectation (:func:`energy_test`).
* Many posteriors against their known truths (mocks): the coverage of the central 68% and
  95% intervals with binomial errors, the rank of the truth in its posterior (uniform for a
  calibrated posterior; KS test) and the mean offset of the median in posterior sigmas
  (:func:`coverage_table`, used by ``bench/coverage.py``).
"""
import math

import numpy as np

from ..model import PARAMETERS

#: Standard error of a median in units of sigma / sqrt(ESS) (Gaussian posterior).
MEDIAN_MC_FACTOR = math.sqrt(math.pi / 2)
#: Relative standard error of a 16-84 percentile width times sqrt(ESS) (Gaussian posterior).
WIDTH_MC_FACTOR = 0.964
#: Credible levels of :func:`coverage_table` and the percentiles bounding each central interval.
COVERAGE_LEVELS = {0.68: ("p16", "p84"), 0.95: ("p2.5", "p97.5")}
#: Percentiles a row of :func:`coverage_table` gives per parameter (:func:`posterior_row`).
ROW_PERCENTILES = {"p2.5": 2.5, "p16": 16, "median": 50, "p84": 84, "p97.5": 97.5}


def parameter_stats(values, ess):
    """Median, 16/84 percentiles, sigma (half the 16-84 width), ESS and MC error of the median.

    The MC error is :math:`\\sqrt{\\pi/2}\\,\\sigma/\\sqrt{\\rm ESS}`, the standard error of the
    median of ESS independent draws from a Gaussian.
    """
    values = np.asarray(values, dtype=float).ravel()
    if values.size < 2 or not np.all(np.isfinite(values)):
        raise ValueError("posterior samples must be at least two finite values")
    ess = float(ess)
    if not ess > 0:
        raise ValueError(f"effective sample size must be > 0, got {ess}")
    p16, med, p84 = np.percentile(values, [16, 50, 84])
    sigma = 0.5 * (p84 - p16)
    return dict(median=float(med), p16=float(p16), p84=float(p84), sigma=float(sigma), ess=ess,
                mc_error=float(MEDIAN_MC_FACTOR * sigma / math.sqrt(ess)))


def compare_parameter(emu, jam):
    """Shift of the medians in JAM sigma, the width ratio, and their MC errors.

    The errors add in quadrature the Monte Carlo errors of both sides (from their ESS) and,
    for a grid reference, its quadrature error (``jam["grid_error"]``, :func:`grid_error`).

    Parameters
    ----------
    emu, jam : dict
        :func:`parameter_stats` of the emulator and JAM posteriors.
    """
    sigma = jam["sigma"]
    if not sigma > 0:
        raise ValueError("the JAM posterior has zero width: the reference cannot measure a shift")
    ratio = emu["sigma"] / sigma
    grid_err = jam.get("grid_error") or dict(median=0.0, sigma=0.0)
    width_rel = math.sqrt((WIDTH_MC_FACTOR**2) * (1 / emu["ess"] + 1 / jam["ess"]) + (grid_err["sigma"] / sigma) ** 2)
    return dict(
        emulator=emu, jam=jam,
        shift_sigma=(emu["median"] - jam["median"]) / sigma,
        shift_mc_error=math.hypot(emu["mc_error"], jam["mc_error"], grid_err["median"]) / sigma,
        width_ratio=ratio,
        width_ratio_mc_error=ratio * width_rel,
    )


def energy_distance(a, b):
    """Energy distance (V-statistic) of two multivariate samples (n, d) and (m, d):
    :math:`2\\,E|X - Y| - E|X - X'| - E|Y - Y'|`."""
    from scipy.spatial.distance import cdist

    return float(2 * cdist(a, b).mean() - cdist(a, a).mean() - cdist(b, b).mean())


def energy_test(emulator, jam, rng, n_max=1000, repeats=5):
    """Energy distance of the joint posteriors and its null from halves of the JAM samples.

    Both samples are standardised by the JAM samples' mean and standard deviation per
    parameter and subsampled to ``n`` each, ``n = min(n_max, len(emulator), len(jam) // 2)``;
    the null draws two disjoint random halves of size ``n`` from the JAM samples,
    ``repeats`` times. With the V-statistic the null expectation is positive (about
    :math:`2\\,E|X - X'|/n`); an emulator posterior indistinguishable from JAM's gives a
    distance within the spread of the null.

    Parameters
    ----------
    emulator, jam : ndarray, shape (N, d)
    rng : numpy.random.Generator
    n_max, repeats : int

    Returns
    -------
    dict
        distance, null_mean, null_sd, null (list), excess ((distance - null_mean) / null_sd),
        n (per sample), repeats.
    """
    emulator, jam = np.asarray(emulator, dtype=float), np.asarray(jam, dtype=float)
    n = min(int(n_max), len(emulator), len(jam) // 2)
    if n < 10 or int(repeats) < 2:
        raise ValueError(f"energy test needs >= 10 samples per side and >= 2 repeats, got {n}, {repeats}")
    loc, scale = jam.mean(0), jam.std(0)
    if not np.all(scale > 0):
        raise ValueError("a parameter of the JAM samples has zero spread")
    a, b = (emulator - loc) / scale, (jam - loc) / scale
    distance = energy_distance(a[rng.choice(len(a), n, replace=False)], b[rng.choice(len(b), n, replace=False)])
    null = []
    for _ in range(int(repeats)):
        perm = rng.permutation(len(b))
        null.append(energy_distance(b[perm[:n]], b[perm[n:2 * n]]))
    null_mean, null_sd = float(np.mean(null)), float(np.std(null, ddof=1))
    return dict(distance=distance, null_mean=null_mean, null_sd=null_sd, null=null,
                excess=(distance - null_mean) / null_sd if null_sd > 0 else float("nan"), n=n, repeats=int(repeats))


def posterior_row(samples, truth):
    """One parameter's posterior against its truth: :data:`ROW_PERCENTILES` and the rank of the
    truth (fraction of samples below it), as :func:`coverage_table` reads them."""
    samples = np.asarray(samples, dtype=float).ravel()
    q = np.percentile(samples, list(ROW_PERCENTILES.values()))
    return dict(zip(ROW_PERCENTILES, map(float, q)), rank=float(np.mean(samples < truth)))


def coverage_table(rows, parameters=PARAMETERS):
    """Calibration of posteriors of many mocks against their truths.

    Parameters
    ----------
    rows : list of dict
        One per mock: ``truth`` (dict of true values) and, per parameter, the
        :func:`posterior_row` of its posterior.
    parameters : sequence of str

    Returns
    -------
    dict
        Per parameter: for each level of :data:`COVERAGE_LEVELS` ("68", "95") the fraction of
        intervals containing the truth (``coverage``), ``nominal``, the binomial standard error
        ``binomial_sd`` = sqrt(level (1 - level) / n) and ``z`` = (coverage - level) / sd;
        ``rank_ks_pvalue`` (KS test of the ranks against a uniform distribution),
        ``mean_rank``, and ``mean_offset_sigma`` (mean of (median - truth) / sigma, sigma half
        the 16-84 width; 0 for an unbiased posterior) with its standard error.
    """
    from scipy import stats

    n = len(rows)
    if n < 2:
        raise ValueError(f"coverage needs at least 2 posteriors, got {n}")
    out = {}
    for p in parameters:
        truth = np.array([r["truth"][p] for r in rows])
        res = {}
        for level, (lo, hi) in COVERAGE_LEVELS.items():
            inside = np.array([r[p][lo] <= t <= r[p][hi] for r, t in zip(rows, truth)])
            frac = float(inside.mean())
            sd = float(np.sqrt(level * (1 - level) / n))
            res[f"{round(level * 100)}"] = dict(coverage=frac, nominal=level, binomial_sd=sd, z=(frac - level) / sd)
        ranks = np.array([r[p]["rank"] for r in rows])
        res["rank_ks_pvalue"] = float(stats.kstest(ranks, "uniform").pvalue)
        res["mean_rank"] = float(ranks.mean())
        z = np.array([(r[p]["median"] - t) / (0.5 * (r[p]["p84"] - r[p]["p16"])) for r, t in zip(rows, truth)])
        res["mean_offset_sigma"] = float(z.mean())
        res["mean_offset_sigma_error"] = float(z.std(ddof=1) / np.sqrt(n))
        out[p] = res
    return out


__all__ = ["COVERAGE_LEVELS", "MEDIAN_MC_FACTOR", "WIDTH_MC_FACTOR", "compare_parameter", "coverage_table",
           "energy_distance", "energy_test", "parameter_stats", "posterior_row"]

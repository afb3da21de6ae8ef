"""Truth recovery across a survey of mocks: pulls of the posterior medians from the true values.

For galaxy k and parameter p with posterior median :math:`m_k`, percentiles
:math:`p_{16}, p_{84}` and true value :math:`t_k`, the pull is

.. math:: z_k = (m_k - t_k) / \\sigma_k, \\qquad \\sigma_k = (p_{84} - p_{16}) / 2 ,

so a calibrated, unbiased survey has pulls of mean 0 and spread (standard deviation) 1.
"""
import numpy as np

from .survey_table import SAMPLED, fitted


def recovered_rows(table, parameter):
    """The fitted rows (``ok`` or ``warning``, :func:`fastjam.survey_table.fitted`) with a true value of ``parameter``."""
    return table[fitted(table["status"]) & np.isfinite(table[f"{parameter}_truth"])]


def pulls(table, parameter):
    """Pulls of one parameter over the fitted rows with a true value, shape (k,).

    Parameters
    ----------
    table : astropy.table.Table
        Survey results (:data:`fastjam.survey.COLUMNS`).
    parameter : str
        ``inclination``, ``beta_z`` or ``ml``.
    """
    rows = recovered_rows(table, parameter)
    sigma = (rows[f"{parameter}_p84"] - rows[f"{parameter}_p16"]) / 2
    return np.asarray((rows[f"{parameter}_median"] - rows[f"{parameter}_truth"]) / sigma, dtype=float)


def recovery_summary(table, parameters=SAMPLED):
    """Per parameter: number of galaxies, mean and spread of the pulls, fraction with |pull| < 1 and < 2."""
    out = {}
    for p in parameters:
        z = pulls(table, p)
        out[p] = dict(n=int(z.size), mean=float(np.mean(z)) if z.size else np.nan,
                      spread=float(np.std(z, ddof=1)) if z.size > 1 else np.nan,
                      within_1sigma=float(np.mean(np.abs(z) < 1)) if z.size else np.nan,
                      within_2sigma=float(np.mean(np.abs(z) < 2)) if z.size else np.nan)
    return out


def recovery_text(summary):
    """Plain-text table of :func:`recovery_summary`."""
    lines = [f"{'parameter':<14s}{'n':>6s}{'mean pull':>11s}{'spread':>9s}{'|z|<1':>8s}{'|z|<2':>8s}"]
    for p, s in summary.items():
        lines.append(f"{p:<14s}{s['n']:>6d}{s['mean']:>11.3f}{s['spread']:>9.3f}{s['within_1sigma']:>8.2f}"
                     f"{s['within_2sigma']:>8.2f}")
    lines.append("pull = (median - truth) / ((p84 - p16) / 2); calibrated: mean 0, spread 1, 68% and 95% inside")
    return "\n".join(lines)


__all__ = ["pulls", "recovered_rows", "recovery_summary", "recovery_text"]

"""How far a galaxy lies from the general emulator's training maps, and the error held-out maps show there.

An emulator is most wrong where it was trained least. The distance is measured in the
network's own coordinates: the basis coefficients c (K values per map, the last layer before
the output basis; :func:`fastjam.emulator.general_jax.mge_coefficients`), standardised over the
training maps and projected on their first ``N_COMPONENTS`` principal components. A map's
novelty d is the RMS distance to its ``K_NEAREST`` nearest training maps. On held-out maps d
ranks the per-map RMS error (Spearman's rho in the card, ``novelty.spearman_rms``; 0.85 for the
shipped network, ``docs/general_emulator.md``), so the model card stores the held-out maps' novelties with
their errors (:func:`calibration`) and a galaxy's novelty is read against them
(:meth:`NoveltyCurve.at`): its percentile among the held-out maps and the errors of the held-out maps
in its band. Each band also stores its own likelihood error model (the RMS of e by radius and the
95th percentile of the per-map bias), to which a fit raises the card's overall one
(:meth:`NoveltyCurve.median`, :func:`fastjam.model.emulator_error_at`). The shipped card's bands are
calibrated on untruncated and truncated held-out maps together (real MGEs are truncated; the
network was not trained on them): on validation maps of both kinds the raised model understates
the RMS error by more than a factor 2 for 0.6% and 2.9% of them (``bench/general_novelty.py``).

Pure NumPy: the stored arrays are ``novelty.mean``, ``novelty.scale`` (K,),
``novelty.components`` (N_COMPONENTS, K) and ``novelty.points`` (n_train, N_COMPONENTS).
"""
from dataclasses import dataclass

import numpy as np

from ..physics.geometry import QINTR_MIN, min_inclination

K_NEAREST = 5
N_COMPONENTS = 32
#: Percentile bands of the held-out novelty whose errors (and error models) the card stores.
BANDS = (0.0, 50.0, 75.0, 90.0, 97.0, 99.0, 100.0)


def prior_inclinations(q_obs_min, i_lowest, n=9):
    """The ``n`` inclinations [deg] a galaxy's novelty curve is computed at: evenly from the lowest its
    flattest Gaussian allows (q_obs ``q_obs_min`` seen as q_intr = QINTR_MIN, or ``i_lowest`` [deg] if higher:
    the domain's) to 90."""
    return np.linspace(max(float(i_lowest), float(min_inclination(float(q_obs_min), QINTR_MIN))), 90.0, n)


def reference(coeff_train):
    """The stored arrays of the training maps' coefficients (n_train, K)."""
    c = np.asarray(coeff_train, dtype=float)
    mean, scale = c.mean(0), c.std(0) + 1e-9
    z = (c - mean) / scale
    _, _, vt = np.linalg.svd(z, full_matrices=False)
    comps = vt[:N_COMPONENTS]
    return {"novelty.mean": mean.astype(np.float32), "novelty.scale": scale.astype(np.float32),
            "novelty.components": comps.astype(np.float32), "novelty.points": (z @ comps.T).astype(np.float32)}


def distance(arrays, coeff, batch=256):
    """Novelty d (m,) of maps with coefficients ``coeff`` (m, K): RMS distance to the K_NEAREST nearest training maps."""
    c = np.atleast_2d(np.asarray(coeff, dtype=float))
    p = np.asarray(arrays["novelty.points"], dtype=float)
    z = (c - arrays["novelty.mean"]) / arrays["novelty.scale"] @ np.asarray(arrays["novelty.components"], float).T
    out = []
    for k in range(0, len(z), batch):
        d2 = ((z[k:k + batch, None, :] - p[None]) ** 2).sum(-1)
        out.append(np.sqrt(np.sort(d2, 1)[:, :K_NEAREST].mean(1)))
    return np.concatenate(out)


def calibration(d_test, err_test):
    """The card entry: the held-out maps' novelty percentiles and, per band, their errors and error model.

    Parameters
    ----------
    d_test : array, shape (n,)
        Novelty of held-out maps.
    err_test : array, shape (n_betas * n, NTHETA * NR)
        Their relative errors e of V_RMS over the map grid at ``n_betas`` anisotropies each, one block
        of n maps per anisotropy (:func:`fastjam.emulator.general_evaluate.relative_errors`).

    Returns
    -------
    dict
        ``test_distance`` at ``test_percentiles`` 0-100; ``spearman_rms`` of d with each map's RMS
        error; ``rms_median`` over all maps; ``bands``, one per :data:`BANDS` interval, with
        ``rms_median`` and ``rms_p90`` of the per-map RMS error, ``error_model`` (the RMS of e by
        radius, :func:`fastjam.emulator.evaluate.radial_error_model`), ``bias_p95`` (95th percentile of
        |mean e| per map) and ``n_maps``.
    """
    from scipy.stats import spearmanr

    from .evaluate import radial_error_model

    d = np.asarray(d_test, float)
    e = np.asarray(err_test, float)
    if e.ndim != 2 or e.shape[0] % d.size:
        raise ValueError(f"err_test has shape {e.shape}: expected (n_betas * {d.size}, pixels)")
    d_rows = np.tile(d, e.shape[0] // d.size)
    rms, bias = np.sqrt(np.mean(e**2, 1)), np.abs(e.mean(1))
    bands = []
    for lo, hi in zip(BANDS[:-1], BANDS[1:]):
        a, b = np.percentile(d, [lo, hi])
        sel = (d_rows >= a) & (d_rows <= b)
        if not sel.any():  # a narrow band of few held-out maps: the nearest map above it
            sel = d_rows == d_rows[d_rows >= a].min()
        bands.append(dict(percentiles=[lo, hi], rms_median=float(np.median(rms[sel])),
                          rms_p90=float(np.percentile(rms[sel], 90)), bias_p95=float(np.percentile(bias[sel], 95)),
                          error_model=radial_error_model(e[sel]), n_maps=int(sel.sum() * d.size // d_rows.size)))
    return dict(k_nearest=K_NEAREST, components=N_COMPONENTS, n_maps=int(d.size), n_betas=int(e.shape[0] // d.size),
                spearman_rms=float(spearmanr(d_rows, rms)[0]), test_percentiles=list(range(0, 101)),
                test_distance=[float(v) for v in np.percentile(d, np.arange(0, 101))], bands=bands,
                rms_median=float(np.median(rms)))


def percentile(entry, d):
    """Share (per cent) of the held-out maps of the card's ``novelty`` ``entry`` with a smaller novelty than ``d``
    (scalar or array)."""
    return np.interp(d, entry["test_distance"], entry["test_percentiles"])


def band_of(entry, pct):
    """The band (a dict of ``entry["bands"]``) holding novelty percentile ``pct`` (the last beyond 100)."""
    return next((b for b in entry["bands"] if pct <= b["percentiles"][1]), entry["bands"][-1])


@dataclass(frozen=True)
class Novelty:
    """A galaxy's novelty at one inclination, read against the held-out maps.

    Attributes
    ----------
    distance : float
        Novelty d.
    inclination : float
        Degrees.
    percentile : float
        Share of held-out maps (per cent) with a smaller novelty.
    rms_median, rms_p90 : float
        RMS relative error of the held-out maps of its band (median, 90th percentile).
    card_rms_median : float
        Median over all held-out maps.
    band : dict
        The card's band (``novelty.bands``) it falls in, with that band's ``error_model`` and
        ``bias_p95`` when the card has them.
    """

    distance: float
    inclination: float
    percentile: float
    rms_median: float
    rms_p90: float
    card_rms_median: float
    band: dict = None


@dataclass(frozen=True)
class NoveltyCurve:
    """A galaxy's novelty d at several inclinations (the network's inputs change with i) and the
    card's calibration; :meth:`at` reads it at the inclination a fit found."""

    inclinations: np.ndarray
    distances: np.ndarray
    entry: dict

    def at(self, inclination):
        """:class:`Novelty` at ``inclination`` [deg] (linear in between the computed ones)."""
        d = float(np.interp(inclination, self.inclinations, self.distances))
        e = self.entry
        pct = float(percentile(e, d))
        band = band_of(e, pct)
        return Novelty(d, float(inclination), pct, band["rms_median"], band["rms_p90"], e["rms_median"], band)

    def median(self):
        """:class:`Novelty` at the computed inclination of the curve's median novelty: the band whose error
        model a fit raises its own to before it knows the inclination. Not the farthest: at the lowest inclination of the prior the
        galaxy would be as thin as q_intr = 0.05, where training maps are few, and a typical galaxy there
        lies beyond 91% of the held-out maps (a de Vaucouleurs one at q_obs 0.7: 31-50% elsewhere)."""
        k = int(np.argsort(self.distances)[len(self.distances) // 2])
        return self.at(float(np.asarray(self.inclinations)[k]))

"""How far a galaxy lies from the general emulator's training maps, and the error held-out maps show there.

An emulator is most wrong where it was trained least. The distance is measured in the
network's own coordinates: the basis coefficients c (K values per map, the last layer before
the output basis; :func:`fastjam.emulator.general_jax.mge_coefficients`), standardised over the
training maps and projected on their first ``N_COMPONENTS`` principal components. A map's
novelty d is the RMS distance to its ``K_NEAREST`` nearest training maps. On held-out maps d
ranks the per-map RMS error (Spearman's rho in the card, ``novelty.spearman_rms``; 0.78 for the
shipped network, ``docs/general_emulator.md``), so the model card stores the held-out maps' novelties with
their errors (:func:`calibration`) and a galaxy's novelty is read against them
(:meth:`NoveltyCurve.at`): its percentile among the held-out maps and the errors of the held-out maps
in its band.

Pure NumPy: the stored arrays are ``novelty.mean``, ``novelty.scale`` (K,),
``novelty.components`` (N_COMPONENTS, K) and ``novelty.points`` (n_train, N_COMPONENTS).
"""
from dataclasses import dataclass

import numpy as np

K_NEAREST = 5
N_COMPONENTS = 32
#: Percentile bands of the held-out novelty whose errors the card stores.
BANDS = (0.0, 50.0, 90.0, 100.0)


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


def calibration(d_test, rms_test):
    """The card entry: the held-out maps' novelty percentiles and, per band, their RMS errors.

    Parameters
    ----------
    d_test : array, shape (n,)
        Novelty of held-out maps.
    rms_test : array, shape (n,)
        Their RMS relative error of V_RMS over the map grid.
    """
    d, rms = np.asarray(d_test, float), np.asarray(rms_test, float)
    bands = []
    for lo, hi in zip(BANDS[:-1], BANDS[1:]):
        a, b = np.percentile(d, [lo, hi])
        sel = (d >= a) & (d <= b)
        bands.append(dict(percentiles=[lo, hi], rms_median=float(np.median(rms[sel])),
                          rms_p90=float(np.percentile(rms[sel], 90)), n_maps=int(sel.sum())))
    from scipy.stats import spearmanr

    return dict(k_nearest=K_NEAREST, components=N_COMPONENTS, n_maps=int(d.size),
                spearman_rms=float(spearmanr(d, rms)[0]), test_percentiles=list(range(0, 101)),
                test_distance=[float(v) for v in np.percentile(d, np.arange(0, 101))], bands=bands,
                rms_median=float(np.median(rms)))


def percentile(entry, d):
    """Share (per cent) of the held-out maps of the card's ``novelty`` ``entry`` with a smaller novelty than ``d``
    (scalar or array)."""
    return np.interp(d, entry["test_distance"], entry["test_percentiles"])


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
    """

    distance: float
    inclination: float
    percentile: float
    rms_median: float
    rms_p90: float
    card_rms_median: float


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
        band = next((b for b in e["bands"] if pct <= b["percentiles"][1]), e["bands"][-1])
        return Novelty(d, float(inclination), pct, band["rms_median"], band["rms_p90"], e["rms_median"])

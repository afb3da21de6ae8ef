"""Maps of the multi-component family as the general emulator's inputs and targets.

Maps come from ``fastjam simulate --family mge``: each stores the unit MGE and JAM's linear terms
a, b with :math:`f^2 = a + b/(1-\\beta_z)` (Cappellari 2008, MNRAS 390, 71), so the true f is known at
every anisotropy.
"""
import logging

import numpy as np

from .general_features import BETA_LO, JEANS_ENCODERS, beta_feature, beta_hi, global_features, smoothing_width

log = logging.getLogger(__name__)


def map_inputs(ds):
    """Network inputs and JAM's linear terms of a family dataset, as a dict of numpy arrays.

    Keys: ``ln_sigma``, ``qobs``, ``weight`` (N, 30; padding has weight 0), ``cos_i``,
    ``sigma_psf_re``, ``pixsize_re``, ``beta_hi`` (N,), ``a``, ``b`` (N, NTHETA*NR).
    """
    mge = np.asarray(ds.mge, dtype=float)
    surf, sigma, qobs = mge[..., 0], mge[..., 1], mge[..., 2]
    weight = 2 * np.pi * surf * qobs * sigma**2
    ln_sigma = np.log(np.where(weight > 0, sigma, 1.0))
    qobs = np.where(weight > 0, qobs, 1.0)
    params = np.asarray(ds.params, dtype=float)
    cos_i = np.cos(np.radians(params[:, 1]))
    n = len(params)
    return dict(ln_sigma=ln_sigma, qobs=qobs, weight=weight, cos_i=cos_i, sigma_psf_re=params[:, 2],
                pixsize_re=params[:, 3], beta_hi=beta_hi(qobs, weight, cos_i),
                a=np.asarray(ds.a, dtype=float).reshape(n, -1), b=np.asarray(ds.b, dtype=float).reshape(n, -1))


def true_ln_f(inp, beta_z):
    """ln f of JAM at anisotropies ``beta_z`` (N,), shape (N, NTHETA*NR)."""
    return 0.5 * np.log(inp["a"] + inp["b"] / (1 - np.asarray(beta_z))[:, None])


def draw_betas(inp, rng):
    """One anisotropy per map, uniform in [BETA_LO, beta_hi]."""
    return BETA_LO + rng.uniform(size=len(inp["cos_i"])) * (inp["beta_hi"] - BETA_LO)


def positive_maps(inp, what="training"):
    """``inp`` without the maps whose JAM f^2 = a + b/(1 - beta_z) is not positive and finite everywhere on
    the prior's anisotropy range [BETA_LO, beta_hi] (f^2 is linear in 1/(1 - beta_z): both ends suffice).

    jampy's two calls (beta_z = 0 and -0.5) are checked when a set is made; for very thin galaxies near
    edge-on the straight line through them can still cross zero before beta_hi. Such maps are dropped
    with a warning naming how many."""
    with np.errstate(invalid="ignore", divide="ignore"):  # ln f is finite where f^2 is positive and finite
        ok = np.all([np.isfinite(true_ln_f(inp, beta)).all(1)
                     for beta in (np.full(len(inp["cos_i"]), BETA_LO), inp["beta_hi"])], axis=0)
    if ok.all():
        return inp
    log.warning("%d of %d %s maps dropped: JAM's f^2 is not positive over beta_z in [%g, beta_hi] "
                "(thin galaxies near edge-on)", int((~ok).sum()), ok.size, what, BETA_LO)
    return {k: v[ok] for k, v in inp.items()}


def anchor_targets(inp):
    """ln f at the two anchors, (N, 2 NTHETA NR)."""
    return np.concatenate([true_ln_f(inp, np.full(len(inp["cos_i"]), BETA_LO)), true_ln_f(inp, inp["beta_hi"])], 1)


def with_profile_input(inp, network, chunk=None):
    """``inp`` with the profile encoder's input precomputed (key ``prof_in``, float32) when ``network`` (a
    ``GeneralConfig``) has a profile encoder; else ``inp`` itself.

    A map's profile input is fixed (its MGE, inclination and set-up do not change in training), so it is
    computed once, not in every epoch (the Jeans solution of :func:`~fastjam.emulator.general_features.jeans_features`
    costs more than a training step).
    With ``profile_psf`` it needs each map's set-up, which only ``inp`` holds. ``chunk``: maps per call
    (default 4 with the Jeans solution, else 1,024)."""
    if not network.uses_profile or "prof_in" in inp:
        return inp
    jeans = network.encoder in JEANS_ENCODERS
    n, chunk = len(inp["cos_i"]), chunk or (4 if jeans else 1024)
    smoothing = smoothing_width(inp["sigma_psf_re"], inp["pixsize_re"])
    prof = [network.profile_input(*(inp[k][i:i + chunk] for k in ("ln_sigma", "qobs", "weight", "cos_i")),
                                  smoothing=smoothing[i:i + chunk])
            for i in range(0, n, chunk)]
    return dict(inp, prof_in=np.concatenate(prof).astype(np.float32))


def network_inputs(inp, idx, beta=None, output="anchors"):
    """The network's input tensors (float32) for maps ``idx`` of ``inp`` (:func:`map_inputs`): the unit MGE
    (ln sigma, q_obs, weight, cos i), the observing features
    (:func:`~fastjam.emulator.general_features.global_features`, and the anisotropy ``beta`` (N,) for the
    ``direct`` output) and, if precomputed, the profile input."""
    import torch

    glob = global_features(inp["cos_i"][idx], inp["sigma_psf_re"][idx], inp["pixsize_re"][idx], inp["beta_hi"][idx])
    if output == "direct":
        glob = np.concatenate([glob, beta_feature(beta)[:, None]], 1)
    arrays = [inp[k][idx] for k in ("ln_sigma", "qobs", "weight", "cos_i")] + [glob]
    arrays += [inp["prof_in"][idx]] if "prof_in" in inp else []
    return [torch.as_tensor(a, dtype=torch.float32) for a in arrays]

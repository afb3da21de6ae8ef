"""Held-out accuracy of the general-photometry emulator: relative errors of f, i.e. of V_RMS, at
anisotropies drawn uniformly in [BETA_LO, beta_hi] for each map, their statistics, the card's error
model and novelty reference, and where two networks disagree.
"""
import numpy as np

from .general_data import draw_betas, network_inputs, true_ln_f, with_profile_input
from .general_features import BETA_LO, anchor_weight, f_from_anchors


def ln_f_at(anchors, beta_z, b_hi):
    """ln f (N, NTHETA*NR) at anisotropies ``beta_z`` (N,) from ln f at the two anchors ``anchors``
    (N, 2 NTHETA*NR; upper anchors ``b_hi`` (N,)), exact in beta_z
    (:func:`~fastjam.emulator.general_features.f_from_anchors`)."""
    half = anchors.shape[1] // 2
    return np.log(f_from_anchors(anchors[:, :half], anchors[:, half:], anchor_weight(beta_z, b_hi)[:, None]))


def predict_ln_f(net, inp, beta_z, batch=256):
    """Emulated ln f (N, NTHETA*NR) of maps ``inp`` at anisotropies ``beta_z`` (N,)."""
    import torch

    beta_z = np.asarray(beta_z, dtype=float)
    inp = with_profile_input(inp, net.config)
    out = []
    net.eval()
    with torch.no_grad():
        for k in range(0, len(beta_z), batch):
            idx = np.arange(k, min(k + batch, len(beta_z)))
            y = net(*network_inputs(inp, idx, beta_z[idx], net.config.output)).double().numpy()
            out.append(ln_f_at(y, beta_z[idx], inp["beta_hi"][idx]) if net.config.output == "anchors" else y)
    return np.concatenate(out)


def accuracy(net, inp, n_betas=3, seed=0):
    """Held-out errors e = f_emu / f_JAM - 1 over the map grid at ``n_betas`` anisotropies per map.

    Returns
    -------
    dict
        ``pixel_median``, ``pixel_p99`` of |e|; ``map_max_p95`` (95th percentile over maps of
        max |e|); ``map_bias_p95`` (95th percentile of |mean e|); ``rms_ln_f``; ``coherent_share``, the
        share of the mean square of ln(1 + e) that is each map's mean; ``n_maps``.
    """
    return dict(error_stats(relative_errors(net, inp, n_betas, seed)), n_maps=int(len(inp["cos_i"])),
                n_betas=n_betas)


def anchor_errors(anchors, inp, n_betas=3, seed=0):
    """e = f / f_JAM - 1 (n_betas * N, NTHETA*NR) from ln f at the two anchors ``anchors`` (N, 2 NTHETA*NR),
    a network's or any other (e.g. a basis projection), at the random anisotropies of :func:`relative_errors`."""
    rng, errs = np.random.default_rng(seed), []
    for _ in range(n_betas):
        beta = draw_betas(inp, rng)
        errs.append(np.expm1(ln_f_at(anchors, beta, inp["beta_hi"]) - true_ln_f(inp, beta)))
    return np.concatenate(errs)


def relative_errors(net, inp, n_betas=3, seed=0):
    """e = f_emu / f_JAM - 1 on the map grid, shape (n_betas * N, NTHETA*NR), at random anisotropies."""
    rng = np.random.default_rng(seed)
    inp = with_profile_input(inp, net.config)
    errs = []
    for _ in range(n_betas):
        beta = draw_betas(inp, rng)
        errs.append(np.expm1(predict_ln_f(net, inp, beta) - true_ln_f(inp, beta)))
    return np.concatenate(errs)


def committee_disagreement(nets, inp):
    """Where two networks disagree: max over the map and both ends of the anisotropy prior
    (beta_z = BETA_LO and beta_hi, where f^2 is extreme) of |ln f_1 - ln f_2|, shape (N,).

    Needs no JAM map: on held-out maps it ranks the first network's per-map maximum error
    (``bench/general_committee.py``), so it tells where new training maps pay most (query by
    committee, ``scripts/select_by_committee.py``).
    """
    worst = np.zeros(len(inp["cos_i"]))
    for beta in (np.full(len(worst), BETA_LO), inp["beta_hi"]):
        ln_f = [predict_ln_f(net, with_profile_input(inp, net.config), beta) for net in nets]
        worst = np.maximum(worst, np.abs(ln_f[0] - ln_f[1]).max(1))
    return worst


def error_card(net, inp, n_betas=3, seed=0):
    """The card entries of the likelihood's error model, measured on held-out maps.

    The same entries as a Sérsic emulator's card (``fastjam evaluate --update-card``), read the
    same way by :func:`fastjam.model.emulator_error_at` and
    :func:`fastjam.model.emulator_coherent_error`.

    Parameters
    ----------
    net : GeneralEmulatorNetwork
    inp : dict
        :func:`map_inputs` of held-out maps.
    n_betas : int
        Random anisotropies per map, uniform in [BETA_LO, beta_hi].
    seed : int

    Returns
    -------
    dict
        ``test_accuracy`` (:func:`accuracy`); ``metrics`` with ``pixel`` (|e| over pixels),
        ``per_map_max`` (max |e| per map) and ``per_map_bias`` (|mean e| per map), each
        with median, p95, p99, max and n (:func:`fastjam.emulator.evaluate.summary_stats`),
        and ``n_maps``; ``error_model``, the RMS of e in bins of radius
        (:func:`fastjam.emulator.evaluate.radial_error_model`).
    """
    return error_entries(relative_errors(net, inp, n_betas, seed), n_betas)


def error_entries(e, n_betas):
    """:func:`error_card`'s entries from errors ``e`` (n_betas * N, NTHETA*NR) already computed
    (:func:`relative_errors`)."""
    from .evaluate import radial_error_model, summary_stats

    n_maps = int(len(e) // n_betas)
    metrics = dict(n_maps=n_maps, n_betas=n_betas, pixel=summary_stats(np.abs(e)),
                   per_map_max=summary_stats(np.abs(e).max(1)), per_map_bias=summary_stats(np.abs(e.mean(1))))
    return dict(test_accuracy=dict(error_stats(e), n_maps=n_maps, n_betas=n_betas), metrics=metrics,
                error_model=radial_error_model(e))


def coefficients_of(net, inp, batch=256):
    """Basis coefficients (N, n_basis) of maps ``inp`` (:func:`map_inputs`): the network's last layer
    before the output basis."""
    import torch

    inp = with_profile_input(inp, net.config)
    out = []
    net.eval()
    with torch.no_grad():
        for k in range(0, len(inp["cos_i"]), batch):
            t = network_inputs(inp, np.arange(k, min(k + batch, len(inp["cos_i"]))))
            out.append(net.coefficients(net.encode(*t[:4], *t[5:]), t[4]).double().numpy())
    return np.concatenate(out)


def novelty_card(net, train_inp, test_inp, n_betas=3, seed=0):
    """The novelty reference arrays (of the training maps) and the card's ``novelty`` entry
    (:func:`novelty_calibration`); :mod:`fastjam.emulator.novelty`."""
    from .novelty import reference

    arrays = reference(coefficients_of(net, train_inp))
    return arrays, novelty_calibration(net, arrays, test_inp, n_betas, seed)


def novelty_calibration(net, arrays, test_inp, n_betas=3, seed=0):
    """The card's ``novelty`` entry of network ``net`` with reference ``arrays``: the held-out maps
    ``test_inp`` by novelty against their errors e at ``n_betas`` random anisotropies each (the same as
    :func:`error_card`'s), per band with its error model (:func:`fastjam.emulator.novelty.calibration`)."""
    from .novelty import calibration

    return calibration(*novelty_and_errors(net, arrays, test_inp, n_betas, seed))


def novelty_and_errors(net, arrays, inp, n_betas=3, seed=0):
    """Novelty d (N,) of maps ``inp`` against the reference ``arrays`` and their errors e (n_betas * N,
    NTHETA*NR) at the random anisotropies of :func:`relative_errors`."""
    from .novelty import distance

    return distance(arrays, coefficients_of(net, inp)), relative_errors(net, inp, n_betas, seed)


def error_stats(e):
    """Statistics of relative errors ``e`` (maps, pixels); see :func:`accuracy`. NaN pixels (e.g. beyond
    a field) are left out; every map needs at least one finite pixel."""
    ln_e = np.log1p(e)
    return dict(pixel_median=float(np.nanmedian(np.abs(e))), pixel_p99=float(np.nanpercentile(np.abs(e), 99)),
                map_max_p95=float(np.percentile(np.nanmax(np.abs(e), 1), 95)),
                map_bias_p95=float(np.percentile(np.abs(np.nanmean(e, 1)), 95)),
                rms_ln_f=float(np.sqrt(np.nanmean(ln_e**2))),
                coherent_share=float(np.mean(np.nanmean(ln_e, 1) ** 2) / np.nanmean(ln_e**2)))

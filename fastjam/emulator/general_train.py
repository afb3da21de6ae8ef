"""Training and held-out accuracy of the general-photometry emulator (PyTorch).

Maps come from the multi-component family (``fastjam simulate --family mge``): each stores the
unit MGE and JAM's linear terms a, b with :math:`f^2 = a + b/(1-\\beta_z)`, so the true f is
known at every anisotropy. Errors are relative errors of f, i.e. of V_RMS, at anisotropies
drawn uniformly in [BETA_LO, beta_hi] for each map.
"""
import json
import logging
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from .general_features import (BETA_LO, JEANS_ENCODERS, anchor_weight, beta_feature, beta_hi, f_from_anchors,
                               feature_definition, global_features)
from .general_loss import batch_loss, epoch_order, radial_weights
from .train import TrainConfig, TrainResult, _atomic_torch_save, early_stopped, optimiser, plot_loss, resumed_end

log = logging.getLogger(__name__)


@dataclass
class GeneralTrainConfig(TrainConfig):
    """Optimiser settings (recorded in the model card); ``val_fraction`` is unused (sets are split by the caller)."""

    epochs: int = 300
    weight_decay: float = 0.0
    min_lr: float = 1e-5
    patience: int = 25
    val_betas: int = 2  #: anisotropies per validation map
    max_minutes: float = 0.0  #: stop (resumably) after this wall time; 0: no limit
    #: weight of the tail term in the loss (1 - w) mean(r^2) + w sqrt(mean(r^4)), r the residual of ln f over a
    #: batch's pixels: w > 0 weighs the largest residuals more (validation uses the same loss, and the
    #: card's best_val_rms_lnf is its square root)
    tail_weight: float = 0.0
    #: weight b of the coherent term b mean_maps(mean_pixels(r)^2) added to the loss (validation too): b > 0 weighs
    #: each map's mean residual of ln f (a coherent error, degenerate with M/L in a fit) more than its pattern
    bias_weight: float = 0.0
    #: share h of each epoch's draws made in proportion to each map's last max residual^2 of ln f (the rest a
    #: uniform subset of the maps): h > 0 revisits the maps the network fits worst (:func:`epoch_order`)
    hard_share: float = 0.0
    #: c of the pixel weights 1 + c (r/R_e)^2 of the squared residuals (:func:`radial_weights`): c > 0 weighs
    #: the outer map, where most per-map maxima lie, more than the polar grid's dense centre does
    radial_weight: float = 0.0
    #: grid nodes drawn per batch where a network with a per-position decoder is trained (the decoder's cost
    #: grows with them; the loss is then an unbiased estimate over the map); 0: every node
    decoder_nodes: int = 1024

    def __post_init__(self):
        """Check the loss options at once, not when the first epoch that uses them is drawn."""
        radial_weights(self.radial_weight)
        epoch_order(np.ones(1), self.hard_share, np.random.default_rng(0))
        if self.decoder_nodes < 0:
            raise ValueError(f"decoder_nodes must be >= 0, got {self.decoder_nodes}")


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


def with_profile_input(inp, network, chunk=4):
    """``inp`` with the profile encoder's input precomputed (key ``prof_in``, float32) when the encoder of
    ``network`` (a ``GeneralConfig``) solves the Jeans equations (:func:`~fastjam.emulator.general_features.jeans_features`, whose cost per
    map is too high to repeat in every epoch); else ``inp`` itself."""
    if network.encoder not in JEANS_ENCODERS or "prof_in" in inp:
        return inp
    n = len(inp["cos_i"])
    prof = [network.profile_input(*(inp[k][i:i + chunk] for k in ("ln_sigma", "qobs", "weight", "cos_i")))
            for i in range(0, n, chunk)]
    return dict(inp, prof_in=np.concatenate(prof).astype(np.float32))


def _tensors(inp, idx, beta=None, output="anchors"):
    import torch

    glob = global_features(inp["cos_i"][idx], inp["sigma_psf_re"][idx], inp["pixsize_re"][idx], inp["beta_hi"][idx])
    if output == "direct":
        glob = np.concatenate([glob, beta_feature(beta)[:, None]], 1)
    arrays = [inp[k][idx] for k in ("ln_sigma", "qobs", "weight", "cos_i")] + [glob]
    arrays += [inp["prof_in"][idx]] if "prof_in" in inp else []
    return [torch.as_tensor(a, dtype=torch.float32) for a in arrays]


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
            y = net(*_tensors(inp, idx, beta_z[idx], net.config.output)).double().numpy()
            if net.config.output == "anchors":
                t = anchor_weight(beta_z[idx], inp["beta_hi"][idx])[:, None]
                half = y.shape[1] // 2
                y = np.log(f_from_anchors(y[:, :half], y[:, half:], t))
            out.append(y)
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
    rng, half, errs = np.random.default_rng(seed), anchors.shape[1] // 2, []
    for _ in range(n_betas):
        beta = draw_betas(inp, rng)
        t = anchor_weight(beta, inp["beta_hi"])[:, None]
        errs.append(np.expm1(np.log(f_from_anchors(anchors[:, :half], anchors[:, half:], t)) - true_ln_f(inp, beta)))
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
    from .evaluate import radial_error_model, summary_stats

    e = relative_errors(net, inp, n_betas, seed)
    n_maps = int(len(inp["cos_i"]))
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
            t = _tensors(inp, np.arange(k, min(k + batch, len(inp["cos_i"]))))
            out.append(net.coefficients(net.encode(*t[:4], *t[5:]), t[4]).double().numpy())
    return np.concatenate(out)


def novelty_card(net, train_inp, test_inp, seed=0):
    """The novelty reference arrays (of the training maps) and the card's ``novelty`` entry (calibrated on
    held-out maps: their novelty against the RMS error e over the grid at one random anisotropy each);
    :mod:`fastjam.emulator.novelty`."""
    from .novelty import calibration, distance, reference

    arrays = reference(coefficients_of(net, train_inp))
    e = relative_errors(net, test_inp, 1, seed)
    return arrays, calibration(distance(arrays, coefficients_of(net, test_inp)), np.sqrt(np.mean(e**2, 1)))


def error_stats(e):
    """Statistics of relative errors ``e`` (maps, pixels); see :func:`accuracy`."""
    ln_e = np.log1p(e)
    return dict(pixel_median=float(np.median(np.abs(e))), pixel_p99=float(np.percentile(np.abs(e), 99)),
                map_max_p95=float(np.percentile(np.abs(e).max(1), 95)),
                map_bias_p95=float(np.percentile(np.abs(e.mean(1)), 95)),
                rms_ln_f=float(np.sqrt(np.mean(ln_e**2))),
                coherent_share=float(np.mean(ln_e.mean(1) ** 2) / np.mean(ln_e**2)))


def _val_loss(net, inp, betas, config):
    residual = predict_ln_f(net, inp, betas) - true_ln_f(inp, betas)
    return float(batch_loss(residual, config.tail_weight, np, config.bias_weight,
                            pixel_weight=radial_weights(config.radial_weight)))


def _train_epoch(net, opt, train_inp, targets, order, config, erng, hardness):
    """One pass of the optimiser over the maps ``order``; updates ``hardness`` of the maps seen in place
    and returns the mean training loss."""
    import torch

    net.train()
    output, total = net.config.output, 0.0
    groups = 2 if output == "anchors" else 1  # residuals of the two anchor maps, or of ln f
    omega = radial_weights(config.radial_weight)
    omega = None if omega is None else torch.as_tensor(omega, dtype=torch.float32)
    n_nodes = targets.shape[1] // 2 if output == "anchors" else 0
    subset = bool(net.config.decoder) and 0 < config.decoder_nodes < n_nodes
    for k in range(0, len(order), config.batch_size):
        idx = order[k:k + config.batch_size]
        if subset:  # the same random nodes of both anchor maps for the whole batch
            nodes = np.sort(erng.choice(n_nodes, config.decoder_nodes, replace=False))
            pred = net(*_tensors(train_inp, idx), nodes=nodes)
            y = targets[idx].reshape(len(idx), 2, -1)[:, :, nodes].reshape(len(idx), -1)
            weight = None if omega is None else omega[nodes]
        elif output == "anchors":
            pred, y, weight = net(*_tensors(train_inp, idx)), targets[idx], omega
        else:
            beta = BETA_LO + erng.uniform(size=len(idx)) * (train_inp["beta_hi"][idx] - BETA_LO)
            sub = {key: v[idx] for key, v in train_inp.items()}
            pred, weight = net(*_tensors(train_inp, idx, beta, "direct")), omega
            y = torch.as_tensor(true_ln_f(sub, beta), dtype=torch.float32)
        residual = pred - y
        loss = batch_loss(residual, config.tail_weight, torch, config.bias_weight, groups, weight)
        opt.zero_grad()
        loss.backward()
        opt.step()
        hardness[idx] = (residual.detach() ** 2).amax(1).double().numpy()
        total += loss.item() * len(idx)
    return total / len(order)


def train_general(train_inp, val_inp, out, network, config=GeneralTrainConfig(), resume=False, progress=True,
                  info=None, init=None):
    """Train a :class:`~fastjam.emulator.general.GeneralEmulatorNetwork`; resumable, with early stopping.

    Parameters
    ----------
    train_inp, val_inp : dict
        :func:`map_inputs` of the training and validation maps.
    out : str or Path
        Output directory (``emulator.npz``, ``emulator.json``, ``checkpoint.pt``, ``loss.png``).
    network : GeneralConfig
    config : GeneralTrainConfig
    resume : bool
        Continue from ``out/checkpoint.pt``; without it an existing non-empty ``out`` is an error.
    info : dict, optional
        Extra entries of the card's training record (e.g. the data snapshot).
    init : GeneralEmulatorNetwork, optional
        Warm start: begin from this network's weights (the same ``network`` design, or one it extends by
        outer profile radii: ``GeneralEmulatorNetwork.warm_start``) with a fresh
        optimiser at ``config.lr``, instead of random weights and an output basis from the training
        maps; e.g. to continue a shipped network on a training set grown since.

    Returns
    -------
    result : TrainResult
        The validation loss is the mean squared error of ln f at ``config.val_betas`` random
        anisotropies per map (the same for both output designs).
    net : GeneralEmulatorNetwork
        The network at its best epoch.
    """
    import torch
    from tqdm.auto import tqdm

    from .general import GeneralEmulatorNetwork
    from .store import save_emulator

    t_start = time.perf_counter()
    out = Path(out)
    ckpt_path = out / "checkpoint.pt"
    if out.exists() and any(out.iterdir()) and not resume:
        raise ValueError(f"output directory {out} exists: resume its training or choose another")
    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(config.seed)
    rng = np.random.default_rng(config.seed)
    train_inp, val_inp = positive_maps(train_inp), positive_maps(val_inp, "validation")
    n_train = len(train_inp["cos_i"])
    if n_train < 2:
        raise ValueError(f"too few training maps ({n_train})")
    train_inp, val_inp = (with_profile_input(v, network) for v in (train_inp, val_inp))
    vbetas = np.concatenate([draw_betas(val_inp, rng) for _ in range(config.val_betas)])
    vinp = {k: np.concatenate([v] * config.val_betas) for k, v in val_inp.items()}

    net = GeneralEmulatorNetwork(network)
    if init is not None:
        net.warm_start(init)
    elif network.output == "anchors":
        net.init_basis(anchor_targets(train_inp))
    else:
        net.init_basis(true_ln_f(train_inp, draw_betas(train_inp, rng)))
    opt, sched, history, best = optimiser(net, config)
    start = 0
    if resume and ckpt_path.exists():
        ck = torch.load(ckpt_path, weights_only=False)
        net.load_state_dict(ck["model"])
        opt.load_state_dict(ck["optimizer"])
        sched.load_state_dict(ck["scheduler"])
        history, best, start = ck["history"], ck["best"], ck["epoch"] + 1
        log.info("resumed from epoch %d", start)
    log.info("training on %d maps, validating on %d", n_train, len(val_inp["cos_i"]))
    targets = torch.as_tensor(anchor_targets(train_inp) if network.output == "anchors" else np.zeros(0),
                              dtype=torch.float32)
    hardness = np.ones(n_train)  # each map's last max residual^2 of ln f (epoch_order)
    bar = tqdm(range(start, resumed_end(history, best, config)), initial=start, total=config.epochs,
               disable=not progress, unit="epoch")
    for epoch in bar:
        t0 = time.perf_counter()
        erng = np.random.default_rng([config.seed, epoch])
        share = config.hard_share if epoch > start else 0.0  # the first epoch of a run measures every map
        total = _train_epoch(net, opt, train_inp, targets, epoch_order(hardness, share, erng), config, erng, hardness)
        val_loss = _val_loss(net, vinp, vbetas, config)
        sched.step(val_loss)
        lr = opt.param_groups[0]["lr"]
        for key, v in zip(history, (epoch, total, val_loss, lr, time.perf_counter() - t0)):
            history[key].append(v)
        if val_loss < best["loss"]:
            best = dict(loss=val_loss, epoch=epoch, state={k: v.detach().clone() for k, v in net.state_dict().items()})
        bar.set_postfix(train=f"{np.sqrt(total):.2e}", val=f"{np.sqrt(val_loss):.2e}", lr=f"{lr:.1e}")
        log.debug("epoch %d train %.3e val %.3e lr %.1e", epoch, np.sqrt(total), np.sqrt(val_loss), lr)
        _atomic_torch_save(dict(model=net.state_dict(), optimizer=opt.state_dict(), scheduler=sched.state_dict(),
                                history=history, best=best, epoch=epoch), ckpt_path)
        if early_stopped(epoch, best, lr, config):
            log.info("early stop at epoch %d (best %d)", epoch, best["epoch"])
            break
        if config.max_minutes and time.perf_counter() - t_start > 60 * config.max_minutes:
            log.info("time limit of %g min reached at epoch %d (resume to continue)", config.max_minutes, epoch)
            break
    bar.close()
    net.load_state_dict(best["state"])
    record = dict(n_train=n_train, n_val=int(len(val_inp["cos_i"])), train_config=asdict(config),
                  best_epoch=int(best["epoch"]), best_val_rms_lnf=float(np.sqrt(best["loss"])),
                  epochs_run=len(history["epoch"]), train_seconds=float(np.sum(history["seconds"])), **(info or {}))
    save_emulator(out, net, dict(kind="general", beta_lo=BETA_LO), None, record, features=feature_definition())
    (out / "history.json").write_text(json.dumps(history))
    plot_loss(history, out / "loss.png")
    return TrainResult(out, len(history["epoch"]), int(best["epoch"]), float(best["loss"]),
                       time.perf_counter() - t_start, history), net

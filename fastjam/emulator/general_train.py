"""Training of the general-photometry emulator (PyTorch) on maps of the multi-component family
(:mod:`fastjam.emulator.general_data`), validated by :mod:`fastjam.emulator.general_evaluate`.
"""
import json
import logging
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from .general_data import anchor_targets, draw_betas, network_inputs, positive_maps, true_ln_f, with_profile_input
from .general_evaluate import predict_ln_f
from .general_features import BETA_LO, feature_definition
from .general_loss import batch_loss, centre_nodes, epoch_order, radial_weights
from .train import TrainConfig, TrainResult, end_epoch, optimiser, plot_loss, resume_states, resumed_end

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
    #: weight b_c of the same coherent term over the centre's grid nodes alone (inside 0.1 R_e, :func:`centre_nodes`),
    #: where the bias of cuspy bulges lies
    centre_bias_weight: float = 0.0
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
        if self.centre_bias_weight < 0:
            raise ValueError(f"centre_bias_weight must be >= 0, got {self.centre_bias_weight}")
        epoch_order(np.ones(1), self.hard_share, np.random.default_rng(0))
        if self.decoder_nodes < 0:
            raise ValueError(f"decoder_nodes must be >= 0, got {self.decoder_nodes}")


def _val_loss(net, inp, betas, config):
    residual = predict_ln_f(net, inp, betas) - true_ln_f(inp, betas)
    return float(batch_loss(residual, config.tail_weight, np, config.bias_weight,
                            pixel_weight=radial_weights(config.radial_weight),
                            centre_bias_weight=config.centre_bias_weight, centre=centre_nodes()))


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
    centre = centre_nodes()
    for k in range(0, len(order), config.batch_size):
        idx = order[k:k + config.batch_size]
        if subset:  # the same random nodes of both anchor maps for the whole batch
            nodes = np.sort(erng.choice(n_nodes, config.decoder_nodes, replace=False))
            pred = net(*network_inputs(train_inp, idx), nodes=nodes)
            y = targets[idx].reshape(len(idx), 2, -1)[:, :, nodes].reshape(len(idx), -1)
            weight = None if omega is None else omega[nodes]
            inner = centre[nodes]
        elif output == "anchors":
            pred, y, weight, inner = net(*network_inputs(train_inp, idx)), targets[idx], omega, centre
        else:
            beta = BETA_LO + erng.uniform(size=len(idx)) * (train_inp["beta_hi"][idx] - BETA_LO)
            sub = {key: v[idx] for key, v in train_inp.items()}
            pred, weight, inner = net(*network_inputs(train_inp, idx, beta, "direct")), omega, centre
            y = torch.as_tensor(true_ln_f(sub, beta), dtype=torch.float32)
        residual = pred - y
        loss = batch_loss(residual, config.tail_weight, torch, config.bias_weight, groups, weight,
                          config.centre_bias_weight, inner)
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
        outer profile radii, angles, a decoder or wider layers: ``GeneralEmulatorNetwork.warm_start``) with a fresh
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
        resume_states(ck, net, opt, sched)
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
        best, stop = end_epoch(net, opt, sched, history, best, (epoch, total, val_loss, t0), config, bar, ckpt_path)
        if stop:
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

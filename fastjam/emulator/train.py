"""Training of the emulator network: validation split, early stopping, learning-rate schedule,
checkpoints that resume after an interruption, a loss-curve plot.

The loss is the mean squared error of :math:`\\ln f` over the map grid, i.e. the mean
squared *relative* error of V_RMS, which is what the accuracy metrics measure.
"""
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..atomic import atomic_path, write_json
from ..dataset import load_dataset
from .features import image_features, param_features, sersic_features
from .network import NetworkConfig

log = logging.getLogger(__name__)


@dataclass
class TrainConfig:
    """Optimiser settings (recorded in the model card)."""

    epochs: int = 400
    batch_size: int = 32
    lr: float = 1e-3
    weight_decay: float = 1e-6
    lr_factor: float = 0.5
    lr_patience: int = 8
    min_lr: float = 1e-6
    patience: int = 30
    val_fraction: float = 0.1
    seed: int = 0


@dataclass
class TrainResult:
    """Outcome of a training run.

    Attributes
    ----------
    out : Path
        Directory with ``emulator.npz``, ``emulator.json``, ``checkpoint.pt``, ``loss.png``.
    epochs : int
        Epochs run in total.
    best_epoch : int
    best_val_loss : float
        Mean squared error of ln f on the validation maps at the best epoch.
    seconds : float
        Wall time of this call.
    history : dict
        ``epoch``, ``train_loss``, ``val_loss``, ``lr`` lists.
    """

    out: Path
    epochs: int
    best_epoch: int
    best_val_loss: float
    seconds: float
    history: dict = field(repr=False)


def dataset_inputs(ds, space, use_image=True):
    """Network inputs and targets of a :class:`~fastjam.dataset.Dataset` as float32 arrays.

    Returns
    -------
    first : ndarray
        Image features (N, 1, 64, 64), or (n, q_obs) features (N, 2) when ``use_image`` is False.
    params : ndarray, shape (N, 5)
    target : ndarray, shape (N, NTHETA*NR)
        ln f.
    """
    n, q_obs, inc, beta, sig, pix = ds.params.T
    pf = param_features(q_obs, inc, beta, sig, pix, space).astype(np.float32)
    if use_image:
        first = image_features(ds.image)[:, None].astype(np.float32)
    else:
        first = sersic_features(n, q_obs, space).astype(np.float32)
    target = np.log(ds.f.reshape(len(ds), -1)).astype(np.float32)
    return first, pf, target


def _split(n, fraction, seed):
    rng = np.random.default_rng(seed)
    perm = rng.permutation(n)
    n_val = max(1, int(round(fraction * n)))
    return perm[n_val:], perm[:n_val]


def _atomic_torch_save(obj, path):
    import torch

    with atomic_path(path) as tmp:
        torch.save(obj, tmp)


def train(data, out, val=None, network=NetworkConfig(), config=TrainConfig(), resume=False, device=None,
          progress=True, max_maps=None):
    """Train an emulator on a training set.

    Parameters
    ----------
    data : str or Path
        Training set written by ``fastjam simulate``.
    out : str or Path
        Output directory. Must not hold a run unless ``resume``.
    val : str or Path, optional
        A separate validation set; otherwise ``config.val_fraction`` of ``data`` is held out.
    network : NetworkConfig
    config : TrainConfig
    resume : bool
        Continue from ``out/checkpoint.pt``.
    device : str, optional
        ``"cpu"`` or ``"cuda"``; a GPU is used when present.
    progress : bool
        Show a tqdm progress bar over epochs.
    max_maps : int, optional
        Use only the first ``max_maps`` maps of ``data`` (quick runs, tests).

    Returns
    -------
    TrainResult
    """
    import torch
    from tqdm.auto import tqdm

    from .network import EmulatorNetwork
    from .store import save_emulator

    t_start = time.perf_counter()
    out = Path(out)
    ckpt_path = out / "checkpoint.pt"
    if out.exists() and any(out.iterdir()) and not resume:
        raise ValueError(f"output directory {out} exists: pass --resume to continue its training, or choose another")
    if resume and not ckpt_path.exists():
        log.info("no checkpoint in %s: starting a new run", out)
    out.mkdir(parents=True, exist_ok=True)
    device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    torch.manual_seed(config.seed)

    ds = load_dataset(data)
    space = ds.meta["space"]
    if max_maps is not None:
        ds = _subset(ds, np.arange(min(int(max_maps), len(ds))))
    first, pf, target = dataset_inputs(ds, space, network.use_image)
    if val is not None:
        vds = load_dataset(val)
        if vds.meta["space"] != space or vds.meta["grid"] != ds.meta["grid"]:
            raise ValueError(f"validation set {val} has another parameter space or grid than {data}")
        vfirst, vpf, vtarget = dataset_inputs(vds, space, network.use_image)
        tr = np.arange(len(ds))
    else:
        tr, va = _split(len(ds), config.val_fraction, config.seed)
        vfirst, vpf, vtarget = first[va], pf[va], target[va]
        first, pf, target = first[tr], pf[tr], target[tr]
    if len(target) < 2:
        raise ValueError(f"training set {data} has too few maps ({len(target)})")
    log.info("training on %d maps, validating on %d", len(target), len(vtarget))

    net = EmulatorNetwork(network).to(device)
    net.init_basis(target)
    opt, sched, history, best = optimiser(net, config)
    start_epoch = 0
    if resume and ckpt_path.exists():
        ck = torch.load(ckpt_path, map_location=device, weights_only=False)
        resume_states(ck, net, opt, sched)
        history, best, start_epoch = ck["history"], ck["best"], ck["epoch"] + 1
        torch.set_rng_state(ck["torch_rng"])
        log.info("resumed from epoch %d", start_epoch)

    tensors = [torch.as_tensor(a, device=device) for a in (first, pf, target)]
    vtensors = [torch.as_tensor(a, device=device) for a in (vfirst, vpf, vtarget)]
    gen = torch.Generator(device="cpu")
    bar = tqdm(range(start_epoch, resumed_end(history, best, config)), initial=start_epoch, total=config.epochs,
               disable=not progress, unit="epoch")
    for epoch in bar:
        t0 = time.perf_counter()
        gen.manual_seed(config.seed * 100003 + epoch)
        net.train()
        perm = torch.randperm(len(target), generator=gen).to(device)
        total = 0.0
        for k in range(0, len(perm), config.batch_size):
            idx = perm[k:k + config.batch_size]
            pred = net(tensors[0][idx], tensors[1][idx])
            loss = torch.mean((pred - tensors[2][idx]) ** 2)
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += loss.item() * len(idx)
        train_loss = total / len(perm)
        val_loss = _evaluate_loss(net, vtensors, config.batch_size * 8)
        best, stop = end_epoch(net, opt, sched, history, best, (epoch, train_loss, val_loss, t0), config, bar,
                               ckpt_path, torch_rng=torch.get_rng_state())
        if stop:
            break
    bar.close()

    net.load_state_dict(best["state"])
    info = dict(n_train=int(len(target)), n_val=int(len(vtarget)), train_config=config.__dict__,
                design_indices=[int(i) for i in ds.index],
                best_epoch=int(best["epoch"]), best_val_rms_lnf=float(np.sqrt(best["loss"])),
                epochs_run=len(history["epoch"]), train_seconds=float(np.sum(history["seconds"])),
                device=str(device), data_meta=ds.meta)
    save_emulator(out, net, space, ds.meta["grid"], info)
    write_json(out / "history.json", history, indent=None)
    plot_loss(history, out / "loss.png")
    return TrainResult(out, len(history["epoch"]), int(best["epoch"]), float(best["loss"]),
                       time.perf_counter() - t_start, history)


def end_epoch(net, opt, sched, history, best, losses, config, bar, ckpt_path, **extra):
    """Close one training epoch: step the scheduler, record ``history``, keep the best state, show the
    losses, checkpoint atomically (with ``extra``) and tell whether training stops.

    Parameters
    ----------
    losses : tuple
        ``(epoch, train_loss, val_loss, t0)``: the epoch, its mean squared training and validation
        losses of ln f and its start (``time.perf_counter()``).

    Returns
    -------
    best : dict
        The best epoch so far (``loss``, ``epoch``, ``state``).
    stop : bool
        Whether training stops here (`early_stopped`).
    """
    epoch, train_loss, val_loss, t0 = losses
    sched.step(val_loss)
    lr = opt.param_groups[0]["lr"]
    for key, v in zip(history, (epoch, train_loss, val_loss, lr, time.perf_counter() - t0)):
        history[key].append(v)
    if val_loss < best["loss"]:
        best = dict(loss=val_loss, epoch=epoch, state={k: v.detach().clone() for k, v in net.state_dict().items()})
    bar.set_postfix(train=f"{np.sqrt(train_loss):.2e}", val=f"{np.sqrt(val_loss):.2e}", lr=f"{lr:.1e}")
    log.debug("epoch %d train %.3e val %.3e lr %.1e", epoch, np.sqrt(train_loss), np.sqrt(val_loss), lr)
    _atomic_torch_save(dict(model=net.state_dict(), optimizer=opt.state_dict(), scheduler=sched.state_dict(),
                            history=history, best=best, epoch=epoch, **extra), ckpt_path)
    stop = early_stopped(epoch, best, lr, config)
    if stop:
        log.info("early stop at epoch %d (best %d)", epoch, best["epoch"])
    return best, stop


def early_stopped(epoch, best, lr, config):
    """Whether training stops after ``epoch``: no better validation loss for ``config.patience`` epochs,
    or the learning rate ``lr`` down to ``config.min_lr``."""
    return epoch - best["epoch"] >= config.patience or lr <= config.min_lr * 1.0001


def resumed_end(history, best, config):
    """Last epoch + 1 of a resumed training: ``config.epochs``, or where it already stopped early (a finished
    run resumed trains no further)."""
    if history["epoch"] and early_stopped(history["epoch"][-1], best, history["lr"][-1], config):
        log.info("already stopped early at epoch %d (best %d)", history["epoch"][-1], best["epoch"])
        return history["epoch"][-1] + 1
    return config.epochs


def optimiser(net, config):
    """AdamW with ReduceLROnPlateau, an empty history and no best epoch yet.

    AdamW is torch's fused implementation where it has one for the parameters' device (torch >= 2.4
    on the CPU): the same update to rounding, in fewer kernels (``bench/general_speed.py`` times the
    steps with either side by side).
    """
    import torch

    try:
        opt = torch.optim.AdamW(net.parameters(), lr=config.lr, weight_decay=config.weight_decay, fused=True)
    except (RuntimeError, ValueError):  # no fused AdamW for this device in this torch
        opt = torch.optim.AdamW(net.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    sched = torch.optim.lr_scheduler.ReduceLROnPlateau(opt, factor=config.lr_factor, patience=config.lr_patience,
                                                       min_lr=config.min_lr)
    return opt, sched, dict(epoch=[], train_loss=[], val_loss=[], lr=[], seconds=[]), dict(loss=np.inf, epoch=-1,
                                                                                           state=None)


def resume_states(checkpoint, net, opt, sched):
    """Load a checkpoint's network, optimiser and scheduler states. The optimiser keeps its own
    implementation (fused or not: :func:`optimiser`), whichever one wrote the checkpoint."""
    implementation = [{k: g.get(k) for k in ("fused", "foreach")} for g in opt.param_groups]
    net.load_state_dict(checkpoint["model"])
    opt.load_state_dict(checkpoint["optimizer"])
    sched.load_state_dict(checkpoint["scheduler"])
    for group, kept in zip(opt.param_groups, implementation):
        group.update(kept)


def _evaluate_loss(net, tensors, batch):
    import torch

    net.eval()
    total = 0.0
    with torch.no_grad():
        for k in range(0, len(tensors[2]), batch):
            pred = net(tensors[0][k:k + batch], tensors[1][k:k + batch])
            total += torch.sum(torch.mean((pred - tensors[2][k:k + batch]) ** 2, 1)).item()
    return total / len(tensors[2])


def _subset(ds, idx):
    return ds.subset(idx)


def plot_loss(history, path):
    """Save the training and validation loss curves (RMS of ln f) to ``path``."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6, 4))
    ax = fig.subplots()
    ax.semilogy(history["epoch"], np.sqrt(history["train_loss"]), label="train")
    ax.semilogy(history["epoch"], np.sqrt(history["val_loss"]), label="validation")
    ax.set_xlabel("epoch")
    ax.set_ylabel("RMS error of ln f (relative V_RMS error)")
    ax.legend()
    ax.grid(alpha=0.3)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=100)

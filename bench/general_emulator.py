"""Design choice, learning curve, output basis and model card of the general-photometry (MGE) emulator
(JAM's own error, the pixsize clamp and the family's ranges: ``bench/general_jam.py``).

Run on a consistent copy of a growing training set (``cp -r ~/.cache/fastjam/mge_train SNAP``)::

    python bench/general_emulator.py design --data SNAP      # encoders x output designs
    python bench/general_emulator.py curve --data SNAP        # error against training-set size
    python bench/general_emulator.py card --data SNAP --model WORK/NET --out DIR   # emulator + card
    python bench/general_emulator.py basis --data SNAP --sizes 32 64 128 256   # floor of K output basis maps
    python bench/general_emulator.py ensemble --data SNAP --models NET1 NET2   # networks alone and averaged

The maps of SNAP are split once (seed 0): 20% test, 10% validation, the rest for training
(learning-curve subsets are nested prefixes of it), unless ``--test`` and ``--val`` name
separate sets (``mge_test``, ``mge_val`` of ``scripts/make_training_sets_mge.sh``).
Errors are e = f_emu/f_JAM - 1 over the 64 x 64 polar grid at three anisotropies per test
map drawn in [-0.2, beta_hi]. Each mode prints a table and writes
``bench/results/general_<mode>.json`` (or ``--json``); ``design`` and ``curve`` write it after each
network, so an interrupted run keeps the rows it finished.
"""
import argparse
import json
import logging
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import RESULTS, machine_info, shown_path  # noqa: E402

from fastjam.atomic import write_json  # noqa: E402

DESIGNS = {  # name: GeneralConfig keywords
    "pairs-anchors": dict(encoder="pairs", output="anchors", token_hidden=(32,), latent=32),
    "singles-anchors": dict(encoder="singles", output="anchors"),
    # 128 output basis maps: the PCA floor of 64 is 1.9% at the per-map max p95 (0.75% with 128)
    "singles-anchors-k128": dict(encoder="singles", output="anchors", n_basis=128),
    # the light sampled on a polar grid (the outer minor axis carries most of the maps' error)
    "profile-anchors-k128": dict(encoder="profile", output="anchors", n_basis=128, token_hidden=(128, 128)),
    "hybrid-anchors-k128": dict(encoder="hybrid", output="anchors", n_basis=128),
    # and the light beyond 3 R_e, which the line of sight through the outer minor axis crosses
    "hybrid-outer-anchors-k128": dict(encoder="hybrid", output="anchors", n_basis=128,
                                      profile_outer=(4.0, 6.0, 9.0, 13.5)),
    # and the light inside the profile's innermost radius (0.02 R_e), where the bias of cuspy bulges lies
    "hybrid-inner-anchors-k128": dict(encoder="hybrid", output="anchors", n_basis=128,
                                      profile_outer=(4.0, 6.0, 9.0, 13.5, 0.005, 0.008, 0.0127)),
    # and the surface brightness smoothed by the PSF and the pixels, at those radii (JAM divides by it)
    "hybrid-outer-psf-anchors-k128": dict(encoder="hybrid", output="anchors", n_basis=128,
                                          profile_outer=(4.0, 6.0, 9.0, 13.5), profile_psf=True),
    # and twice the width of every layer (warm start from hybrid-outer-anchors-k128: GeneralEmulatorNetwork.warm_start)
    "hybrid-outer-wide-anchors-k128": dict(encoder="hybrid", output="anchors", n_basis=128, token_hidden=(128, 128),
                                           latent=128, hidden=(512, 512, 512), profile_outer=(4.0, 6.0, 9.0, 13.5)),
    # and the light at 2, 4, 7 and 10 deg from the major axis at every radius: a thin disk's vertical profile
    "hybrid-disk-anchors-k128": dict(encoder="hybrid", output="anchors", n_basis=128,
                                     profile_outer=(4.0, 6.0, 9.0, 13.5), profile_angles=(2.0, 4.0, 7.0, 10.0)),
    # and a per-position decoder that corrects the basis maps from the light at each position
    "hybrid-decoder-anchors-k128": dict(encoder="hybrid", output="anchors", n_basis=128, decoder=(32, 32)),
    # 4x wider encoders and MLP (the 128 x 8,192 output basis still holds most weights): capacity at ~10k maps
    "hybrid-anchors-k128-big": dict(encoder="hybrid", output="anchors", n_basis=128, token_hidden=(128, 128),
                                    latent=128, hidden=(512, 512, 512)),
    # and the isotropic Jeans solution (sigma_z^2, its radial slope, the circular speed) on that grid
    "jeans-anchors-k128": dict(encoder="jeans", output="anchors", n_basis=128),
    "singles-anchors-big": dict(encoder="singles", output="anchors", token_hidden=(128, 128), latent=128,
                                hidden=(512, 512, 512)),
    "singles-direct": dict(encoder="singles", output="direct"),
    "pairs-direct": dict(encoder="pairs", output="direct", token_hidden=(32,), latent=32),
}
ACCURACY = ("pixel_median", "pixel_p99", "map_max_p95", "map_bias_p95")
METRICS = ACCURACY + ("map_max_median", "map_max_max")


def split(n, seed=0):
    """Test (20%), validation (10%) and training indices of n maps."""
    perm = np.random.default_rng(seed).permutation(n)
    n_test, n_val = int(0.2 * n), int(0.1 * n)
    return perm[:n_test], perm[n_test:n_test + n_val], perm[n_test + n_val:]


def load_sets(path, test=None, val=None, first=None, test_first=None, extra=()):
    """Test, validation and training inputs: a split of ``path`` (20% test, 10% validation), or the
    separate sets given (``test`` alone: validation is 10% of ``path``). ``first``: only the maps of
    design indices below it (a growing set read as it was at that size); ``test_first`` likewise for
    the test set. ``extra``: further training sets (e.g. ``mge_train_edge``), all of whose maps are
    appended to the training maps (``PATH:N``: only its design indices below N)."""
    sets, n = _split(path, test, val, first, test_first)
    for more in extra or ():
        path_of, _, below = more.rpartition(":")
        add = _inputs(path_of, int(below)) if path_of and below.isdigit() else _inputs(more)
        sets["train"] = {k: np.concatenate([v, add[k]]) for k, v in sets["train"].items()}
        n += len(add["cos_i"])
    return sets, n


def _inputs(path, first=None):
    """The network inputs of the maps of a set, only those of design indices below ``first`` if given."""
    from fastjam.dataset import load_dataset
    from fastjam.emulator.general_data import map_inputs

    ds = load_dataset(path)
    inp = map_inputs(ds)
    if first:
        inp = {k: v[np.asarray(ds.index) < first] for k, v in inp.items()}
    return inp


def _split(path, test, val, first, test_first):
    inp = _inputs(path, first)
    n = len(inp["cos_i"])
    if test:
        tinp = _inputs(test, test_first)
    if test and val:  # one or more validation sets (e.g. mge_val and mge_val_truncated), joined
        vinp = [_inputs(v) for v in ([val] if isinstance(val, str) else val)]
        return dict(test=tinp, val={k: np.concatenate([v[k] for v in vinp]) for k in vinp[0]}, train=inp), n
    if test:  # a separate test set; validation: 10% of the data (seed 0)
        perm = np.random.default_rng(0).permutation(n)
        n_val = int(0.1 * n)
        return dict(test=tinp, val={k: v[perm[:n_val]] for k, v in inp.items()},
                    train={k: v[perm[n_val:]] for k, v in inp.items()}), n
    if val:
        raise ValueError("--val needs --test")
    test_idx, val_idx, train_idx = split(n)
    return {name: {k: v[idx] for k, v in inp.items()} for name, idx in
            (("test", test_idx), ("val", val_idx), ("train", train_idx))}, n


def _run(sets, design, n_train, out, args):
    from fastjam.emulator.general import GeneralConfig, GeneralEmulatorNetwork
    from fastjam.emulator.general_evaluate import accuracy
    from fastjam.emulator.general_train import GeneralTrainConfig, train_general

    train = {k: v[:n_train] for k, v in sets["train"].items()}
    config = GeneralTrainConfig(epochs=args.epochs, max_minutes=args.minutes, seed=args.seed, batch_size=args.batch,
                                weight_decay=args.weight_decay, tail_weight=args.tail_weight, lr=args.lr,
                                bias_weight=args.bias_weight, centre_bias_weight=args.centre_bias_weight,
                                hard_share=args.hard_share,
                                radial_weight=args.radial_weight, decoder_nodes=args.decoder_nodes,
                                patience=args.patience, lr_patience=args.lr_patience, min_lr=args.min_lr)
    init, info = None, None
    if args.init:  # warm start from a trained network of the same design (or one it extends)
        init, info = GeneralEmulatorNetwork.load(args.init), dict(warm_start=shown_path(args.init))
    result, net = train_general(train, sets["val"], out, GeneralConfig(**DESIGNS[design]), config,
                                resume=True, progress=not args.no_progress, info=info, init=init)
    n_used = json.loads((Path(out) / "emulator.json").read_text())["training"]["n_train"]  # after positive_maps
    row = dict(design=design, n_train=n_used, epochs=result.epochs, best_epoch=result.best_epoch,
               train_minutes=float(np.sum(result.history["seconds"]) / 60), **accuracy(net, sets["test"]))
    logging.info("%s", row)
    return row


def table(rows, keys):
    lines = ["  ".join(f"{k:>16}" for k in keys)]
    for r in rows:
        lines.append("  ".join(f"{r[k]:>16.4%}" if k in METRICS else f"{str(r[k]):>16}" for k in keys))
    return "\n".join(lines)


def write_rows(mode, rows, args, n_maps, extra=None):
    def shown(v):
        return [shown(x) for x in v] if isinstance(v, list) else shown_path(v) if isinstance(v, str) and "/" in v else v

    out = dict(benchmark=f"general_{mode}", data=shown_path(args.data), n_maps_snapshot=n_maps, rows=rows,
               args={k: shown(v) for k, v in vars(args).items() if k != "func"}, machine=machine_info(),
               **(extra or {}))
    path = Path(args.json) if args.json else RESULTS / f"general_{mode}.json"
    write_json(path, out)
    return path


def _train_all(mode, runs, args):
    """Train and test the networks ``runs`` [(design, n_train, work directory)] in turn, writing the JSON after
    each (a long run interrupted keeps the rows it finished)."""
    sets, n_maps = load_sets(args.data, args.test, args.val, args.first, args.test_first, args.extra)
    rows = []
    for design, n_train, work in runs:
        rows.append(_run(sets, design, n_train, work, args))
        path = write_rows(mode, rows, args, n_maps)
    print(table(rows, ("design", "n_train", "epochs", "train_minutes") + ACCURACY))
    print(path)


def bench_design(args):
    _train_all("design", [(d, args.n_train, Path(args.work) / f"design_{d}") for d in args.designs], args)


def bench_curve(args):
    d = args.designs[0]
    _train_all("curve", [(d, n, Path(args.work) / f"curve_{d}_{n}") for n in args.sizes], args)


def _anchors_of(net, inp):
    """A network's ln f at the two anchors (N, 2 NTHETA*NR) on maps ``inp``."""
    import torch

    from fastjam.emulator.general_data import network_inputs, with_profile_input

    n, inp = len(inp["cos_i"]), with_profile_input(inp, net.config)
    with torch.no_grad():  # in chunks: a decoder's local features take P x 30 numbers per map
        return np.concatenate([net(*network_inputs(inp, np.arange(k, min(k + 256, n)))).double().numpy()
                               for k in range(0, n, 256)])


def bench_ensemble(args):
    """Networks ``--models`` alone and averaged (mean ln f at the anchors) on the same test maps: how much
    of the error is the spread between trainings (variance) rather than shared (bias)."""
    from fastjam.emulator.general import GeneralEmulatorNetwork
    from fastjam.emulator.general_evaluate import anchor_errors, error_stats

    sets, n_maps = load_sets(args.data, args.test, args.val, args.first, args.test_first, args.extra)
    test = sets["test"]
    outs = [_anchors_of(GeneralEmulatorNetwork.load(path), test) for path in args.models]
    rows = [dict(design=name, n_train="-", **error_stats(anchor_errors(y, test)))  # the anisotropies of accuracy()
            for name, y in [(shown_path(m), o) for m, o in zip(args.models, outs)] + [("mean of all", np.mean(outs, 0))]]
    print(table(rows, ("design",) + ACCURACY))
    print(write_rows("ensemble", rows, args, n_maps))


def bench_basis(args):
    """Floor of the linear output layer: held-out maps projected on the first K principal components
    of the training maps' ln f at the two anchors (what a network with K basis maps can at best do);
    with ``--model``, on that network's own trained basis (least squares), also on the maps it errs
    most on (its worst 5% by the per-map maximum)."""
    from fastjam.emulator.general_data import anchor_targets
    from fastjam.emulator.general_evaluate import anchor_errors, error_stats

    sets, n_maps = load_sets(args.data, args.test, args.val, args.first, args.test_first, args.extra)
    test = anchor_targets(sets["test"])
    if args.model:
        rows = _trained_basis_floor(args.model, sets["test"], test, args.seed)
    else:
        train = anchor_targets(sets["train"])
        mean = train.mean(0)
        _, _, vt = np.linalg.svd(train - mean, full_matrices=False)
        rows = []
        for k in args.sizes:
            proj = (test - mean) @ vt[:k].T @ vt[:k] + mean
            e = anchor_errors(proj, sets["test"], n_betas=1, seed=args.seed)
            rows.append(dict(design=f"PCA {k} basis maps", n_train=len(train), **error_stats(e)))
    print(table(rows, ("design", "n_train") + ACCURACY + (("map_max_median",) if args.model else ())))
    print(write_rows("basis", rows, args, n_maps))


def _trained_basis_floor(model, inp, targets, seed):
    """The network's errors and those of the best fit of its own output basis, on all maps and on the
    network's worst 5%."""
    from fastjam.emulator.general import GeneralEmulatorNetwork
    from fastjam.emulator.general_evaluate import anchor_errors, error_stats

    net = GeneralEmulatorNetwork.load(model)
    pred = _anchors_of(net, inp)
    w, b = (v.detach().double().numpy() for v in (net.basis.weight, net.basis.bias))
    floor = (w @ np.linalg.lstsq(w, (targets - b).T, rcond=None)[0]).T + b
    e_net, e_floor = (anchor_errors(y, inp, n_betas=1, seed=seed) for y in (pred, floor))
    worst = np.abs(e_net).max(1) >= np.percentile(np.abs(e_net).max(1), 95)
    return [dict(design=f"{name}{part}", n_train="-", map_max_median=float(np.median(np.abs(e[sel]).max(1))),
                 **error_stats(e[sel]))
            for part, sel in (("", slice(None)), (", network's worst 5%", worst))
            for name, e in (("network", e_net), ("its basis, best fit", e_floor))]


def _design_of(network):
    """Name in DESIGNS of a card's network settings."""
    from fastjam.emulator.general import GeneralConfig

    for name, kw in DESIGNS.items():  # through GeneralConfig: a card written before a field existed lacks it
        if GeneralConfig(**kw).as_dict() == GeneralConfig.from_dict(network).as_dict():
            return name
    raise ValueError(f"network {network} is none of the designs {list(DESIGNS)}")


def bench_card(args):
    """Copy a trained network to ``--out`` with its held-out accuracy, the likelihood's error model (radial
    RMS error, per-map coherent bias), the novelty calibration (fastjam.emulator.novelty), JAM's error
    and the commands in the card."""
    import shutil

    from fastjam.emulator.general import GeneralEmulatorNetwork
    from fastjam.atomic import write_npz
    from fastjam.emulator.general_evaluate import error_card, novelty_card
    from fastjam.emulator.store import load_arrays, update_card

    sets, n_maps = load_sets(args.data, args.test, args.val, args.first, args.test_first, args.extra)
    arrays, card = load_arrays(args.model)
    net = GeneralEmulatorNetwork.from_arrays(arrays, card)
    entries = error_card(net, sets["test"])
    novelty_arrays, entries["novelty"] = novelty_card(net, sets["train"], sets["test"])
    acc = entries["test_accuracy"]
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for name in ("emulator.json", "loss.png", "history.json"):
        shutil.copy(Path(args.model) / name, out / name)
    write_npz(out / "emulator.npz", **{k: v for k, v in arrays.items() if not k.startswith("novelty.")},
              **novelty_arrays)
    jam = RESULTS / "general_jam.json"
    cfg, design = card["training"]["train_config"], _design_of(card["network"])
    first = f" --first {args.first}" if args.first else ""
    if args.extra:
        first += " --extra " + " ".join(shown_path(e) for e in args.extra)
    test = (f" --test {shown_path(args.test)}" + (f" --test-first {args.test_first}" if args.test_first else "")
            + (" --val " + " ".join(shown_path(v) for v in args.val) if args.val else "")) if args.test else ""
    epochs = card["training"]["epochs_run"]  # the epochs run, however the training stopped: no wall-time limit
    update_card(out, **entries, n_maps_snapshot=n_maps, data=shown_path(args.data) + first,
                validation=" ".join(shown_path(v) for v in args.val) if args.val else None,
                jam_convergence=json.loads(jam.read_text())["rows"][0] if jam.exists() else None,
                regenerate=_regenerate(card, cfg, epochs, design, first, test, args))
    print(table([dict(design=str(out), n_train=card["training"]["n_train"], **acc)],
                 ("design", "n_train") + ACCURACY))


def _regenerate(card, cfg, epochs, design, first, test, args):
    """The card's commands that remake the sets, the network and the card."""
    sets = ("bash scripts/make_training_sets_mge.sh   # resumable: mge_train, mge_test, mge_val, the truncated sets, "
            "the committee's, edge-on and thin sets")
    model_card = f"python scripts/model_card.py --model {shown_path(args.out)}"
    if card["training"].get("warm_start"):  # a chain of networks and a committee's set: one script
        return [sets, "bash scripts/train_emulator_mge.sh   # resumable: the networks it starts from, the "
                "committee's maps, this network and its card", model_card]
    data = f"--data {shown_path(args.data)}{first}{test}"
    return [sets,
            f"python bench/general_emulator.py curve {data} --designs {design} --sizes 100000 --batch "
            f"{cfg['batch_size']} --patience {cfg['patience']} --lr-patience {cfg['lr_patience']} --epochs {epochs} "
            f"--minutes 0 --work WORK",
            f"python bench/general_emulator.py card {data} --model WORK/curve_{design}_100000 --out "
            f"{shown_path(args.out)}",
            model_card]


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("mode", choices=("design", "curve", "card", "basis", "ensemble"))
    p.add_argument("--data", required=True, help="a copy of an MGE training set")
    p.add_argument("--test", help="a separate test set (default: 20%% of --data)")
    p.add_argument("--val", nargs="+", help="separate validation sets, joined (with --test; default: 10%% of --data)")
    p.add_argument("--extra", nargs="+", default=[], help="further training sets, appended to the training maps (PATH:N: design indices below N)")
    p.add_argument("--first", type=int, help="only the maps of design indices below this (default: all)")
    p.add_argument("--test-first", type=int, help="only the test maps of design indices below this (default: all)")
    p.add_argument("--work", default="bench_work_general", help="directory of the trained networks (resumable)")
    p.add_argument("--designs", nargs="+", default=list(DESIGNS), choices=list(DESIGNS))
    p.add_argument("--n-train", type=int, default=100000, help="training maps of the design comparison")
    p.add_argument("--sizes", type=int, nargs="+", default=[250, 500, 1000, 2000],
                   help="curve: training-set sizes; basis: numbers of basis maps")
    p.add_argument("--epochs", type=int, default=3000)
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--patience", type=int, default=80, help="epochs without improvement before stopping")
    p.add_argument("--lr-patience", type=int, default=25, help="epochs without improvement before halving lr")
    p.add_argument("--minutes", type=float, default=10.0, help="wall-time limit per network (0: none)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--model", help="card: a trained network directory; basis: the network whose own basis to test")
    p.add_argument("--models", nargs="+", help="ensemble: trained network directories")
    p.add_argument("--lr", type=float, default=1e-3, help="initial learning rate (AdamW)")
    p.add_argument("--min-lr", type=float, default=1e-5, help="floor of the learning rate (halved on plateaus from --lr); training stops on reaching it")
    p.add_argument("--init", help="curve/design: warm start from this trained network (same design, or one with fewer outer radii or angles)")
    p.add_argument("--weight-decay", type=float, default=0.0, help="AdamW weight decay")
    p.add_argument("--tail-weight", type=float, default=0.0,
                   help="weight of sqrt(mean r^4) in the training loss (GeneralTrainConfig.tail_weight)")
    p.add_argument("--bias-weight", type=float, default=0.0, help="GeneralTrainConfig.bias_weight: the coherent term")
    p.add_argument("--centre-bias-weight", type=float, default=0.0,
                   help="GeneralTrainConfig.centre_bias_weight: the coherent term over the centre (r < 0.1 R_e)")
    p.add_argument("--hard-share", type=float, default=0.0,
                   help="GeneralTrainConfig.hard_share: share of each epoch drawn where the network errs most")
    p.add_argument("--radial-weight", type=float, default=0.0,
                   help="GeneralTrainConfig.radial_weight: c of the pixel weights 1 + c (r/R_e)^2")
    p.add_argument("--decoder-nodes", type=int, default=1024,
                   help="GeneralTrainConfig.decoder_nodes: grid nodes per batch for a design with a decoder")
    p.add_argument("--out", help="card: where to write the emulator and its card")
    p.add_argument("--json", help="output file (default bench/results/general_<mode>.json)")
    p.add_argument("--no-progress", action="store_true")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    import torch

    torch.set_num_threads(1)
    dict(design=bench_design, curve=bench_curve, card=bench_card, basis=bench_basis,
         ensemble=bench_ensemble)[args.mode](args)


if __name__ == "__main__":
    main()

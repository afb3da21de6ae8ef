"""The ``fastjam`` command line: thin wrappers over the library functions."""
import argparse
import logging
import sys

log = logging.getLogger("fastjam")


def _simulate(args):
    from .jam import JAMSettings
    from .simulate import simulate

    summary = simulate(args.out, args.n, args.seed, workers=args.workers, scheduler=args.scheduler,
                       resume=args.resume, settings=JAMSettings(nrad=args.nrad, nang=args.nang),
                       progress=not args.no_progress, family=args.family)
    print(summary)


def _train(args):
    from .emulator.network import NetworkConfig
    from .emulator.train import TrainConfig, train

    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    config = TrainConfig(epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, seed=args.seed,
                         patience=args.patience)
    network = NetworkConfig(use_image=not args.mlp_only)
    if args.hidden:
        network = NetworkConfig(use_image=not args.mlp_only, hidden=tuple(args.hidden))
    result = train(args.data, args.out, val=args.val, network=network,
                   config=config, resume=args.resume, device=args.device, progress=not args.no_progress,
                   max_maps=args.max_maps)
    print(f"trained {result.epochs} epochs in {result.seconds:.0f} s; best epoch {result.best_epoch}, "
          f"validation RMS(ln f) = {result.best_val_loss ** 0.5:.3e}; weights in {result.out}")


def _evaluate(args):
    from .emulator import Emulator
    from .emulator.evaluate import evaluate, write_json
    from .emulator.store import update_card

    emulator = Emulator.load(args.model)
    result = evaluate(emulator, args.data, offgrid_maps=args.offgrid_maps, seed=args.seed,
                      progress=not args.no_progress, plot_dir=args.plots)
    print(result.table())
    if args.json:
        write_json(result, args.json)
    if args.update_card:
        update_card(args.model, metrics=result.to_dict(), error_model=result.error_model)


def _fit(args):
    from .config import load_config
    from .fit import fit

    overrides = dict(kv.split("=", 1) for kv in args.set or [])
    overrides = {k: _parse_value(v) for k, v in overrides.items()}
    cfg = load_config(args.config, overrides)
    emulator = None
    if args.emulator:
        from .emulator import Emulator

        emulator = Emulator.load(args.emulator)
    forward = args.forward or cfg["forward"]["model"]
    if args.refine or forward == "jam":
        from .exact_fit import fit_exact, refine
        from .jam import JAMSettings

        kw = dict(jam_settings=JAMSettings(nrad=args.nrad, nang=args.nang), cache_dir=args.cache,
                  workers=args.workers, scheduler=args.scheduler, progress=not args.no_progress)
        if args.refine:
            result = refine(cfg, emulator=emulator, backend=args.backend, **kw)
        else:
            result = fit_exact(cfg, **kw)
    else:
        result = fit(cfg, backend=args.backend, emulator=emulator, progress=not args.no_progress)
    print(result.table())
    if args.out:
        result.save(args.out)
        print(f"summary, posterior.nc and plots written to {args.out}")


def _compare(args):
    from .compare import compare
    from .config import load_config
    from .jam import JAMSettings

    overrides = dict(kv.split("=", 1) for kv in args.set or [])
    cfg = load_config(args.config, {k: _parse_value(v) for k, v in overrides.items()})
    emulator = None
    if args.emulator:
        from .emulator import Emulator

        emulator = Emulator.load(args.emulator)
    result = compare(cfg, emulator=emulator, jam_method=args.jam_method, workers=args.workers,
                     scheduler=args.scheduler, out=args.out, progress=not args.no_progress, grid_size=tuple(args.grid),
                     grid_box=args.grid_box, jam_walkers=args.jam_walkers, jam_steps=args.jam_steps,
                     jam_settings=JAMSettings(nrad=args.nrad, nang=args.nang))
    print(result.table())
    if args.out:
        print(f"comparison.json, comparison.txt, corner_overlay.png, maps_emulator.png and maps_jam.png written to "
              f"{args.out}")


def _parse_value(text):
    import tomllib

    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text


def build_parser():
    parser = argparse.ArgumentParser(prog="fastjam", description="Fast Bayesian JAM modelling with a neural emulator.")
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress messages (INFO level)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("simulate", help="generate a training set of JAM V_RMS maps (parallel, resumable)")
    p.add_argument("--n", type=int, required=True, help="number of maps in the design")
    p.add_argument("--seed", type=int, required=True, help="seed of the Sobol design (use disjoint seeds per split)")
    p.add_argument("--out", required=True, help="output directory")
    p.add_argument("--workers", type=int, default=2, help="local Dask worker processes; 0 = serial (default 2)")
    p.add_argument("--scheduler", default=None, help="address of an existing Dask scheduler, e.g. tcp://host:8786")
    p.add_argument("--resume", action="store_true", help="continue (or extend) an existing output directory")
    p.add_argument("--nrad", type=int, default=40, help="jampy nrad (default 40)")
    p.add_argument("--nang", type=int, default=20, help="jampy nang (default 20)")
    p.add_argument("--family", choices=("sersic", "mge"), default="sersic",
                   help="single-Sérsic V_RMS maps (default) or the multi-component MGE family (A, B maps)")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    p.set_defaults(func=_simulate)

    p = sub.add_parser("train", help="train the emulator on a training set (resumable checkpoints)")
    p.add_argument("--data", required=True, help="training set directory")
    p.add_argument("--out", required=True, help="output directory for weights, checkpoints and plots")
    p.add_argument("--val", default=None, help="separate validation set (default: hold out 10%% of --data)")
    p.add_argument("--epochs", type=int, default=400, help="maximum epochs (default 400)")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--lr", type=float, default=1e-3, help="initial learning rate (default 1e-3)")
    p.add_argument("--patience", type=int, default=30, help="early-stopping patience in epochs (default 30)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--mlp-only", action="store_true", help="baseline without the photometry CNN: (n, q_obs) inputs")
    p.add_argument("--hidden", type=int, nargs="+", default=None, help="MLP layer widths (default 256 256 256 256)")
    p.add_argument("--max-maps", type=int, default=None, help="use only the first N maps")
    p.add_argument("--device", default=None, help="cpu or cuda (default: cuda when present)")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    p.add_argument("--resume", action="store_true", help="continue from the checkpoint in --out")
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=_train)

    p = sub.add_parser("evaluate", help="measure an emulator against a held-out test set made by jampy")
    p.add_argument("--model", default=None, help="emulator directory (default: the shipped one)")
    p.add_argument("--data", required=True, help="test set directory (never used in training)")
    p.add_argument("--json", default=None, help="write the metrics to this JSON file")
    p.add_argument("--plots", default=None, help="directory for maps of the worst and a typical case")
    p.add_argument("--offgrid-maps", type=int, default=100, help="maps recomputed by JAM at random positions")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--update-card", action="store_true", help="store the metrics and error model in the model card")
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=_evaluate)

    p = sub.add_parser("fit", help="fit an observed V_RMS map (posterior of inclination, beta_z, M/L)")
    p.add_argument("config", help="TOML configuration of the fit")
    p.add_argument("--backend", choices=("emcee", "numpyro"), default=None, help="sampler (default: the config's)")
    p.add_argument("--out", default=None, help="directory for the summary, NetCDF posterior and plots")
    p.add_argument("--emulator", default=None, help="emulator directory (default: the shipped one)")
    p.add_argument("--set", action="append", metavar="SECTION.KEY=VALUE",
                   help="override a config value, e.g. --set sampler.steps=5000 (repeatable)")
    p.add_argument("--forward", choices=("emulator", "jam"), default=None,
                   help="forward model (default: the config's); jam = the exact JAM posterior (docs/exact.md)")
    p.add_argument("--refine", action="store_true",
                   help="emulator posterior, then the exact JAM posterior on its inclination range, side by side")
    p.add_argument("--workers", type=int, default=2, help="local Dask workers for jampy; 0 = serial (default 2)")
    p.add_argument("--scheduler", default=None, help="address of an existing Dask scheduler, e.g. tcp://host:8786")
    p.add_argument("--cache", default=None,
                   help="jampy node cache of the exact posterior (default ~/.cache/fastjam/exact/<galaxy>)")
    p.add_argument("--nrad", type=int, default=40, help="jampy nrad of the exact posterior (default 40)")
    p.add_argument("--nang", type=int, default=20, help="jampy nang of the exact posterior (default 20)")
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=_fit)

    p = sub.add_parser("compare", help="fit with the emulator and with jampy, and compare the two posteriors")
    p.add_argument("config", help="TOML configuration of the fit")
    p.add_argument("--workers", type=int, default=2, help="local Dask workers for jampy; 0 = serial (default 2)")
    p.add_argument("--scheduler", default=None, help="address of an existing Dask scheduler, e.g. tcp://host:8786")
    p.add_argument("--out", default=None, help="directory for the report, figures and the resumable JAM cache")
    p.add_argument("--jam-method", choices=("grid", "emcee", "exact"), default="grid",
                   help="JAM reference: grid with analytic M/L (default), emcee, or the exact posterior "
                   "(docs/exact.md)")
    p.add_argument("--grid", type=int, nargs=2, default=(40, 30), metavar=("NI", "NB"),
                   help="grid nodes in inclination and beta_z (default 40 30)")
    p.add_argument("--grid-box", choices=("emulator", "prior"), default="emulator",
                   help="grid over a box around the emulator posterior (default) or over the whole prior")
    p.add_argument("--jam-walkers", type=int, default=None, help="emcee walkers for JAM (default: the config's)")
    p.add_argument("--jam-steps", type=int, default=None, help="emcee steps for JAM (default: the config's)")
    p.add_argument("--nrad", type=int, default=40, help="jampy nrad (default 40, as the training set)")
    p.add_argument("--nang", type=int, default=20, help="jampy nang (default 20, as the training set)")
    p.add_argument("--emulator", default=None, help="emulator directory (default: the shipped one)")
    p.add_argument("--set", action="append", metavar="SECTION.KEY=VALUE",
                   help="override a config value, e.g. --set sampler.steps=5000 (repeatable)")
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=_compare)
    return parser


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(asctime)s %(name)s %(levelname)s: %(message)s")
    if not args.verbose:
        logging.getLogger("distributed").setLevel(logging.ERROR)
    if args.command is None:
        parser.print_help()
        return 0
    try:
        args.func(args)
    except ValueError as exc:
        print(f"fastjam {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        hint = " (rerun with --resume)" if args.command in ("simulate", "train") else " (rerun to resume)"
        print(f"fastjam {args.command}: interrupted; finished outputs are kept{hint}", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())

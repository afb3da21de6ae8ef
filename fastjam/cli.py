"""The ``fastjam`` command line: thin wrappers over the library functions."""
import logging
import os
import sys

from .cli_args import Parser, add_family_design, add_los_nodes, int_at_least, overrides, positive_float, seed

log = logging.getLogger("fastjam")


def _range(name, lo, hi):
    try:
        return float(lo), float(hi)
    except ValueError:
        raise ValueError(f"--family-range {name}: LO and HI must be numbers, got {lo!r} {hi!r}") from None


def _design_points(args):
    """The ``--design`` array, or None (then --n and --seed are required)."""
    if args.design is None:
        missing = [flag for flag, v in (("--n", args.n), ("--seed", args.seed)) if v is None]
        if missing:
            raise ValueError(f"simulate needs {' and '.join(missing)} (or --design FILE.npy)")
        return None
    import numpy as np

    if args.inclination or args.family_range or args.outer_radius:
        raise ValueError("--design gives the design points: --inclination, --family-range and --outer-radius "
                         "do not apply")
    try:
        return np.load(args.design, allow_pickle=False)
    except (OSError, ValueError) as err:
        raise ValueError(f"--design {args.design}: not a readable .npy array ({err})") from None


def _simulate(args):
    from .jam import JAMSettings
    from .simulate import simulate

    space = None
    ranges = {name: _range(name, lo, hi) for name, lo, hi in args.family_range or ()}
    if args.inclination:
        ranges["inclination"] = tuple(args.inclination)
    if ranges or args.outer_radius:
        from dataclasses import replace

        from .family import FamilySpace

        if args.family != "mge":
            raise ValueError("--inclination, --family-range and --outer-radius set the MGE family's design "
                             "(--family mge)")
        space = FamilySpace().restricted(**ranges)
        if args.outer_radius:
            space = replace(space, outer_radius=tuple(args.outer_radius))
    design = _design_points(args)
    summary = simulate(args.out, args.n, args.seed, workers=args.workers, scheduler=args.scheduler,
                       resume=args.resume, settings=JAMSettings(nrad=args.nrad, nang=args.nang,
                                                                  los_nodes=args.los_nodes),
                       progress=not args.no_progress, family=args.family, space=space, design=design)
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
    from . import rundir
    from .config import load_config
    from .diagnostics import ChecksFailed
    from .fit import fit

    cfg = load_config(args.config, overrides(args.set))
    backend = args.backend or cfg["sampler"]["backend"]
    sampler_kwargs = {}
    if args.out:
        out = rundir.prepare_fit_dir(args.out, overwrite=args.overwrite, resume=args.resume)
        fingerprint = dict(config=cfg, backend=backend, emulator=args.emulator)
        sampler_kwargs["checkpoint"] = str(rundir.checkpoint_path(out, backend, fingerprint, resume=args.resume))
    elif args.resume:
        raise ValueError("--resume needs the --out directory of the interrupted fit")
    emulator = None
    if args.emulator:
        from .emulator import Emulator

        emulator = Emulator.load(args.emulator)
    forward = args.forward or cfg["forward"]["model"]
    failed = None
    refining = args.refine or cfg["refine"]["enabled"]
    if refining or forward == "jam":
        from .exact_fit import fit_exact, refine, refine_settings
        from .jam import JAMSettings

        settings, configured = refine_settings(cfg)
        jam = JAMSettings(nrad=args.nrad or configured.nrad, nang=args.nang or configured.nang,
                          los_nodes=configured.los_nodes if args.los_nodes is None else args.los_nodes)
        kw = dict(settings=settings, jam_settings=jam, cache_dir=args.cache, workers=args.workers,
                  scheduler=args.scheduler, progress=not args.no_progress)
        result = refine(cfg, emulator=emulator, backend=args.backend, **kw) if refining else fit_exact(cfg, **kw)
    else:
        try:
            result = fit(cfg, backend=backend, emulator=emulator, forward=forward, progress=not args.no_progress,
                         sampler_kwargs=sampler_kwargs, strict=args.strict)
        except ChecksFailed as exc:
            result, failed = exc.result, exc
    print(result.table())
    if args.out:
        result.save(args.out)
        rundir.finish(args.out)
        print(f"summary, posterior.nc and plots written to {args.out}")
    if failed is not None:
        raise ValueError(str(failed))

def _compare(args):
    from .compare import compare
    from .config import load_config
    from .jam import JAMSettings

    cfg = load_config(args.config, overrides(args.set))
    if args.out:
        from .rundir import check_writable_dir

        check_writable_dir(args.out)
    emulator = None
    if args.emulator:
        from .emulator import Emulator

        emulator = Emulator.load(args.emulator)
    result = compare(cfg, emulator=emulator, jam_method=args.jam_method, workers=args.workers,
                     scheduler=args.scheduler, out=args.out, progress=not args.no_progress, grid_size=tuple(args.grid),
                     grid_box=args.grid_box, jam_walkers=args.jam_walkers, jam_steps=args.jam_steps,
                     jam_draws=args.jam_draws,
                     jam_settings=JAMSettings(nrad=args.nrad, nang=args.nang, los_nodes=args.los_nodes))
    print(result.table())
    if args.out:
        print(f"comparison.json, comparison.txt, corner_overlay.png, maps_emulator.png and maps_jam.png written to "
              f"{args.out}")


def _survey(args):
    from .survey import survey

    logging.getLogger("fastjam.survey").setLevel(logging.INFO)  # the dashboard address and refusals
    summary = survey(args.catalog, args.out, settings=args.config, workers=args.workers, scheduler=args.scheduler,
                     resume=args.resume, emulator_path=args.emulator, plots=args.plots,
                     progress=not args.no_progress)
    print(summary)
    print(f"results in {args.out}/results.fits and results.csv; per-galaxy outputs in {args.out}/<id>/")


def build_parser():
    parser = Parser(prog="fastjam", description="Fast Bayesian JAM modelling with a neural emulator.")
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress messages (INFO level)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("simulate", help="generate a training set of JAM V_RMS maps (parallel, resumable)")
    p.add_argument("--n", type=int_at_least(1), help="number of maps in the design (required without --design)")
    p.add_argument("--seed", type=seed, help="seed of the Sobol design (use disjoint seeds per split; required "
                                             "without --design)")
    p.add_argument("--design", help="explicit design points instead of the Sobol design: a .npy array (N, P) in "
                                    "the family's parameter order, e.g. from scripts/select_by_committee.py")
    p.add_argument("--out", required=True, help="output directory")
    p.add_argument("--workers", type=int_at_least(0), default=2, help="local Dask worker processes; 0 = serial (default 2)")
    p.add_argument("--scheduler", default=None, help="address of an existing Dask scheduler, e.g. tcp://host:8786")
    p.add_argument("--resume", action="store_true", help="continue (or extend) an existing output directory")
    p.add_argument("--nrad", type=int_at_least(2), default=40, help="jampy nrad (default 40)")
    p.add_argument("--nang", type=int_at_least(2), default=20, help="jampy nang (default 20)")
    add_los_nodes(p, 0, "0")
    p.add_argument("--family", choices=("sersic", "mge"), default="sersic",
                   help="single-Sérsic V_RMS maps (default) or the multi-component MGE family (A, B maps)")
    add_family_design(p)
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    p.set_defaults(func=_simulate)

    p = sub.add_parser("train", help="train the emulator on a training set (resumable checkpoints)")
    p.add_argument("--data", required=True, help="training set directory")
    p.add_argument("--out", required=True, help="output directory for weights, checkpoints and plots")
    p.add_argument("--val", default=None, help="separate validation set (default: hold out 10%% of --data)")
    p.add_argument("--epochs", type=int_at_least(1), default=400, help="maximum epochs (default 400)")
    p.add_argument("--batch-size", type=int_at_least(1), default=32)
    p.add_argument("--lr", type=positive_float, default=1e-3, help="initial learning rate (default 1e-3)")
    p.add_argument("--patience", type=int_at_least(1), default=30, help="early-stopping patience in epochs (default 30)")
    p.add_argument("--seed", type=seed, default=0)
    p.add_argument("--mlp-only", action="store_true", help="baseline without the photometry CNN: (n, q_obs) inputs")
    p.add_argument("--hidden", type=int_at_least(1), nargs="+", default=None, help="MLP layer widths (default 256 256 256 256)")
    p.add_argument("--max-maps", type=int_at_least(1), default=None, help="use only the first N maps")
    p.add_argument("--device", choices=("cpu", "cuda"), default=None, help="cpu or cuda (default: cuda when present)")
    p.add_argument("--threads", type=int_at_least(1), default=None, help="torch CPU threads (default: torch's choice)")
    p.add_argument("--resume", action="store_true", help="continue from the checkpoint in --out")
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=_train)

    p = sub.add_parser("evaluate", help="measure an emulator against a held-out test set made by jampy")
    p.add_argument("--model", default=None, help="emulator directory (default: the shipped one)")
    p.add_argument("--data", required=True, help="test set directory (never used in training)")
    p.add_argument("--json", default=None, help="write the metrics to this JSON file")
    p.add_argument("--plots", default=None, help="directory for maps of the worst and a typical case")
    p.add_argument("--offgrid-maps", type=int_at_least(0), default=100, help="maps recomputed by JAM at random positions")
    p.add_argument("--seed", type=seed, default=0)
    p.add_argument("--update-card", action="store_true", help="store the metrics and error model in the model card")
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=_evaluate)

    p = sub.add_parser("fit", help="fit an observed V_RMS map (posterior of inclination, beta_z, M/L)")
    p.add_argument("config", help="TOML configuration of the fit")
    p.add_argument("--backend", choices=("emcee", "numpyro"), default=None, help="sampler (default: the config's)")
    p.add_argument("--out", default=None, help="directory for the summary, NetCDF posterior and plots")
    p.add_argument("--emulator", default=None,
                   help="emulator directory (default: the config's [forward] emulator, else the shipped one)")
    p.add_argument("--set", action="append", metavar="SECTION.KEY=VALUE",
                   help="override a config value, e.g. --set sampler.ess=2000 (repeatable)")
    p.add_argument("--resume", action="store_true", help="continue the interrupted fit in --out from its checkpoint")
    p.add_argument("--overwrite", action="store_true", help="replace an earlier fit in --out")
    p.add_argument("--strict", action="store_true", help="treat every diagnostic warning as an error (exit 2)")
    p.add_argument("--forward", choices=("emulator", "jam"), default=None,
                   help="forward model (default: the config's); jam = the exact JAM posterior (docs/exact.md)")
    p.add_argument("--refine", action="store_true",
                   help="emulator posterior, then the exact JAM posterior on its inclination range, side by side "
                   "(also [refine] enabled = true)")
    p.add_argument("--workers", type=int_at_least(0), default=2, help="local Dask workers for jampy; 0 = serial (default 2)")
    p.add_argument("--scheduler", default=None, help="address of an existing Dask scheduler, e.g. tcp://host:8786")
    p.add_argument("--cache", default=None,
                   help="jampy node cache of the exact posterior (default ~/.cache/fastjam/exact/<galaxy>)")
    p.add_argument("--nrad", type=int_at_least(5), default=None,
                   help="jampy nrad of the exact posterior (default: the config's [refine] nrad, 40)")
    p.add_argument("--nang", type=int_at_least(3), default=None,
                   help="jampy nang of the exact posterior (default: the config's [refine] nang, 20)")
    add_los_nodes(p, None, "the config's [refine] los_nodes, 0")
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=_fit)

    p = sub.add_parser("compare", help="fit with the emulator and with jampy, and compare the two posteriors")
    p.add_argument("config", help="TOML configuration of the fit")
    p.add_argument("--workers", type=int_at_least(0), default=2, help="local Dask workers for jampy; 0 = serial (default 2)")
    p.add_argument("--scheduler", default=None, help="address of an existing Dask scheduler, e.g. tcp://host:8786")
    p.add_argument("--out", default=None, help="directory for the report, figures and the resumable JAM cache")
    p.add_argument("--jam-method", choices=("exact", "grid", "importance", "emcee"), default="exact",
                   help="JAM reference: the exact posterior (default, docs/exact.md), a grid with analytic M/L, "
                   "importance sampling of the emulator posterior, or emcee")
    p.add_argument("--jam-draws", type=int_at_least(100), default=1500,
                   help="importance-sampling draws = jampy calls (--jam-method importance; default 1500)")
    p.add_argument("--grid", type=int_at_least(2), nargs=2, default=(40, 30), metavar=("NI", "NB"),
                   help="grid nodes in inclination and beta_z (default 40 30)")
    p.add_argument("--grid-box", choices=("emulator", "prior"), default="emulator",
                   help="grid over a box around the emulator posterior (default) or over the whole prior")
    p.add_argument("--jam-walkers", type=int_at_least(6), default=None, help="emcee walkers for JAM (default: the config's)")
    p.add_argument("--jam-steps", type=int_at_least(2), default=None, help="emcee steps for JAM (default: the config's)")
    p.add_argument("--nrad", type=int_at_least(2), default=40, help="jampy nrad (default 40, as the training set)")
    p.add_argument("--nang", type=int_at_least(2), default=20, help="jampy nang (default 20, as the training set)")
    add_los_nodes(p, 0, "0")
    p.add_argument("--emulator", default=None, help="emulator directory (default: the shipped one)")
    p.add_argument("--set", action="append", metavar="SECTION.KEY=VALUE",
                   help="override a config value, e.g. --set sampler.steps=5000 (repeatable)")
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=_compare)

    p = sub.add_parser("survey", help="fit every galaxy of a catalog on a Dask cluster into one results table")
    p.add_argument("catalog", help="catalog (CSV, ECSV or FITS; columns in docs/survey.md)")
    p.add_argument("--out", required=True, help="survey directory: results.fits, results.csv and one folder per id")
    p.add_argument("--config", default=None, help="TOML of shared settings (priors, sampler, likelihood, forward)")
    p.add_argument("--workers", type=int, default=2, help="local Dask worker processes; 0 = serial (default 2)")
    p.add_argument("--scheduler", default=None, help="address of an existing Dask scheduler, e.g. tcp://host:8786")
    p.add_argument("--resume", action="store_true", help="continue a survey in --out; finished galaxies are kept")
    p.add_argument("--emulator", default=None, help="emulator directory (default: the shipped one)")
    p.add_argument("--plots", action="store_true", help="also write each galaxy's corner, maps and trace figures")
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=_survey)
    return parser


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(asctime)s %(name)s %(levelname)s: %(message)s")
    if not args.verbose:  # distributed sets its loggers' levels from dask's config when imported (by a fit's
        os.environ.setdefault("DASK_LOGGING__DISTRIBUTED", "error")  # --refine, a survey): errors only
    if args.command is None:
        parser.print_help()
        return 0
    try:
        _check_paths(args)
        args.func(args)
    except ValueError as exc:
        print(f"fastjam {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:  # a path that cannot be read or written, found late
        where = f": {exc.filename}" if exc.filename else ""
        print(f"fastjam {args.command}: error: {exc.strerror or exc}{where}", file=sys.stderr)
        return 2
    except MemoryError:
        print(f"fastjam {args.command}: error: out of memory (input too large for this machine)", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"fastjam {args.command}: interrupted; {_resume_hint(args)}", file=sys.stderr)
        if argv is None:  # a real command line: skip the interpreter teardown, which can crash in JAX after Ctrl-C
            sys.stdout.flush()
            sys.stderr.flush()
            logging.shutdown()
            os._exit(130)
        return 130
    if argv is None and args.command == "fit":
        _exit_without_teardown(0)
    return 0


def _exit_without_teardown(code):
    """End a finished command-line fit without the interpreter's teardown of its modules, which
    takes about a second with JAX, arviz and Dask loaded (bench/fit.py): output flushed and the
    exit handlers run first (logging's among them); every file of the fit is closed already."""
    import atexit

    sys.stdout.flush()
    sys.stderr.flush()
    atexit._run_exitfuncs()
    os._exit(code)


def _resume_hint(args):
    if args.command in ("simulate", "train", "survey"):
        return f"finished outputs are kept: rerun the same command with --resume to continue {args.out}"
    if args.command == "fit":
        if not args.out:
            return "nothing was saved (give --out to make a fit resumable)"
        return f"resume with: fastjam fit {args.config} --out {args.out} --resume (and the same options)"
    if args.command == "compare" and args.out:
        return f"the JAM cache in {args.out} is kept: rerun the same command to continue"
    return "nothing was saved"


#: Input paths of each command: (attribute, option, kind) with kind "file" or "dir".
INPUTS = {"fit": (("config", "config", "file"), ("emulator", "--emulator", "dir")),
          "compare": (("config", "config", "file"), ("emulator", "--emulator", "dir")),
          "train": (("data", "--data", "dir"), ("val", "--val", "dir")),
          "evaluate": (("data", "--data", "dir"), ("model", "--model", "dir"))}
#: Output paths checked before any work: (attribute, option, kind).
OUTPUTS = {"simulate": (("out", "--out", "dir"),), "train": (("out", "--out", "dir"),),
           "evaluate": (("json", "--json", "file"), ("plots", "--plots", "dir"))}


def _check_paths(args):
    """Refuse missing or wrong-kind inputs and unwritable outputs before any work."""
    from pathlib import Path

    from .rundir import check_writable_dir, check_writable_file

    for attr, option, kind in INPUTS.get(args.command, ()):
        value = getattr(args, attr, None)
        if value is None:
            continue
        path = Path(value)
        if not path.exists():
            raise ValueError(f"{option} {path} does not exist")
        if kind == "file" and not path.is_file():
            raise ValueError(f"{option} {path} is a directory, not a file")
        if kind == "dir" and not path.is_dir():
            raise ValueError(f"{option} {path} is a file, not a directory")
    for attr, option, kind in OUTPUTS.get(args.command, ()):
        value = getattr(args, attr, None)
        if value is not None:
            (check_writable_dir if kind == "dir" else check_writable_file)(value, option)


if __name__ == "__main__":
    sys.exit(main())

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
                       progress=not args.no_progress)
    print(summary)


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
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    p.set_defaults(func=_simulate)
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
        print(f"fastjam {args.command}: interrupted; finished outputs are kept (rerun with --resume)", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())

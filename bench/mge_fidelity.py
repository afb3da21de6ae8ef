"""Fidelity of the Sérsic MGE fits used by fastjam.

For each Sérsic index on a regular grid (default 1 to 8 in steps of 0.25), the MGE of
:func:`fastjam.physics.sersic_mge` (fit settings ``MGE_*`` in ``fastjam/physics/mge.py``) is
compared with the analytic profile by :func:`fastjam.physics.mge_fidelity`:

* the maximum of :math:`|\\Sigma_{\\rm MGE}/\\Sigma_{\\rm Sersic} - 1|` over
  0.01-10 R_e along the major axis;
* the light fraction: the MGE's total light over the analytic Sérsic total (the MGE is
  normalised to the analytic profile, so light beyond its outermost Gaussian is missing).

The results are printed as a plain-text table, with the worst index of each quantity, and
written as JSON (``--json``, default ``bench/results/mge_fidelity.json``).

Examples
--------
::

    python bench/mge_fidelity.py
"""
import argparse
import datetime
import logging
import sys
from pathlib import Path

import numpy as np

from _common import RESULTS, machine_info, shown_path  # noqa: E402

log = logging.getLogger("bench.mge_fidelity")

DEFAULT_JSON = RESULTS / "mge_fidelity.json"



def parse_args(argv=None):
    p = argparse.ArgumentParser(description="Maximum relative error and light fraction of fastjam's Sérsic MGEs.")
    p.add_argument("--n-min", type=float, default=1.0, help="smallest Sérsic index (default 1)")
    p.add_argument("--n-max", type=float, default=8.0, help="largest Sérsic index (default 8)")
    p.add_argument("--step", type=float, default=0.25, help="step in n (default 0.25)")
    p.add_argument("--rmin", type=float, default=0.01, help="innermost radius compared, in R_e (default 0.01)")
    p.add_argument("--rmax", type=float, default=10.0, help="outermost radius compared, in R_e (default 10)")
    p.add_argument("--json", type=Path, default=DEFAULT_JSON,
                   help="output JSON (default bench/results/mge_fidelity.json)")
    args = p.parse_args(argv)
    if args.step <= 0 or args.n_max < args.n_min:
        p.error("need --step > 0 and --n-max >= --n-min")
    if not 0 < args.rmin < args.rmax:
        p.error("need 0 < --rmin < --rmax")
    return args


def sersic_indices(n_min, n_max, step):
    """Grid of Sérsic indices including both ends (to rounding)."""
    k = int(np.floor((n_max - n_min) / step + 1e-9))
    return np.round(n_min + step * np.arange(k + 1), 10)


def measure(indices, rmin, rmax):
    """One row per index: n, max relative error, light fraction."""
    from fastjam.physics import mge_fidelity

    rows = []
    for n in indices:
        log.info("n = %g", n)
        fid = mge_fidelity(float(n), rmin=rmin, rmax=rmax)
        rows.append(dict(n=fid.n, max_rel_error=fid.max_rel_error, light_fraction=fid.light_fraction))
    return rows


def fit_settings():
    """The MGE fit settings of fastjam/physics/mge.py."""
    from fastjam.physics import mge

    return {name: getattr(mge, name) for name in dir(mge) if name.startswith("MGE_")}


def table(rows, rmin, rmax):
    lines = [f"Sérsic MGE against the analytic profile over {rmin:g}-{rmax:g} R_e",
             f"  {'n':>6}{'max |rel err|':>15}{'light fraction':>16}"]
    lines += [f"  {r['n']:>6.2f}{r['max_rel_error']:>15.2e}{r['light_fraction']:>16.6f}" for r in rows]
    worst_err = max(rows, key=lambda r: r["max_rel_error"])
    worst_light = min(rows, key=lambda r: r["light_fraction"])
    lines += ["",
              f"worst max relative error: {worst_err['max_rel_error']:.2e} at n = {worst_err['n']:g}",
              f"lowest light fraction:    {worst_light['light_fraction']:.6f} at n = {worst_light['n']:g}"]
    return "\n".join(lines)


def main(argv=None):
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s: %(message)s")
    import mgefit

    import fastjam
    from fastjam.atomic import write_json

    rows = measure(sersic_indices(args.n_min, args.n_max, args.step), args.rmin, args.rmax)
    worst_err = max(rows, key=lambda r: r["max_rel_error"])
    worst_light = min(rows, key=lambda r: r["light_fraction"])
    results = dict(
        benchmark="mge_fidelity",
        date=datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        machine=machine_info(),
        versions=dict(fastjam=fastjam.__version__, mgefit=mgefit.__version__, numpy=np.__version__),
        args={k: (shown_path(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
        fit_settings=fit_settings(),
        rows=rows,
        worst_max_rel_error=worst_err,
        lowest_light_fraction=worst_light,
    )
    args.json.parent.mkdir(parents=True, exist_ok=True)
    write_json(args.json, results)
    log.info("results written to %s", args.json)
    print(table(rows, args.rmin, args.rmax))
    return 0


if __name__ == "__main__":
    sys.exit(main())

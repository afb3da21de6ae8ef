"""jampy's line-of-sight quadrature against fastjam's fixed tanh-sinh rule, side by side.

For ``--n`` design points of the multi-component (MGE) family (Sobol ``--seed``, from design
index ``--start``), one training map's two jampy calls (:func:`fastjam.jam.dimensionless_linear_maps`,
64 x 64 map grid) are timed with jampy's adaptive quadrature (``los_nodes=0``) and with the
fixed rule (``--nodes``, :mod:`fastjam.jampy_los`), alternating which goes first. Reported:
the total and median per-map time ratios and the largest relative difference of
:math:`f^2 = a + b/(1 - \\beta_z)` between the two at beta_z = 0, -0.5 and 0.5.

Which of the two is right where they differ: on each map's polar grid (jampy's
``surf_v2los_cyl`` inputs), at the ``--points`` points where they differ most plus as many
random ones, both are compared with jampy's own integrand integrated to ``epsrel = 1e-12``.

``--sets OLD NEW`` also compares two training sets of the same design made with the two
quadratures (e.g. ``mge_train`` before and after the switch): per-map largest relative
difference of f^2 at the anchor anisotropies, over the maps both hold.

The results are printed as a table and written as JSON (``--json``).

Example (a few seconds a map on one core)::

    python bench/jampy_los.py --n 24 --json bench/results/jampy_los.json
"""
import argparse
import sys
import time
from pathlib import Path

import numpy as np

from _common import RESULTS, report, shown_path  # noqa: E402

#: Anisotropies at which the maps f^2 are compared.
BETAS = (0.0, -0.5, 0.5)


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--n", type=int, default=24, help="maps (default 24)")
    p.add_argument("--seed", type=int, default=11, help="seed of the family's Sobol design (default 11)")
    p.add_argument("--start", type=int, default=40000, help="first design index (default 40000)")
    p.add_argument("--nodes", type=int, default=128, help="nodes of the fixed rule (default 128)")
    p.add_argument("--points", type=int, default=4, help="polar-grid points per map checked against the "
                                                         "1e-12 integral, twice this many (default 4)")
    p.add_argument("--sets", type=Path, nargs=2, metavar=("OLD", "NEW"), help="two training sets to compare")
    p.add_argument("--json", type=Path, default=RESULTS / "jampy_los.json", help="output JSON")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    args = p.parse_args(argv)
    if args.n < 1 or args.start < 0 or args.points < 1:
        p.error(f"--n and --points must be >= 1 and --start >= 0, got {args.n}, {args.points}, {args.start}")
    return args


def timed_maps(mge, params, settings):
    """Seconds, (a, b) and the ``(arguments, result)`` of each ``surf_v2los_cyl`` call of one map's two
    jampy calls (none under the fixed rule, which swaps in under the spy)."""
    from jampy.axi import jam_axi_proj

    from fastjam.jam import dimensionless_linear_maps

    calls = []
    original = jam_axi_proj.surf_v2los_cyl

    def spy(*args):
        result = np.asarray(original(*args))
        calls.append((args, result))
        return result

    jam_axi_proj.surf_v2los_cyl = spy  # outermost: the fixed rule's block swaps in under it
    try:
        t0 = time.perf_counter()
        a, b = dimensionless_linear_maps(mge, params[1], params[2], params[3], settings)
        seconds = time.perf_counter() - t0
    finally:
        jam_axi_proj.surf_v2los_cyl = original
    return seconds, a, b, calls


def exact_check(calls, fixed_nodes, n_points, rng):
    """Largest relative errors of jampy's quadrature (its ``surf_v2los_cyl`` calls and results, one per
    anisotropy) and the fixed rule against the 1e-12 integral."""
    from jampy.axi.jam_axi_proj import integrand_cyl_los
    from jampy.util.quad1d import quad1d

    from fastjam.jampy_los import los_linear_terms

    x, y, inc, *gauss, _, _ = calls[0][0]
    i0, i1 = los_linear_terms(x, y, inc, *gauss, n_nodes=fixed_nodes)
    errors = dict(jampy=0.0, fixed=0.0)
    for (*_, kb, _), jam in calls:
        fixed = i0 + i1 / (1 - kb[0])
        worst = np.argsort(np.abs(fixed / jam - 1))[-n_points:]
        for j in np.unique(np.concatenate([worst, rng.choice(x.size, n_points, replace=False)])):
            ref = quad1d(integrand_cyl_los, [0.0, 1.0], singular=1, epsrel=1e-12,
                         args=(*gauss, x[j], y[j], inc, kb, "zz")).integ
            errors["jampy"] = max(errors["jampy"], abs(jam[j] / ref - 1))
            errors["fixed"] = max(errors["fixed"], abs(fixed[j] / ref - 1))
    return errors


def run(args):
    from tqdm import tqdm

    from fastjam.family import family_design, family_mge
    from fastjam.jam import JAMSettings

    rng = np.random.default_rng(args.seed)
    points = family_design(args.start + args.n, args.seed)[args.start:]
    settings = {False: JAMSettings(), True: JAMSettings(los_nodes=args.nodes)}
    rows = []
    for k, params in enumerate(tqdm(points, disable=args.no_progress, desc="maps")):
        mge = family_mge(params)
        order = (True, False) if k % 2 == 0 else (False, True)
        out = {fixed: timed_maps(mge, params, settings[fixed]) for fixed in order}
        (t_fixed, a1, b1, _), (t_jampy, a0, b0, calls) = out[True], out[False]
        diff = max(float(np.max(np.abs((a1 + b1 / (1 - b)) / (a0 + b0 / (1 - b)) - 1))) for b in BETAS)
        row = dict(index=args.start + k, n_gaussians=int(mge[0].size), sigma_psf_re=float(params[2]),
                   seconds_jampy=t_jampy, seconds_fixed=t_fixed, max_rel_diff_f2=diff)
        errors = exact_check(calls, args.nodes, args.points, rng)
        row.update(max_rel_err_jampy=errors["jampy"], max_rel_err_fixed=errors["fixed"])
        rows.append(row)
    return rows


def compare_sets(old, new):
    """Per-map largest relative difference of f^2 at the anchor betas, over the maps both sets hold."""
    from fastjam.dataset import load_dataset
    from fastjam.jam import ANCHOR_BETAS

    d_old, d_new = load_dataset(old), load_dataset(new)
    common, i_old, i_new = np.intersect1d(d_old.index, d_new.index, return_indices=True)
    if common.size == 0:
        raise ValueError(f"{old} and {new} hold no map of the same design index")
    if not np.array_equal(d_old.params[i_old], d_new.params[i_new]):
        raise ValueError(f"{old} and {new} are not the same design")
    per_map = np.zeros(common.size)
    for beta in ANCHOR_BETAS:
        f_old = d_old.a[i_old] + d_old.b[i_old] / (1 - beta)
        f_new = d_new.a[i_new] + d_new.b[i_new] / (1 - beta)
        per_map = np.maximum(per_map, np.abs(f_new / f_old - 1).reshape(common.size, -1).max(axis=1))
    return dict(old=shown_path(old), new=shown_path(new), maps=int(common.size),
                median=float(np.median(per_map)), p99=float(np.quantile(per_map, 0.99)), max=float(per_map.max()))


def summary(rows):
    fixed = np.array([r["seconds_fixed"] for r in rows])
    jampy = np.array([r["seconds_jampy"] for r in rows])
    return dict(maps=len(rows), seconds_jampy=float(jampy.sum()), seconds_fixed=float(fixed.sum()),
                total_ratio=float(jampy.sum() / fixed.sum()), median_ratio=float(np.median(jampy / fixed)),
                max_rel_diff_f2=max(r["max_rel_diff_f2"] for r in rows),
                max_rel_err_jampy=max(r["max_rel_err_jampy"] for r in rows),
                max_rel_err_fixed=max(r["max_rel_err_fixed"] for r in rows))


def table(result):
    s = result["summary"]
    lines = [f"jampy's adaptive quadrature against the fixed {result['args']['nodes']}-node rule "
             "(one map = two jampy calls; same maps, same run)",
             f"{'maps':>5}{'jampy s':>10}{'fixed s':>10}{'total ratio':>13}{'median ratio':>14}",
             f"{s['maps']:>5}{s['seconds_jampy']:>10.1f}{s['seconds_fixed']:>10.1f}{s['total_ratio']:>13.2f}"
             f"{s['median_ratio']:>14.2f}",
             f"largest relative difference of f^2 between the two: {s['max_rel_diff_f2']:.1e}",
             f"largest relative error against the 1e-12 integral: jampy {s['max_rel_err_jampy']:.1e}, "
             f"fixed rule {s['max_rel_err_fixed']:.1e}"]
    if result.get("sets"):
        c = result["sets"]
        lines.append(f"training sets {c['old']} -> {c['new']}: {c['maps']} maps, per-map largest |d f^2 / f^2| "
                     f"median {c['median']:.1e}, p99 {c['p99']:.1e}, max {c['max']:.1e}")
    return "\n".join(lines)


def collect(args):
    rows = run(args)
    return dict(summary=summary(rows), maps=rows, sets=compare_sets(*args.sets) if args.sets else None)


def main(argv=None):
    return report("jampy_los", parse_args(argv), collect, table)


if __name__ == "__main__":
    sys.exit(main())

"""JAM's side of the general-photometry (MGE) emulator's error budget: JAM's own convergence error, the
error of the pixsize/sigma_psf clamp, and the dispersions the family's Gaussians span.

::

    python bench/general_jam.py jam --data SNAP       # the stored maps (40 x 20) against a 3x finer JAM grid
    python bench/general_jam.py clamp                 # JAM at the clamp (0.05) against pixsize/sigma_psf 0.01
    python bench/general_jam.py ranges                # sigma/R_e spanned by the family's Gaussians

Each mode prints a table and writes ``bench/results/general_<mode>.json`` (or ``--json``).
"""
import argparse
import logging
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from general_emulator import ACCURACY, split, table, write_rows  # noqa: E402


def fine_jam(ds, indices):
    """JAM's linear terms ``a``, ``b`` (len(indices), NTHETA*NR) of maps ``indices`` of dataset ``ds`` on a 3x
    finer grid than the stored ones (120 x 60, epsrel 1e-3): the reference for JAM's own error."""
    from fastjam.family import unpad_mge
    from fastjam.jam import JAMSettings, dimensionless_linear_maps

    maps = [dimensionless_linear_maps(unpad_mge(ds.mge[k]), *ds.params[k][1:4], JAMSettings(120, 60, 1e-3))
            for k in indices]
    return dict(a=np.array([a.ravel() for a, _ in maps]), b=np.array([b.ravel() for _, b in maps]))


def bench_jam(args):
    """JAM's own error: the stored maps (40 x 20 grid) against a 3x finer one (120 x 60, epsrel 1e-3)."""
    from fastjam.dataset import load_dataset
    from fastjam.emulator.general_data import draw_betas, map_inputs, true_ln_f
    from fastjam.emulator.general_evaluate import error_stats

    ds = load_dataset(args.data)
    test, _, _ = split(len(ds))
    idx = test[: args.n_jam]
    stored = {k: v[idx] for k, v in map_inputs(ds).items()}  # the first maps of the test split
    t0 = time.perf_counter()
    ref = fine_jam(ds, idx)
    ref["beta_hi"] = stored["beta_hi"]
    rng = np.random.default_rng(0)
    errs = []
    for _ in range(3):
        beta = draw_betas(stored, rng)
        errs.append(np.expm1(true_ln_f(stored, beta) - true_ln_f(ref, beta)))
    row = dict(design="JAM 40x20 vs 120x60", n_train="-", **error_stats(np.concatenate(errs)), n_maps=len(idx),
               seconds=time.perf_counter() - t0)
    print(table([row], ("design", "n_maps") + ACCURACY))
    print(write_rows("jam", [row], args, len(ds)))


def bench_clamp(args):
    """Error of the pixsize/sigma_psf clamp: JAM at the clamp (0.05) against JAM at ``--small-ratio``."""
    from fastjam.emulator.general_features import PIXSIZE_RATIO_CLAMP
    from fastjam.family import family_design, family_mge

    design = family_design(args.n_clamp, seed=21)
    rows, t0 = [], time.perf_counter()
    for p in design:
        mge = family_mge(p)
        maps = [_f_beta0(mge, p, ratio) for ratio in (PIXSIZE_RATIO_CLAMP, args.small_ratio)]
        e = maps[0] / maps[1] - 1
        rows.append(dict(sigma_psf_re=float(p[2]), max_abs=float(np.abs(e).max()), mean=float(e.mean())))
    e_max = np.array([r["max_abs"] for r in rows])
    row = dict(design=f"JAM pixsize/sigma_psf {PIXSIZE_RATIO_CLAMP} vs {args.small_ratio}", n_maps=len(rows),
               map_max_median=float(np.median(e_max)), map_max_max=float(e_max.max()),
               seconds=time.perf_counter() - t0)
    print(table([row], ("design", "n_maps", "map_max_median", "map_max_max")))
    print(write_rows("clamp", rows, args, 0, dict(summary=row)))


def bench_ranges(args):
    """Dispersions (R_e) spanned by the family's Gaussians with >= 0.1% of the light (the domain's sigma_re)."""
    from fastjam.family import family_design, family_mge

    lo, hi = [], []
    for p in family_design(args.n_ranges, seed=99):
        surf, sigma, qobs = family_mge(p)
        bright = 2 * np.pi * surf * qobs * sigma**2 >= 1e-3
        lo.append(sigma[bright].min())
        hi.append(sigma[bright].max())
    row = dict(design="family sigma/R_e (light >= 0.1%)", n_maps=len(lo), sigma_min=float(np.min(lo)),
               sigma_min_p1=float(np.percentile(lo, 1)), sigma_max_p99=float(np.percentile(hi, 99)),
               sigma_max=float(np.max(hi)))
    print(row)
    print(write_rows("ranges", [row], args, 0))


def _f_beta0(mge, p, ratio):
    from fastjam.jam import JAMSettings, dimensionless_linear_maps

    a, b = dimensionless_linear_maps(mge, p[1], p[2], ratio * p[2], JAMSettings(20, 10))
    return np.sqrt(a + b)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("mode", choices=("jam", "clamp", "ranges"))
    p.add_argument("--data", default="none", help="jam: a copy of an MGE training set (its test split is used)")
    p.add_argument("--n-jam", type=int, default=12, help="test maps recomputed with the finer JAM grid")
    p.add_argument("--n-clamp", type=int, default=8, help="family galaxies of the pixsize clamp test")
    p.add_argument("--n-ranges", type=int, default=1024, help="family galaxies of the ranges mode")
    p.add_argument("--small-ratio", type=float, default=0.01, help="pixsize/sigma_psf standing in for 0")
    p.add_argument("--json", help="output file (default bench/results/general_<mode>.json)")
    args = p.parse_args(argv)
    if args.mode == "jam" and args.data == "none":
        raise SystemExit("jam needs --data, a set of MGE maps")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    dict(jam=bench_jam, clamp=bench_clamp, ranges=bench_ranges)[args.mode](args)


if __name__ == "__main__":
    main()

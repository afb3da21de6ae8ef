"""JAM's side of the general-photometry (MGE) emulator's error budget: JAM's own convergence error, the
error of the pixsize/sigma_psf clamp, what a like clamp of sigma_psf/R_e would cost, and the dispersions
the family's Gaussians span.

::

    python bench/general_jam.py jam --data SNAP       # the stored maps (40 x 20) against a 3x finer JAM grid
    python bench/general_jam.py clamp                 # JAM at the clamp (0.05) against pixsize/sigma_psf 0.01
    python bench/general_jam.py ranges                # sigma/R_e spanned by the family's Gaussians
    python bench/general_jam.py small_psf             # JAM at sigma_psf/R_e 0.01 against smaller PSFs, by radius

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


#: Radial bins [R_e] of the PSF test (the positions lie along the major and the minor axis).
PSF_BINS = (0.003, 0.01, 0.02, 0.05, 0.1, 0.2)


def bench_small_psf(args):
    """What emulating a PSF below the domain's sigma_psf/R_e = 0.01 at 0.01 would cost: JAM at 0.01 against
    JAM at each ``--small-psf`` (pixsize/sigma_psf 0.5 for all), e = f_0.01/f_small - 1 at beta_z = 0 on
    the major and minor axes inside 0.2 R_e (jampy's convolution grid spans the positions, with pixels
    of a fraction of the PSF: a whole field would not fit in memory), the largest |e| per radial bin."""
    from fastjam.family import family_design, family_mge
    from fastjam.jam import JAMSettings, dimensionless_linear_maps

    radius = np.geomspace(PSF_BINS[0], PSF_BINS[-1], 16)
    x, y = np.r_[radius, np.zeros_like(radius)], np.r_[np.zeros_like(radius), radius]
    r = np.hypot(x, y)
    rows, t0 = [], time.perf_counter()
    for p in family_design(args.n_clamp, seed=21):
        mge = family_mge(p)
        f = {s: np.sqrt(np.sum(dimensionless_linear_maps(mge, p[1], s, 0.5 * s, JAMSettings(40, 20), x, y), 0))
             for s in (0.01,) + tuple(args.small_psf)}
        for small in args.small_psf:
            e = np.abs(f[0.01] / f[small] - 1)
            rows.append(dict(small_psf=small, **{f"max_abs_r{lo:g}-{hi:g}": float(e[(r >= lo) & (r <= hi)].max())
                                                  for lo, hi in zip(PSF_BINS[:-1], PSF_BINS[1:])}))
    keys = [k for k in rows[0] if k.startswith("max_abs")]
    summary = [dict(design=f"JAM sigma_psf/R_e 0.01 vs {s:g}", **{k: float(np.max([r[k] for r in rows
                                                                                  if r["small_psf"] == s]))
                                                                for k in keys}) for s in args.small_psf]
    print("largest |e| over the galaxies by radius [R_e]")
    for row in summary:
        print(row["design"], "  ".join(f"{k[9:]}: {row[k]:.3%}" for k in keys))
    print(write_rows("small_psf", rows, args, 0, dict(summary=summary, seconds=time.perf_counter() - t0)))


def _f_beta0(mge, p, ratio):
    from fastjam.jam import JAMSettings, dimensionless_linear_maps

    a, b = dimensionless_linear_maps(mge, p[1], p[2], ratio * p[2], JAMSettings(20, 10))
    return np.sqrt(a + b)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("mode", choices=("jam", "clamp", "ranges", "small_psf"))
    p.add_argument("--data", default="none", help="jam: a copy of an MGE training set (its test split is used)")
    p.add_argument("--n-jam", type=int, default=12, help="test maps recomputed with the finer JAM grid")
    p.add_argument("--n-clamp", type=int, default=8, help="family galaxies of the pixsize and PSF clamp tests")
    p.add_argument("--n-ranges", type=int, default=1024, help="family galaxies of the ranges mode")
    p.add_argument("--small-ratio", type=float, default=0.01, help="pixsize/sigma_psf standing in for 0")
    p.add_argument("--small-psf", type=float, nargs="+", default=[0.003, 0.001],
                   help="small_psf: sigma_psf/R_e below the domain to compare with 0.01")
    p.add_argument("--json", help="output file (default bench/results/general_<mode>.json)")
    args = p.parse_args(argv)
    if args.mode == "jam" and args.data == "none":
        raise SystemExit("jam needs --data, a set of MGE maps")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    dict(jam=bench_jam, clamp=bench_clamp, ranges=bench_ranges, small_psf=bench_small_psf)[args.mode](args)


if __name__ == "__main__":
    main()

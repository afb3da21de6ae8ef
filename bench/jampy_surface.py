"""jampy with and without fastjam's separable surface brightness, side by side.

For ``--n`` design points of the multi-component (MGE) family (Sobol ``--seed``, from design
index ``--start``), the two jampy calls of one training map
(:func:`fastjam.jam.dimensionless_linear_maps` on the 64 x 64 map grid) are timed with
:func:`fastjam.jampy_surface.separable_surface` in place (as fastjam calls jampy) and
without it (jampy's own ``mge_surf``), alternating which goes first. Reported: the total
and per-map time ratios, overall and by sigma_psf / R_e (which sets the size of jampy's
convolution grid), and the largest relative difference of the maps a and b between the two.
``--memory-index`` adds, for chosen design indices, the time and the peak memory of the map
with and without, each in a fresh process (jampy's dense sum holds the whole convolution grid
times the number of Gaussians).

The results are printed as a table and written as JSON (``--json``).

Example (about 10 s a map on one core)::

    python bench/jampy_surface.py --n 24 --json bench/results/jampy_surface.json

With the map of the smallest PSF and pixel that once exhausted a worker's memory::

    python bench/jampy_surface.py --n 24 --memory-index 1956 --json bench/results/jampy_surface.json
"""
import argparse
import contextlib
import sys
import time
from pathlib import Path

import numpy as np

from _common import RESULTS, report  # noqa: E402

#: sigma_psf / R_e bins of the table.
PSF_EDGES = (0.0, 0.03, 0.1, 1.0)


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--n", type=int, default=24, help="maps (default 24)")
    p.add_argument("--seed", type=int, default=11, help="seed of the family's Sobol design (default 11)")
    p.add_argument("--start", type=int, default=4096, help="first design index (default 4096)")
    p.add_argument("--json", type=Path, default=RESULTS / "jampy_surface.json", help="output JSON")
    p.add_argument("--memory-index", type=int, nargs="*", default=[],
                   help="design indices whose time and peak memory are measured in fresh processes")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    args = p.parse_args(argv)
    if args.n < 1 or args.start < 0:
        p.error(f"--n must be >= 1 and --start >= 0, got {args.n} and {args.start}")
    return args


def timed_maps(params, separable):
    """Seconds and (a, b) of one map's two jampy calls, with or without the separable surface."""
    import fastjam.jam as jam
    from fastjam.family import family_mge

    mge = family_mge(params)
    switch = jam.separable_surface
    if not separable:
        jam.separable_surface = contextlib.nullcontext
    try:
        t0 = time.perf_counter()
        a, b = jam.dimensionless_linear_maps(mge, params[1], params[2], params[3])
        return time.perf_counter() - t0, a, b, mge[0].size
    finally:
        jam.separable_surface = switch


def peak_memory_map(params, separable):
    """Seconds and peak resident memory [GiB] of one map, run in this (fresh) process."""
    import resource

    seconds = timed_maps(params, separable)[0]
    return seconds, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def memory_rows(indices, seed):
    import multiprocessing

    from fastjam.family import family_design

    rows = []
    context = multiprocessing.get_context("spawn")
    for index in indices:
        params = family_design(index + 1, seed)[index]
        row = dict(index=index, sigma_psf_re=float(params[2]), pixsize_re=float(params[3]))
        for separable in (True, False):
            with context.Pool(1) as pool:
                seconds, gib = pool.apply(peak_memory_map, (params, separable))
            name = "separable" if separable else "jampy"
            row[f"seconds_{name}"], row[f"peak_gib_{name}"] = seconds, gib
        rows.append(row)
    return rows


def run(args):
    from tqdm import tqdm

    from fastjam.family import family_design

    points = family_design(args.start + args.n, args.seed)[args.start:]
    rows = []
    for k, params in enumerate(tqdm(points, disable=args.no_progress, desc="maps")):
        order = (True, False) if k % 2 == 0 else (False, True)
        out = {sep: timed_maps(params, sep) for sep in order}
        (t_fast, a1, b1, n_gauss), (t_jampy, a0, b0, _) = out[True], out[False]
        rows.append(dict(index=args.start + k, sigma_psf_re=float(params[2]), pixsize_re=float(params[3]),
                         n_gaussians=int(n_gauss), seconds_separable=t_fast, seconds_jampy=t_jampy,
                         max_rel_diff_a=float(np.max(np.abs(a1 / a0 - 1))),
                         max_rel_diff_b=float(np.max(np.abs(b1 / b0 - 1)))))
    return rows


def summary(rows):
    """Total and median per-map ratios jampy / separable, overall and per sigma_psf / R_e bin."""
    def stats(sel):
        fast = np.array([r["seconds_separable"] for r in sel])
        slow = np.array([r["seconds_jampy"] for r in sel])
        return dict(maps=len(sel), seconds_jampy=float(slow.sum()), seconds_separable=float(fast.sum()),
                    total_ratio=float(slow.sum() / fast.sum()), median_ratio=float(np.median(slow / fast)))

    out = dict(all=stats(rows))
    for lo, hi in zip(PSF_EDGES[:-1], PSF_EDGES[1:]):
        sel = [r for r in rows if lo <= r["sigma_psf_re"] < hi]
        if sel:
            out[f"sigma_psf_re {lo:g}-{hi:g}"] = stats(sel)
    out["max_rel_diff"] = max(max(r["max_rel_diff_a"], r["max_rel_diff_b"]) for r in rows)
    return out


def table(result):
    s = result["summary"]
    lines = ["jampy's own mge_surf against the separable one (same maps, same run)",
             f"{'maps':<26}{'n':>5}{'jampy s':>10}{'separable s':>13}{'total ratio':>13}{'median ratio':>14}"]
    for name, st in s.items():
        if isinstance(st, dict):
            lines.append(f"{name:<26}{st['maps']:>5}{st['seconds_jampy']:>10.1f}{st['seconds_separable']:>13.1f}"
                         f"{st['total_ratio']:>13.2f}{st['median_ratio']:>14.2f}")
    lines.append(f"largest relative difference of a or b: {s['max_rel_diff']:.1e}")
    for r in result.get("memory", []):
        lines.append(f"map {r['index']} (sigma_psf/R_e {r['sigma_psf_re']:.3g}, pixsize/R_e {r['pixsize_re']:.3g}): "
                     f"jampy {r['seconds_jampy']:.1f} s, {r['peak_gib_jampy']:.2f} GiB; separable "
                     f"{r['seconds_separable']:.1f} s, {r['peak_gib_separable']:.2f} GiB")
    return "\n".join(lines)


def collect(args):
    rows = run(args)
    return dict(summary=summary(rows), maps=rows, memory=memory_rows(args.memory_index, args.seed))


def main(argv=None):
    return report("jampy_surface", parse_args(argv), collect, table)


if __name__ == "__main__":
    sys.exit(main())

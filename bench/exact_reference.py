"""The exact JAM posterior against an independent JAM reference made with direct jampy calls.

    python bench/exact_reference.py [--work DIR] [--workers 2] [--draws 1500] [--only NAME]

Galaxies: those of ``bench/exact.py`` (the example galaxy, three bundled mocks, three
high-S/N mocks, M32 with its MGE), whose exact posteriors' nodes it cached in ``DIR/NAME/nodes``
(run it first; a missing node is computed here).

The reference is importance sampling (:func:`fastjam.compare.importance.run_jam_importance`):
``--draws`` draws from a Student-t proposal (4 degrees of freedom, covariance inflated by
1.3^2) around the exact posterior, each weighted by the JAM posterior from one direct jampy
call at its (inclination, beta_z) — no linear decomposition, no interpolation, no quadrature —
and Pareto-smoothed (PSIS; k-hat reported). The proposal only sets the efficiency: a wrong
exact posterior would be corrected by the weights and show as a shift. The jampy calls are
cached in ``DIR/NAME/jam_importance`` (an interrupted run resumes).

For each galaxy: shift of the exact median in reference sigma and the width ratio
(exact / reference) with their Monte Carlo errors (from the reference's Kish ESS), and the
jampy calls and wall time of both in the same run (the exact posterior is computed once more
from scratch, with an empty node cache, for its timing). Target (docs/exact.md): medians within
0.1 sigma, 68% widths within 5%, beyond the MC error. Prints a table and writes
``bench/results/exact_reference.json``.
"""
import json
import logging
import os
import tempfile
import time

import numpy as np
from exact import PARAMS, _atomic_json, bench_galaxies, bench_parser, write_results

#: Proposal of the reference: Student-t degrees of freedom and covariance inflation.
DF, INFLATE = 4.0, 1.3


def run_galaxy(name, path, work, workers, draws):
    """Exact posterior (from cached nodes) and the importance-sampling reference of one galaxy."""
    from fastjam.compare.importance import run_jam_importance
    from fastjam.compare.stats import compare_parameter, parameter_stats
    from fastjam.config import load_config
    from fastjam.exact_fit import fit_exact
    from fastjam.fit import build_problem
    from fastjam.jam import DEFAULT_SETTINGS

    gdir = work / name
    cfg = load_config(path)
    fresh_file = gdir / "exact_fresh_run.json"
    if fresh_file.exists():
        exact_first = json.loads(fresh_file.read_text())
    else:  # the exact posterior from scratch, timed beside the reference on this machine
        with tempfile.TemporaryDirectory() as tmp:
            t0 = time.perf_counter()
            fd = fit_exact(cfg, cache_dir=tmp, workers=workers, progress=False).diagnostics
            exact_first = dict(n_jam_calls=fd["n_jam_calls"], wall_seconds=time.perf_counter() - t0,
                               jampy_seconds=fd["n_jam_calls"] * fd["jam_seconds_per_call"], loadavg=os.getloadavg())
        _atomic_json(fresh_file, exact_first)
    exact = fit_exact(cfg, cache_dir=gdir / "nodes", workers=workers, progress=False)
    problem = build_problem(cfg, forward="jam")
    phys = [np.asarray(exact.idata.posterior[p]).ravel() for p in PARAMS]
    theta = problem.posterior.from_physical(*phys)
    side = run_jam_importance(problem, DEFAULT_SETTINGS, theta, draws, out=gdir, workers=workers, progress=True,
                              seed=int(cfg["sampler"]["seed"]), df=DF, inflate=INFLATE)
    d = side.diagnostics
    cost_file = gdir / "importance_run.json"  # the reference's cost, summed over interrupted runs
    first = json.loads(cost_file.read_text()) if cost_file.exists() else dict(n_jam_calls=0, wall_seconds=0.0)
    if d["n_computed"]:
        first = dict(n_jam_calls=first["n_jam_calls"] + d["n_computed"],
                     wall_seconds=first["wall_seconds"] + side.wall_seconds, seconds_per_call=side.seconds_per_call,
                     workers=d["workers"], loadavg=os.getloadavg())
        _atomic_json(cost_file, first)
    versus = {}
    for k, p in enumerate(PARAMS):
        c = compare_parameter(parameter_stats(phys[k], phys[k].size), parameter_stats(side.samples[:, k], side.ess[p]))
        versus[p] = {key: c[key] for key in ("shift_sigma", "shift_mc_error", "width_ratio", "width_ratio_mc_error")}
        versus[p]["exact"], versus[p]["reference"] = c["emulator"], c["jam"]
    return dict(config=str(path.name), n_bins=int(problem.x.size), truth=exact.truth, versus=versus,
                reference=dict(method="importance", jampy_seconds=side.cost_seconds, khat=d["khat"], kish_ess=d["kish_ess"],
                               efficiency=d["efficiency"], n_failed=d["n_failed"], df=DF, inflate=INFLATE,
                               first_run=first),
                exact=dict(n_jam_calls=exact.diagnostics["n_jam_calls"], first_run=exact_first,
                           n_nodes=exact.diagnostics["n_nodes"]))


def meets(v, max_shift=0.1, max_width=0.05, n_mc=2.0):
    """Within the targets once ``n_mc`` Monte Carlo errors are allowed for."""
    return bool(abs(v["shift_sigma"]) <= max_shift + n_mc * v["shift_mc_error"]
                and abs(v["width_ratio"] - 1) <= max_width + n_mc * v["width_ratio_mc_error"])


def print_table(rows):
    print(f"{'galaxy':<17s}{'bins':>5s}{'exact calls':>12s}{'wall[s]':>8s}{'ref calls':>10s}{'wall[s]':>8s}"
          f"{'ESS':>6s}{'k-hat':>6s}   shift/sigma +- MC (width ratio +- MC): i; beta_z; M/L   within target")
    for name, r in rows.items():
        e, f = r["exact"], r["reference"]
        ef = e["first_run"]
        cols = "; ".join(f"{v['shift_sigma']:+.3f}+-{v['shift_mc_error']:.3f} ({v['width_ratio']:.3f}+-"
                         f"{v['width_ratio_mc_error']:.3f})" for v in r["versus"].values())
        ok = all(meets(v) for v in r["versus"].values())
        print(f"{name:<17s}{r['n_bins']:>5d}{ef['n_jam_calls']:>12d}{ef['wall_seconds']:>8.0f}{f['first_run']['n_jam_calls']:>10d}"
              f"{f['first_run']['wall_seconds']:>8.0f}{f['kish_ess']:>6.0f}{f['khat']:>6.2f}   {cols}   "
              f"{'yes' if ok else 'NO'}")


def main(argv=None):
    parser = bench_parser(__doc__.splitlines()[0], "exact_reference.json")
    parser.add_argument("--draws", type=int, default=1500, help="importance-sampling draws (jampy calls) per galaxy")
    args = parser.parse_args(argv)
    work, galaxies = bench_galaxies(args)
    rows = {}
    t0 = time.perf_counter()
    for name, path in galaxies.items():
        rows[name] = run_galaxy(name, path, work, args.workers, args.draws)
        logging.warning("%s done", name)
    print_table(rows)
    return write_results(args, galaxies=rows, wall_seconds=time.perf_counter() - t0)


if __name__ == "__main__":
    main()

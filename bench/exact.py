"""The exact JAM posterior: jampy calls, wall time and agreement, and the emulator checked against it.

    python bench/exact.py [--work DIR] [--workers 2] [--only NAME] [--no-emulator]

Galaxies: the example galaxy and the three mocks of ``examples/mocks/`` (~200 bins, 2.5-5%
errors); three new high-S/N jampy mocks (2-3% errors, 230-340 bins, varied n, q_obs,
inclination, beta_z and PSF; :func:`fastjam.mock.make_mock`); and M32: jampy's mock
kinematics ``jam_mock_kinematics_black_hole.txt`` with the M32 MGE of its example
(Cappellari et al. 2006, Table B1), at 0.7 Mpc, bins within 0.6 arcsec (the black hole's
sphere of influence; fastjam models have none) dropped, the two-Gaussian PSF replaced by one
Gaussian of the same second moment (sigma = 0.22 arcsec).

For each galaxy:

* ``exact``: :func:`fastjam.exact_fit.fit_exact` over the whole prior, nodes cached in
  ``DIR/NAME/nodes`` (jampy calls and wall time of the first, uncached run are kept in
  ``DIR/NAME/exact_run.json``);
* agreement with a reference: the 2-D JAM grid of ``fastjam compare``
  (``bench/results/compare.json``, 1,200 jampy calls per galaxy) where it exists: shift of the
  medians in reference sigma and width ratio;
* Sérsic galaxies (emulator sampler :data:`EMULATOR_SAMPLER`): ``fastjam fit --refine``
  (:func:`fastjam.exact_fit.refine`: the emulator
  posterior with the coherent-error model, then the exact posterior on the emulator's
  inclination window, nodes in ``DIR/NAME/nodes_window``) and the emulator posterior without
  the coherent-error term: shifts and width ratios against the exact posterior.

Per-galaxy results are kept in ``DIR/NAME/result.json`` (an interrupted run resumes; delete
the file to redo a galaxy). The interpolation study (spline kind and coordinate, leave-out
on 17 nodes of the example galaxy) runs first. Prints tables and writes
``bench/results/exact.json``.
"""
import argparse
import json
import logging
import os
import time
from pathlib import Path

import numpy as np
from _common import REPO, RESULTS, machine_info, shown_path

#: Emulator sampler of the bench (numpyro; fewer draws than the bundled configs' 4 x 1000 after 1000 warm-up).
EMULATOR_SAMPLER = {"sampler.backend": "numpyro", "sampler.chains": 4, "sampler.warmup": 500, "sampler.samples": 500}
BUNDLED = {
    "example_galaxy": REPO / "examples" / "example_galaxy" / "galaxy.toml",
    "flat_edge_on": REPO / "examples" / "mocks" / "flat_edge_on" / "galaxy.toml",
    "round_face_on": REPO / "examples" / "mocks" / "round_face_on" / "galaxy.toml",
    "flat_tangential": REPO / "examples" / "mocks" / "flat_tangential" / "galaxy.toml",
}
#: High-S/N mocks: galaxy, truth, error (centre, edge), bins (n_rings, r_max in R_e).
NEW_MOCKS = {
    "hisn_round_n5": (dict(sersic_n=5.0, r_e=6.0, q_obs=0.85, l_tot=4e10, distance=20.0, sigma_psf=0.5, pixsize=0.5),
                      dict(inclination=40.0, beta_z=0.05, ml=3.0), (0.02, 0.03), (26, 2.75)),
    "hisn_edge_n1.8": (dict(sersic_n=1.8, r_e=5.0, q_obs=0.4, l_tot=1.5e10, distance=16.0, sigma_psf=0.9,
                            pixsize=0.6), dict(inclination=88.0, beta_z=0.3, ml=2.0), (0.02, 0.02), (22, 2.75)),
    "hisn_mid_n3": (dict(sersic_n=3.0, r_e=7.0, q_obs=0.6, l_tot=2.5e10, distance=22.0, sigma_psf=0.7, pixsize=0.7),
                    dict(inclination=62.0, beta_z=-0.1, ml=5.0), (0.02, 0.03), (20, 2.75)),
}
PARAMS = ("inclination", "beta_z", "ml")


def make_new_mock(name, work):
    """Write the high-S/N mock ``name`` (one jampy call) and return its config path."""
    from fastjam.mock import bin_centres, make_mock

    galaxy, truth, error, (rings, r_max) = NEW_MOCKS[name]
    path = work / "mocks" / name / "galaxy.toml"
    if not path.exists():
        x, y = bin_centres(galaxy["r_e"], seed=7, n_rings=rings, r_max=r_max)
        mock = make_mock(galaxy, truth, x, y, seed=11, error=error)
        mock.write(path.parent, f"High-S/N jampy mock {name} (bench/exact.py).")
    return path


def make_m32(work):
    """jampy's M32-like mock kinematics with the M32 MGE as a fastjam configuration."""
    from importlib import resources

    out = work / "mocks" / "m32"
    out.mkdir(parents=True, exist_ok=True)
    if not (out / "galaxy.toml").exists():
        surf = 10 ** np.array([6.187, 5.774, 5.766, 5.613, 5.311, 4.774, 4.359, 4.087, 3.682, 3.316, 2.744, 1.618])
        sigma = 10 ** np.array([-1.762, -1.143, -0.839, -0.438, -0.104, 0.232, 0.560, 0.835, 1.160, 1.414, 1.703,
                                2.249])
        q = np.array([0.790, 0.741, 0.786, 0.757, 0.720, 0.724, 0.725, 0.743, 0.751, 0.838, 0.835, 0.720])
        np.savetxt(out / "mge.txt", np.column_stack([surf, sigma, q]), header="surf[Lsun/pc^2] sigma[arcsec] q_obs "
                   "(M32, Cappellari et al. 2006, Table B1)")
        table = np.loadtxt(resources.files("jampy") / "examples" / "jam_mock_kinematics_black_hole.txt")
        keep = np.hypot(table[:, 0], table[:, 1]) >= 0.6
        np.savetxt(out / "vrms_bins.txt", table[keep, :4], header="x[arcsec] y[arcsec] Vrms[km/s] eVrms[km/s]")
        psf = float(np.sqrt(0.7 * 0.04**2 + 0.3 * 0.4**2))
        (out / "galaxy.toml").write_text(
            f'[galaxy]\nmge = "mge.txt"\ndistance = 0.7\nsigma_psf = {psf:.4f}\npixsize = 0.05\n\n'
            '[data]\npath = "vrms_bins.txt"\n\n[priors]\nml = [0.5, 20.0]\n\n[forward]\nmodel = "jam"\n')
    return out / "galaxy.toml"


def _stats(values):
    p16, med, p84 = np.percentile(np.asarray(values, dtype=float).ravel(), [16, 50, 84])
    return dict(median=float(med), p16=float(p16), p84=float(p84), sigma=float(0.5 * (p84 - p16)))


def _versus(test, ref):
    """Shift of the medians in ``ref`` sigma and the width ratio."""
    return dict(shift_sigma=(test["median"] - ref["median"]) / ref["sigma"], width_ratio=test["sigma"] / ref["sigma"])


def _posterior_stats(result):
    return {p: _stats(result.idata.posterior[p]) for p in PARAMS}


def run_galaxy(name, path, work, workers, emulator_too):
    """All measurements of one galaxy (see the module docstring)."""
    from fastjam.config import load_config
    from fastjam.exact_fit import fit_exact, refine
    from fastjam.fit import fit

    gdir = work / name
    gdir.mkdir(parents=True, exist_ok=True)
    cfg = load_config(path)
    t0 = time.perf_counter()
    exact = fit_exact(cfg, cache_dir=gdir / "nodes", workers=workers, progress=False)
    wall = time.perf_counter() - t0
    d = exact.diagnostics
    run_file = gdir / "exact_run.json"
    if d["n_computed"] == d["n_nodes"] or not run_file.exists():  # the uncached run's cost
        _atomic_json(run_file, dict(n_jam_calls=d["n_jam_calls"], wall_seconds=wall, n_cached=d["n_cached"],
                                    loadavg=os.getloadavg()))
    first = json.loads(run_file.read_text())
    row = dict(config=shown_path(path).replace(str(Path.home()), "~"), n_bins=int(exact.problem.x.size),
               truth=exact.truth,
               exact=dict(stats=_posterior_stats(exact), n_nodes=d["n_nodes"], first_run=first,
                          interpolation_error=d["interpolation_error"], quadrature_error=d["quadrature_error"],
                          converged=d["converged"], unphysical_fraction=d["unphysical_fraction"],
                          jam_seconds_per_call=d["jam_seconds_per_call"], edge_mass=d["edge_mass"]))
    if emulator_too and "mge" not in cfg["galaxy"]:
        t0 = time.perf_counter()
        ref = refine(load_config(path, EMULATOR_SAMPLER), cache_dir=gdir / "nodes_window", workers=workers,
                     progress=False)
        rd = ref.exact.diagnostics
        window = _posterior_stats(ref.exact)
        emu = _posterior_stats(ref.emulator)
        plain = _posterior_stats(fit(load_config(path, {**EMULATOR_SAMPLER, "likelihood.coherent_error": False}),
                                     forward="emulator", progress=False))
        ex = row["exact"]["stats"]
        row["refine"] = dict(wall_seconds=time.perf_counter() - t0, emulator_seconds=ref.emulator.seconds,
                             exact_window_seconds=ref.exact.seconds, window=list(ref.inclination_range),
                             window_jam_calls=rd["n_jam_calls"], window_nodes=rd["n_nodes"],
                             window_vs_full={p: _versus(window[p], ex[p]) for p in PARAMS},
                             emulator_coherent_vs_exact={p: _versus(emu[p], ex[p]) for p in PARAMS},
                             emulator_plain_vs_exact={p: _versus(plain[p], ex[p]) for p in PARAMS})
    return row


def grid_reference(name):
    """The 2-D JAM grid posterior of ``fastjam compare`` (bench/results/compare.json), or None."""
    path = RESULTS / "compare.json"
    if not path.exists():
        return None
    galaxies = json.loads(path.read_text())["galaxies"]
    if name not in galaxies:
        return None
    return {p: galaxies[name]["parameters"][p]["jam"] for p in PARAMS}


def interpolation_study(work, workers):
    """Leave-out accuracy of {linear, cubic, PCHIP} x {i, cos i, q_intr, q_intr^2} on 17 nodes of the example galaxy."""
    from scipy.interpolate import CubicSpline, PchipInterpolator

    from fastjam.config import load_config
    from fastjam.exact import DEPTH, LinearTerms, compute_nodes, node_cache
    from fastjam.fit import build_problem
    from fastjam.physics.geometry import qintr_from_inclination

    pb = build_problem(load_config(BUNDLED["example_galaxy"]), forward="jam")
    terms = LinearTerms(pb.galaxy, pb.x, pb.y)
    nodes, _ = compute_nodes(terms, np.linspace(0, 2**DEPTH, 17).astype(int), node_cache(terms, work /
                             "interpolation_nodes"), workers=workers, progress=False)
    inc, q_obs = nodes.inclination, terms.q_obs
    coords = {"i": inc, "cos i": np.cos(np.radians(inc)), "q_intr": qintr_from_inclination(q_obs, inc)}
    coords["q_intr^2"] = coords["q_intr"] ** 2
    out = []
    for beta in (0.0, 0.3):
        v = nodes.a + nodes.b / (1 - beta)
        for step in (2, 4):
            sub = np.arange(0, inc.size, step)
            test = np.setdiff1d(np.arange(inc.size), sub)
            for cname, t in coords.items():
                o = np.argsort(t[sub])
                ts, vs = t[sub][o], v[sub][o]
                for kind in ("linear", "cubic", "pchip"):
                    if kind == "linear":
                        pred = np.stack([np.interp(t[test], ts, vs[:, j]) for j in range(v.shape[1])], 1)
                    else:
                        pred = (CubicSpline if kind == "cubic" else PchipInterpolator)(ts, vs, axis=0)(t[test])
                    err = np.abs(pred / v[test] - 1).max(axis=1)  # per left-out node: worst bin
                    out.append(dict(beta_z=beta, n_nodes=int(sub.size), coordinate=cname, kind=kind,
                                    median_of_node_max=float(np.median(err)), max=float(err.max())))
    return out


def _atomic_json(path, obj):
    from fastjam.atomic import write_json

    write_json(path, obj, default=float)


def print_tables(study, rows):
    print("Interpolation of V_RMS^2 = A + B/(1 - beta_z) between nodes (example galaxy, leave-out, 9 nodes, "
          "beta_z = 0.3): median over left-out nodes of the worst bin's relative error")
    for r in study:
        if r["n_nodes"] == 9 and r["beta_z"] == 0.3:
            print(f"  {r['coordinate']:<9s}{r['kind']:<8s}{r['median_of_node_max']:>10.2e}  (max {r['max']:.2e})")
    print(f"\n{'galaxy':<17s}{'bins':>5s}{'nodes':>6s}{'calls':>6s}{'wall[s]':>8s}{'s/call':>7s}{'interp[sig]':>12s}"
          f"   exact vs 2-D grid: shift/sigma (width ratio) for i, beta_z, M/L")
    for name, r in rows.items():
        e = r["exact"]
        ref = r.get("vs_grid")
        refs = "  ".join(f"{ref[p]['shift_sigma']:+.2f} ({ref[p]['width_ratio']:.3f})" for p in PARAMS) if ref else "-"
        print(f"{name:<17s}{r['n_bins']:>5d}{e['n_nodes']:>6d}{e['first_run']['n_jam_calls']:>6d}"
              f"{e['first_run']['wall_seconds']:>8.0f}{e['jam_seconds_per_call']:>7.2f}"
              f"{max(e['interpolation_error'].values()):>12.1e}   {refs}")
    print(f"\n{'galaxy':<17s}{'emulator+coherent vs exact':>36s}{'emulator (no coherent) vs exact':>36s}"
          f"{'refined window vs full':>38s}{'window calls':>13s}")
    for name, r in rows.items():
        if "refine" not in r:
            continue
        f = r["refine"]
        cols = ["  ".join(f"{f[k][p]['shift_sigma']:+.2f}/{f[k][p]['width_ratio']:.2f}" for p in PARAMS)
                for k in ("emulator_coherent_vs_exact", "emulator_plain_vs_exact", "window_vs_full")]
        print(f"{name:<17s}{cols[0]:>36s}{cols[1]:>36s}{cols[2]:>38s}{f['window_jam_calls']:>13d}")
    print("(shift of the median in exact sigma / width ratio, for inclination, beta_z, M/L)")


def bench_parser(description, json_name):
    """The options shared by the benches of the exact posterior: --work, --workers, --only, --json."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--work", default=str(Path.home() / ".cache" / "fastjam" / "bench_exact"))
    parser.add_argument("--workers", type=int, default=2, help="local Dask workers for jampy")
    parser.add_argument("--only", action="append", help="run only this galaxy (repeatable)")
    parser.add_argument("--json", default=str(RESULTS / json_name))
    return parser


def bench_galaxies(args):
    """Quiet logging, the work directory, and the configurations of the bench galaxies (mocks written once)."""
    logging.basicConfig(level=logging.WARNING)
    logging.getLogger("distributed").setLevel(logging.ERROR)
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    galaxies = {"example_galaxy": BUNDLED["example_galaxy"]}
    galaxies.update({name: make_new_mock(name, work) for name in NEW_MOCKS})
    galaxies["m32"] = make_m32(work)
    galaxies.update(BUNDLED)
    return work, {k: v for k, v in galaxies.items() if not args.only or k in args.only}


def main(argv=None):
    parser = bench_parser(__doc__.splitlines()[0], "exact.json")
    parser.add_argument("--no-emulator", action="store_true", help="skip the emulator fits")
    args = parser.parse_args(argv)
    work, galaxies = bench_galaxies(args)
    study = interpolation_study(work, args.workers)
    rows = {}
    for name, path in galaxies.items():
        done = work / name / "result.json"
        if done.exists():
            rows[name] = json.loads(done.read_text())
            continue
        row = run_galaxy(name, path, work, args.workers, not args.no_emulator)
        ref = grid_reference(name)
        if ref is not None:
            row["vs_grid"] = {p: _versus(row["exact"]["stats"][p], ref[p]) for p in PARAMS}
        _atomic_json(done, row)
        rows[name] = row
        logging.warning("%s done", name)
    print_tables(study, rows)
    return write_results(args, interpolation=study, galaxies=rows)


def write_results(args, **results):
    """Write ``results`` with the arguments and the machine to ``args.json``; return the dict."""
    out = dict(args=dict(vars(args), work=None, json=None), **results, machine=machine_info())
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    _atomic_json(Path(args.json), out)
    return out


if __name__ == "__main__":
    main()

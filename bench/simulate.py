"""Benchmark of the training-set generator and of jampy's numerical settings.

Three measurements, each of which can be skipped:

speed
    Maps per second of :func:`fastjam.simulate.simulate` run serially (``workers=0``) and
    on a local Dask cluster (``--workers``, default 2) on the same ``--n-speed`` maps of a
    Sobol design (``--seed``), each into a fresh temporary directory. The rates are
    ``SimulationSummary.maps_per_second``, whose wall time includes writing the maps and,
    for Dask, starting and stopping the local cluster and the workers' first imports.
psf
    Milliseconds per JAM map (:func:`fastjam.jam.dimensionless_map` on the 64 x 64 polar
    map grid) as a function of sigma_psf / R_e for a fixed mid-range galaxy
    (n = 4, q_obs = 0.7, i = 70 deg, beta_z = 0.1, pixsize = 0.7 sigma_psf), with the
    chosen settings (nrad x nang = 40 x 20) and jampy's defaults (20 x 10): median of
    ``--repeats`` calls, after one untimed warm-up call (imports, MGE fit).
convergence
    For ``--n-conv`` parameter sets of the Sobol design, f computed with 40 x 20, with
    20 x 10 and with a 3x finer reference (120 x 60). Per setting: the median and 99th
    percentile of the pixel relative error :math:`|f/f_{\\rm ref} - 1|` over all map-grid
    nodes of all maps, and the distribution of the per-map maximum error (median, 95th
    percentile, maximum, fraction of maps above 1%), with the parameters of the worst map.

The results are printed as a plain-text table and written as JSON (``--json``) with the
machine, the package versions, the arguments and the raw numbers.

Examples
--------
Quick check (seconds to a minute)::

    python bench/simulate.py --n-speed 4 --n-conv 2 --repeats 1 --json /tmp/simulate.json

Full run::

    python bench/simulate.py
"""
import argparse
import datetime
import logging
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from _common import RESULTS, machine_info, shown_path  # noqa: E402

log = logging.getLogger("bench.simulate")

#: The settings compared: the ones fastjam uses, jampy's defaults, and the 3x finer reference.
CHOSEN = (40, 20)
JAMPY_DEFAULT = (20, 10)
REFERENCE = (120, 60)

#: The fixed galaxy of the PSF timing: (n, q_obs, inclination [deg], beta_z), pixsize / sigma_psf.
PSF_GALAXY = dict(n=4.0, q_obs=0.7, inclination=70.0, beta_z=0.1)
PSF_PIXSIZE_RATIO = 0.7
PSF_VALUES = (0.02, 0.04, 0.08, 0.15, 0.3)

#: Threshold of the "fraction of maps above" statistic of the convergence test.
MAP_ERROR_THRESHOLD = 0.01

DEFAULT_JSON = RESULTS / "simulate.json"



def parse_args(argv=None):
    p = argparse.ArgumentParser(
        description="Benchmark the fastjam training-set generator (serial vs Dask), the JAM time per map "
                    "versus sigma_psf/R_e, and the convergence of jampy's nrad x nang settings.")
    p.add_argument("--seed", type=int, default=11, help="seed of the Sobol design (default 11)")
    p.add_argument("--n-speed", type=int, default=24, help="maps of the serial vs Dask comparison (default 24)")
    p.add_argument("--workers", type=int, default=2, help="local Dask workers of the parallel run (default 2)")
    p.add_argument("--psf", type=float, nargs="+", default=list(PSF_VALUES),
                   help="sigma_psf/R_e values of the timing (default %(default)s)")
    p.add_argument("--repeats", type=int, default=3, help="timed calls per PSF value and setting; median (default 3)")
    p.add_argument("--n-conv", type=int, default=40, help="parameter sets of the convergence test (default 40)")
    p.add_argument("--json", type=Path, default=DEFAULT_JSON, help="output JSON (default bench/results/simulate.json)")
    p.add_argument("--skip-speed", action="store_true", help="skip the serial vs Dask comparison")
    p.add_argument("--skip-psf", action="store_true", help="skip the timing versus sigma_psf/R_e")
    p.add_argument("--skip-convergence", action="store_true", help="skip the convergence test")
    p.add_argument("--no-progress", action="store_true", help="hide progress bars")
    args = p.parse_args(argv)
    for name in ("n_speed", "repeats", "n_conv"):
        if getattr(args, name) < 1:
            p.error(f"--{name.replace('_', '-')} must be >= 1")
    if args.workers < 1:
        p.error("--workers must be >= 1")
    if any(s <= 0 for s in args.psf):
        p.error("--psf values must be > 0")
    return args


def settings(nrad_nang):
    from fastjam.jam import JAMSettings

    return JAMSettings(nrad=nrad_nang[0], nang=nrad_nang[1])


def label(nrad_nang):
    return f"{nrad_nang[0]}x{nrad_nang[1]}"


# --------------------------------------------------------------------------------------------
# environment


def environment():
    """Machine and package versions."""
    import jampy
    import mgefit

    import fastjam

    machine = machine_info()
    if hasattr(os, "sched_getaffinity"):
        machine["cpus_available"] = len(os.sched_getaffinity(0))
    if hasattr(os, "getloadavg"):
        machine["load_average_at_start"] = list(os.getloadavg())
    versions = dict(fastjam=fastjam.__version__, jampy=jampy.__version__, numpy=np.__version__,
                    mgefit=mgefit.__version__)
    try:
        import dask

        versions["dask"] = dask.__version__
    except ImportError:  # pragma: no cover
        pass
    return machine, versions


# --------------------------------------------------------------------------------------------
# a. serial vs Dask


def run_generator(n_maps, seed, workers, progress):
    """Run the generator into a temporary directory; return its summary as a dict."""
    from fastjam.simulate import simulate

    with tempfile.TemporaryDirectory(prefix="fastjam_bench_") as tmp:
        summary = simulate(Path(tmp) / "set", n_maps, seed, workers=workers, progress=progress)
    out = dict(vars(summary))
    out["maps_per_second"] = summary.maps_per_second
    out["mean_jam_seconds"] = summary.jam_seconds / max(summary.n_computed, 1)
    return out


def bench_speed(args):
    """Serial vs Dask on the same design."""
    log.info("speed: %d maps serially", args.n_speed)
    serial = run_generator(args.n_speed, args.seed, 0, not args.no_progress)
    log.info("speed: %d maps with %d Dask workers", args.n_speed, args.workers)
    parallel = run_generator(args.n_speed, args.seed, args.workers, not args.no_progress)
    ratio = parallel["maps_per_second"] / serial["maps_per_second"]
    return dict(n_maps=args.n_speed, seed=args.seed, jam_settings=label(CHOSEN), serial=serial,
                dask=dict(parallel, requested_workers=args.workers), speedup=ratio)


# --------------------------------------------------------------------------------------------
# b. JAM time versus PSF


def psf_map(sigma_psf_re, nrad_nang):
    """f of the fixed galaxy of the PSF timing."""
    from fastjam.jam import dimensionless_map

    g = PSF_GALAXY
    return dimensionless_map(g["n"], g["q_obs"], g["inclination"], g["beta_z"], sigma_psf_re,
                             PSF_PIXSIZE_RATIO * sigma_psf_re, settings(nrad_nang))


def time_map(sigma_psf_re, nrad_nang, repeats):
    """Median wall time in seconds of one map of the fixed galaxy, and all the timings."""
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        psf_map(sigma_psf_re, nrad_nang)
        times.append(time.perf_counter() - t0)
    return float(np.median(times)), times


def bench_psf(args):
    """Milliseconds per map versus sigma_psf/R_e at the chosen settings and at jampy's defaults."""
    psf_map(args.psf[0], JAMPY_DEFAULT)  # untimed warm-up: imports and the cached MGE fit
    rows = []
    for sig in args.psf:
        row = dict(sigma_psf_re=sig, pixsize_re=PSF_PIXSIZE_RATIO * sig)
        for nn in (CHOSEN, JAMPY_DEFAULT):
            log.info("psf: sigma_psf/R_e = %g, %s", sig, label(nn))
            med, times = time_map(sig, nn, args.repeats)
            row[label(nn)] = dict(median_ms=1e3 * med, times_ms=[1e3 * t for t in times])
        rows.append(row)
    return dict(galaxy=PSF_GALAXY, pixsize_over_sigma_psf=PSF_PIXSIZE_RATIO, repeats=args.repeats,
                map_grid_nodes=_map_grid_nodes(), rows=rows)


def _map_grid_nodes():
    from fastjam.physics import grid

    return grid.NTHETA * grid.NR


# --------------------------------------------------------------------------------------------
# c. convergence


def compute_triplet(params):
    """f at the chosen, default and reference settings, and the seconds each took (JAM only: the
    Sérsic MGE fit, cached per n, is done before the clocks start)."""
    from fastjam.jam import dimensionless_map
    from fastjam.physics import sersic_mge

    sersic_mge(float(params[0]), float(params[1]))
    maps, seconds = {}, {}
    for nn in (CHOSEN, JAMPY_DEFAULT, REFERENCE):
        t0 = time.perf_counter()
        maps[label(nn)] = dimensionless_map(*(float(p) for p in params), settings(nn))
        seconds[label(nn)] = time.perf_counter() - t0
    return maps, seconds


def error_statistics(rel, params):
    """Summary of the relative errors ``rel``, shape (maps, NTHETA, NR), of one setting."""
    from fastjam.design import PARAM_NAMES
    from fastjam.physics import grid

    per_map = rel.reshape(rel.shape[0], -1).max(axis=1)
    worst = int(np.argmax(per_map))
    x, y = grid.polar_grid()
    k = np.unravel_index(np.argmax(rel[worst]), rel[worst].shape)
    return dict(
        pixel_median=float(np.median(rel)),
        pixel_p99=float(np.percentile(rel, 99)),
        map_max_median=float(np.median(per_map)),
        map_max_p95=float(np.percentile(per_map, 95)),
        map_max_max=float(per_map.max()),
        fraction_maps_above_threshold=float(np.mean(per_map > MAP_ERROR_THRESHOLD)),
        worst=dict(row=worst, params=dict(zip(PARAM_NAMES, map(float, params[worst]))),
                   max_error=float(per_map[worst]), x_re=float(x[k]), y_re=float(y[k])),
        per_map_max=per_map.tolist(),
    )


def bench_convergence(args):
    """Pixel errors of 40x20 and 20x10 against 120x60 on parameter sets of the design."""
    from tqdm.auto import tqdm

    from fastjam.design import PARAM_NAMES, sobol_design

    design = sobol_design(args.n_conv, args.seed)
    maps = {label(nn): [] for nn in (CHOSEN, JAMPY_DEFAULT, REFERENCE)}
    seconds = {k: [] for k in maps}
    kept, failed = [], []
    for i, params in enumerate(tqdm(design, desc="convergence", unit="map", disable=args.no_progress)):
        try:
            m, s = compute_triplet(params)
        except Exception as exc:  # recorded, not fatal: the other maps still count
            log.warning("convergence: parameter set %d failed: %s", i, exc)
            failed.append(dict(row=i, params=params.tolist(), message=f"{type(exc).__name__}: {exc}"))
            continue
        kept.append(i)
        for k in maps:
            maps[k].append(m[k])
            seconds[k].append(s[k])
    if not kept:
        raise RuntimeError("every parameter set of the convergence test failed")
    ref = np.asarray(maps[label(REFERENCE)])
    stats = {}
    for nn in (CHOSEN, JAMPY_DEFAULT):
        rel = np.abs(np.asarray(maps[label(nn)]) / ref - 1)
        stats[label(nn)] = error_statistics(rel, design[kept])
    return dict(n_maps=args.n_conv, seed=args.seed, reference=label(REFERENCE), threshold=MAP_ERROR_THRESHOLD,
                param_names=list(PARAM_NAMES), rows=kept, failed=failed, settings=stats,
                seconds_per_map={k: dict(median=float(np.median(v)), all=v) for k, v in seconds.items()})


# --------------------------------------------------------------------------------------------
# output


def table(results):
    """Plain-text report of whatever parts were run."""
    lines = []
    speed = results.get("speed")
    if speed:
        s, d = speed["serial"], speed["dask"]
        lines += [f"Generator: {speed['n_maps']} maps, Sobol seed {speed['seed']}, JAM {speed['jam_settings']}",
                  f"  {'run':<22}{'maps/s':>10}{'wall [s]':>10}{'JAM s/map':>11}{'failed':>8}",
                  f"  {'serial (workers=0)':<22}{s['maps_per_second']:>10.3g}{s['wall_seconds']:>10.1f}"
                  f"{s['mean_jam_seconds']:>11.3g}{s['n_failed']:>8d}",
                  f"  {'Dask, %d workers' % d['workers']:<22}{d['maps_per_second']:>10.3g}{d['wall_seconds']:>10.1f}"
                  f"{d['mean_jam_seconds']:>11.3g}{d['n_failed']:>8d}",
                  f"  Dask / serial: {speed['speedup']:.2f}x", ""]
    psf = results.get("psf")
    if psf:
        g = psf["galaxy"]
        c, j = label(CHOSEN), label(JAMPY_DEFAULT)
        lines += [f"JAM time per {psf['map_grid_nodes']}-node map (n={g['n']:g}, q_obs={g['q_obs']:g}, "
                  f"i={g['inclination']:g} deg, beta_z={g['beta_z']:g}, pixsize={psf['pixsize_over_sigma_psf']:g} "
                  f"sigma_psf; median of {psf['repeats']})",
                  f"  {'sigma_psf/R_e':>13}{c + ' [ms]':>14}{j + ' [ms]':>14}{'ratio':>8}"]
        for row in psf["rows"]:
            a, b = row[c]["median_ms"], row[j]["median_ms"]
            lines.append(f"  {row['sigma_psf_re']:>13.3g}{a:>14.1f}{b:>14.1f}{a / b:>8.2f}")
        lines.append("")
    conv = results.get("convergence")
    if conv:
        thr = f"> {100 * conv['threshold']:g}%"
        lines += [f"Convergence against {conv['reference']}: {len(conv['rows'])} maps "
                  f"({len(conv['failed'])} failed), Sobol seed {conv['seed']}; relative error |f/f_ref - 1|",
                  f"  {'setting':<8}{'pix med':>10}{'pix p99':>10}{'map med':>10}{'map p95':>10}{'map max':>10}"
                  f"{'maps ' + thr:>12}{'s/map':>8}"]
        for name, st in conv["settings"].items():
            lines.append(f"  {name:<8}{st['pixel_median']:>10.2e}{st['pixel_p99']:>10.2e}{st['map_max_median']:>10.2e}"
                         f"{st['map_max_p95']:>10.2e}{st['map_max_max']:>10.2e}"
                         f"{100 * st['fraction_maps_above_threshold']:>11.1f}%"
                         f"{conv['seconds_per_map'][name]['median']:>8.2f}")
        lines.append(f"  {conv['reference']:<8}{'':>62}{conv['seconds_per_map'][conv['reference']]['median']:>8.2f}")
        for name, st in conv["settings"].items():
            w = st["worst"]
            par = ", ".join(f"{k}={v:.4g}" for k, v in w["params"].items())
            lines.append(f"  worst {name}: {w['max_error']:.2e} at (x, y) = ({w['x_re']:.3g}, {w['y_re']:.3g}) R_e; {par}")
    return "\n".join(lines).rstrip()


def write_results(path, results):
    from fastjam.atomic import write_json

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_json(path, results)
    log.info("results written to %s", path)


def setup_logging():
    """INFO progress messages of this script; Dask's own messages only from WARNING up."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s: %(message)s")
    quiet_dask = lambda record: not record.name.startswith("distributed") or record.levelno >= logging.WARNING
    for handler in logging.getLogger().handlers:
        handler.addFilter(quiet_dask)


def main(argv=None):
    args = parse_args(argv)
    setup_logging()
    machine, versions = environment()
    results = dict(benchmark="simulate", date=datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
                   machine=machine, versions=versions,
                   args={k: (shown_path(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
                   settings=dict(chosen=label(CHOSEN), jampy_default=label(JAMPY_DEFAULT), reference=label(REFERENCE)))
    t0 = time.perf_counter()
    if not args.skip_speed:
        results["speed"] = bench_speed(args)
    if not args.skip_psf:
        results["psf"] = bench_psf(args)
    if not args.skip_convergence:
        results["convergence"] = bench_convergence(args)
    results["total_seconds"] = time.perf_counter() - t0
    write_results(args.json, results)
    print(table(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())

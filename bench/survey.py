"""Survey throughput on 2 cores: ``fastjam survey`` against ``fastjam fit`` run one by one and a JAM MCMC.

    python examples/survey/make_mock_survey.py --n 120 --out ~/.cache/fastjam/mock_survey
    python bench/survey.py --catalog ~/.cache/fastjam/mock_survey/catalog.csv [--n 40] [--one-by-one 8]

Measured in one run, side by side, with the shared settings of ``examples/survey/defaults.toml``
(emcee, 32 walkers, stopped at bulk ESS 400 or 5000 steps):

1. ``fastjam survey`` of the first ``--n`` galaxies on 2 local Dask workers: galaxies per
   hour, and the per-galaxy time split into set-up + MAP + JAX compilation, sampling, saving
   and Dask overhead, with the once-per-worker start-up (imports, emulator, first compilation);
2. JAX compilation per galaxy, before and after padding: the first ``--compile-galaxies``
   galaxies fitted one after another in one fresh process (persistent compilation cache off),
   once with each galaxy's own number of bins (as every survey galaxy compiled before: its own
   log density, gradient, NUTS loop and predictive check) and once padded to the survey's
   bucket sizes (compiled once per bucket and process), for emcee and for NUTS; the compile
   seconds are JAX's own (``fastjam.compilation.compile_seconds``);
3. the first ``--one-by-one`` galaxies fitted by separate ``fastjam fit`` processes, two
   at a time (2 cores): each pays imports, emulator load and compilation;
4. a short JAM emcee run (jampy in the likelihood, ``--jam-walkers`` x ``--jam-steps``) on the
   first galaxy: seconds per likelihood call, extrapolated (not run) to the likelihood calls
   the survey's sampler and stopping rule need on that galaxy with the emulator (one emulator
   fit, run here), the cost of one JAM MCMC.

The machine may be shared: compare the ratios, which are measured side by side. Wall times
then depend on the other jobs; CPU times much less, so each rate is also given from CPU time
(``2 x 3600 / CPU seconds per galaxy``: what two dedicated cores would do, neglecting the
once-per-worker start-up). Prints a table and writes ``bench/results/survey.json``.
"""
import argparse
import json
import logging
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from _common import REPO, RESULTS, machine_info, shown_path


def subset_catalog(catalog, n, out):
    """The first ``n`` rows of ``catalog`` with absolute kinematics paths, written to ``out``."""
    from astropy.table import Table

    table = Table.read(catalog, format="ascii.csv")[:n]
    table["kin_path"] = [str((Path(catalog).parent / p).resolve()) for p in table["kin_path"]]
    table.write(out, format="ascii.csv", overwrite=True)
    return out


def toml_text(cfg):
    """A fit configuration dict as TOML (for ``fastjam fit``)."""
    from fastjam.mock import _toml

    lines = []
    for section, table in cfg.items():
        lines.append(f"[{section}]")
        lines += [f"{key} = {str(value).lower() if isinstance(value, bool) else _toml(value)}"
                  for key, value in table.items() if value is not None]
    return "\n".join(lines) + "\n"


def run_survey(catalog, settings, out, workers):
    from astropy.table import Table

    from fastjam.survey import survey

    summary = survey(catalog, out, settings=settings, workers=workers, progress=False)
    from fastjam.survey_table import fitted

    t = Table.read(Path(out) / "results.fits")
    ok = t[fitted(t["status"])]
    n = len(t)
    busy = float(np.sum(t["wall_seconds"]) + np.sum(t["startup_seconds"]))
    return dict(galaxies=n, fitted=len(ok), ok=int(np.sum(t["status"] == "ok")), wall_seconds=summary.wall_seconds,
                workers=summary.workers,
                galaxies_per_hour=summary.galaxies_per_hour,
                per_galaxy=dict(setup_map_compile=float(np.mean(ok["fit_seconds"] - ok["sampling_seconds"])),
                                sampling=float(np.mean(ok["sampling_seconds"])),
                                compile=float(np.mean(ok["compile_seconds"])),
                                save=float(np.mean(ok["save_seconds"])),
                                task_wall=float(np.mean(t["wall_seconds"])),
                                dask_and_idle=float((summary.wall_seconds * summary.workers - busy) / n)),
                startup_per_worker=float(np.sum(t["startup_seconds"]) / summary.workers),
                cpu_seconds_per_galaxy=float(np.mean(t["cpu_seconds"])),
                galaxies_per_hour_2_dedicated_cores=float(2 * 3600 / np.mean(t["cpu_seconds"])),
                r_hat_max=float(np.max(ok["r_hat"])), ess_bulk_median=float(np.median(ok["ess_bulk"])))


#: Short sampler runs of the compilation comparison (compile time does not depend on their length).
COMPILE_SAMPLER = dict(emcee={"sampler.steps": 300, "sampler.ess": 0},
                       numpyro={"sampler.warmup": 250, "sampler.samples": 250, "sampler.ess": 0})


def compile_run(catalog, config, n, backend, padded):
    """Fit the first ``n`` galaxies one after another in this process: JAX compile seconds of each."""
    from fastjam.catalog import read_catalog, read_settings
    from fastjam.emulator.jax_model import BUCKETS
    from fastjam.emulator.model import Emulator
    from fastjam.fit import fit

    settings = read_settings(config)
    for key, value in COMPILE_SAMPLER[backend].items():
        section, name = key.split(".")
        settings.setdefault(section, {})[name] = value
    emulator, out = Emulator.load(), []
    for cfg in read_catalog(catalog, settings).configs[:n]:
        t0 = time.perf_counter()
        result = fit(cfg, backend=backend, emulator=emulator, progress=False, buckets=BUCKETS if padded else None)
        out.append(dict(n_bins=int(result.problem.x.size), compile_seconds=result.timings["compilation"],
                        fit_seconds=time.perf_counter() - t0, sampling_seconds=result.seconds))
    return out


def compilation(catalog, config, n):
    """:func:`compile_run` in fresh processes (no persistent cache), unpadded then padded, per backend."""
    import os

    out = {}
    for backend in ("emcee", "numpyro"):
        for padded in (False, True):
            cmd = [sys.executable, __file__, "--catalog", str(catalog), "--config", str(config), "--n", str(n),
                   "--compile-run", backend, "padded" if padded else "unpadded"]
            env = dict(os.environ, FASTJAM_JAX_CACHE="off", PYTHONPATH=str(REPO))
            done = subprocess.run(cmd, check=True, capture_output=True, text=True, cwd=REPO, env=env)
            galaxies = json.loads(done.stdout.strip().splitlines()[-1])
            later = galaxies[1:]
            out[f"{backend}_{'padded' if padded else 'unpadded'}"] = dict(
                galaxies=galaxies, first_compile_seconds=galaxies[0]["compile_seconds"],
                later_compile_seconds_mean=float(np.mean([g["compile_seconds"] for g in later])),
                later_fit_seconds_mean=float(np.mean([g["fit_seconds"] for g in later])),
                later_sampling_seconds_mean=float(np.mean([g["sampling_seconds"] for g in later])))
    return out


def one_by_one(configs, tmp, parallel=2):
    """``fastjam fit`` in separate processes, ``parallel`` at a time: wall seconds and per-process seconds."""
    paths = []
    for k, cfg in enumerate(configs):
        path = Path(tmp) / f"fit{k}.toml"
        path.write_text(toml_text(cfg))
        paths.append(path)

    def run(path):
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-m", "fastjam", "fit", str(path), "--no-progress", "--out",
                        str(path.with_suffix(""))], check=True, capture_output=True, cwd=REPO)
        return time.perf_counter() - t0

    t0, cpu0 = time.perf_counter(), _children_cpu()
    with ThreadPoolExecutor(parallel) as pool:
        seconds = list(pool.map(run, paths))
    wall, cpu = time.perf_counter() - t0, (_children_cpu() - cpu0) / len(paths)
    return dict(galaxies=len(paths), parallel=parallel, wall_seconds=wall, process_seconds=float(np.mean(seconds)),
                galaxies_per_hour=3600 * len(paths) / wall, cpu_seconds_per_galaxy=cpu,
                galaxies_per_hour_2_dedicated_cores=2 * 3600 / cpu)


def _children_cpu():
    import resource

    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def jam_mcmc(cfg, walkers, steps):
    """Seconds per jampy likelihood call in a short emcee run, and the extrapolated full MCMC: as
    many calls as the survey's sampler and stopping rule need on this galaxy with the emulator."""
    from fastjam.fit import build_problem, fit
    from fastjam.samplers import get_sampler

    problem = build_problem(cfg, "jam")
    t = cfg["truth"]
    theta0 = problem.priors.inverse(t["inclination"], t["beta_z"], t["ml"])
    cpu0 = time.process_time()
    result = get_sampler("emcee", walkers=walkers, steps=steps, burn=0, vectorize=False, seed=0,
                         progress=False).run(problem.log_density, theta0)
    cpu_per_call = (time.process_time() - cpu0) / result.n_evaluations
    per_call = result.seconds / result.n_evaluations
    calls = int(fit(cfg, progress=False).n_evaluations)
    return dict(walkers=walkers, steps=steps, calls=result.n_evaluations, seconds=result.seconds,
                seconds_per_call=per_call, cpu_seconds_per_call=cpu_per_call, n_bins=int(problem.x.size),
                extrapolated_calls=calls, extrapolated_hours_per_galaxy=calls * per_call / 3600,
                extrapolated_galaxies_per_hour_2_cores=2 * 3600 / (calls * per_call),
                extrapolated_galaxies_per_hour_2_dedicated_cores=2 * 3600 / (calls * cpu_per_call))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--catalog", required=True)
    parser.add_argument("--config", default=str(REPO / "examples/survey/defaults.toml"))
    parser.add_argument("--n", type=int, default=40, help="galaxies in the survey run")
    parser.add_argument("--one-by-one", type=int, default=8, help="galaxies fitted by separate fastjam fit")
    parser.add_argument("--compile-galaxies", type=int, default=5,
                        help="galaxies fitted one after another per backend and padding mode")
    parser.add_argument("--compile-run", nargs=2, metavar=("BACKEND", "PADDING"), help=argparse.SUPPRESS)
    parser.add_argument("--jam-walkers", type=int, default=8)
    parser.add_argument("--jam-steps", type=int, default=3)
    parser.add_argument("--json", default=str(RESULTS / "survey.json"))
    args = parser.parse_args(argv)
    if args.compile_run:  # one process of the compilation comparison: print its galaxies as JSON
        logging.basicConfig(level=logging.ERROR)
        print(json.dumps(compile_run(args.catalog, args.config, args.n, args.compile_run[0],
                                     args.compile_run[1] == "padded")))
        return
    logging.basicConfig(level=logging.WARNING)
    logging.getLogger("distributed").setLevel(logging.ERROR)

    from fastjam.catalog import read_catalog, read_settings

    catalog = Path(args.catalog).expanduser()
    report = dict(catalog=args.catalog.replace(str(Path.home()), "~"), config=shown_path(args.config),
                  machine=machine_info())
    with tempfile.TemporaryDirectory() as tmp:
        sub = subset_catalog(catalog, args.n, Path(tmp) / "catalog.csv")
        cfgs = read_catalog(sub, read_settings(args.config)).configs
        report["survey"] = run_survey(sub, args.config, Path(tmp) / "out", 2)
        report["one_by_one"] = one_by_one(cfgs[: args.one_by_one], tmp)
        report["compilation"] = compilation(sub, args.config, args.compile_galaxies)
        report["jam_mcmc"] = jam_mcmc(cfgs[0], args.jam_walkers, args.jam_steps)
    report["machine"]["loadavg_at_end"] = __import__("os").getloadavg()
    sv, ob, jm = report["survey"], report["one_by_one"], report["jam_mcmc"]
    dedicated = "galaxies_per_hour_2_dedicated_cores"
    report["ratios"] = dict(survey_over_one_by_one=sv["galaxies_per_hour"] / ob["galaxies_per_hour"],
                            survey_over_jam_mcmc=sv["galaxies_per_hour"] / jm["extrapolated_galaxies_per_hour_2_cores"],
                            cpu_survey_over_one_by_one=sv[dedicated] / ob[dedicated],
                            cpu_survey_over_jam_mcmc=sv[dedicated] / jm[f"extrapolated_{dedicated}"])
    Path(args.json).write_text(json.dumps(report, indent=2))
    print(table(report))
    print(f"written {args.json}")


def table(r):
    sv, ob, jm, pg = r["survey"], r["one_by_one"], r["jam_mcmc"], r["survey"]["per_galaxy"]
    return "\n".join([
        f"{'run':<44s}{'galaxies':>9s}{'wall [s]':>10s}{'galaxies/hour':>15s}",
        f"{'fastjam survey, 2 local workers':<44s}{sv['galaxies']:>9d}{sv['wall_seconds']:>10.1f}"
        f"{sv['galaxies_per_hour']:>15.0f}",
        f"{'fastjam fit one by one, 2 at a time':<44s}{ob['galaxies']:>9d}{ob['wall_seconds']:>10.1f}"
        f"{ob['galaxies_per_hour']:>15.0f}",
        f"{'JAM emcee (extrapolated from ' + str(jm['calls']) + ' calls)':<44s}{'':>9s}"
        f"{jm['extrapolated_hours_per_galaxy'] * 3600:>10.0f}{jm['extrapolated_galaxies_per_hour_2_cores']:>15.2f}",
        "",
        "from CPU time (what 2 dedicated cores would do, galaxies/hour): "
        f"survey {sv['galaxies_per_hour_2_dedicated_cores']:.0f}, one by one "
        f"{ob['galaxies_per_hour_2_dedicated_cores']:.0f}, JAM MCMC "
        f"{jm['extrapolated_galaxies_per_hour_2_dedicated_cores']:.3f} (CPU per galaxy: survey "
        f"{sv['cpu_seconds_per_galaxy']:.1f} s, fastjam fit {ob['cpu_seconds_per_galaxy']:.1f} s, JAM "
        f"{jm['cpu_seconds_per_call']:.3f} s per call)",
        "per galaxy in the survey [s]: "
        f"set-up + MAP + compile {pg['setup_map_compile']:.2f} (of which JAX compilation {pg['compile']:.2f}), "
        f"sampling {pg['sampling']:.2f}, save {pg['save']:.2f}, Dask + idle {pg['dask_and_idle']:.2f}; start-up once "
        f"per worker {sv['startup_per_worker']:.1f}",
        *compilation_lines(r["compilation"]),
        f"fastjam fit process per galaxy: {ob['process_seconds']:.1f} s; JAM: {jm['seconds_per_call']:.3f} s per "
        f"call x {jm['extrapolated_calls']} calls",
        f"ratios (wall): survey / one-by-one {r['ratios']['survey_over_one_by_one']:.2f}, "
        f"survey / JAM MCMC {r['ratios']['survey_over_jam_mcmc']:.0f}; (CPU): "
        f"{r['ratios']['cpu_survey_over_one_by_one']:.2f}, {r['ratios']['cpu_survey_over_jam_mcmc']:.0f}",
        f"load average at start {np.round(r['machine']['loadavg_at_start'], 1).tolist()}, at end "
        f"{np.round(r['machine']['loadavg_at_end'], 1).tolist()} on {r['machine']['cpu_count']} cores",
    ])


def compilation_lines(c):
    lines = [f"JAX compile seconds per galaxy, galaxies fitted one after another in one process "
             f"({len(c['emcee_padded']['galaxies'])} per run): first galaxy / mean of the later ones"]
    for backend in ("emcee", "numpyro"):
        before, after = c[f"{backend}_unpadded"], c[f"{backend}_padded"]
        fit0, fit1 = before["later_fit_seconds_mean"], after["later_fit_seconds_mean"]
        lines.append(f"  {backend:<8s} own bins {before['first_compile_seconds']:.2f} / "
                     f"{before['later_compile_seconds_mean']:.2f}; padded {after['first_compile_seconds']:.2f} / "
                     f"{after['later_compile_seconds_mean']:.2f}; later fits {fit0:.1f} -> {fit1:.1f} s "
                     f"(x{fit1 / fit0:.2f}), sampling {before['later_sampling_seconds_mean']:.1f} -> "
                     f"{after['later_sampling_seconds_mean']:.1f} s")
    return lines


if __name__ == "__main__":
    main()

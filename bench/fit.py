"""Time to posterior on the example galaxy from the command line, per stage, emcee and NUTS.

    python bench/fit.py [--config examples/example_galaxy/galaxy.toml] [--runs 5] [--jam-calls 3]

Each run is ``fastjam fit CONFIG --backend B --out DIR --no-progress`` in a fresh process,
timed from its start to its files written. The stages come from the run's ``summary.json``
(``timings``: set-up, MAP, sampling, summary, writing; compilation is JAX tracing and
compiling inside those stages); start-up (interpreter, imports, configuration) is the rest
of the wall time. The first run of each backend uses an empty JAX compilation cache (cold);
the median is over ``--runs`` further runs with the cache filled by it (warm), as every later
fit of the same galaxy (and bin count) would. Per effective sample: sampling seconds over the
minimum bulk ESS, and for a jampy likelihood with the same emcee sampler, the measured
seconds of one jampy log-density call times the emulator emcee run's evaluations per
effective sample (a full jampy emcee run takes hours; the evaluations per effective sample
are the sampler's, the same for either forward model). Prints a table and writes JSON
(default ``bench/results/fit.json``).
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from _common import REPO as ROOT, RESULTS, machine_info, shown_path

STAGES = ("startup", "setup", "compilation", "map", "sampling", "summary", "writing")


def run_cli(config, backend, out, cache):
    """One command-line fit in a fresh process: wall seconds and its summary.json."""
    env = dict(os.environ, FASTJAM_JAX_CACHE=str(cache), PYTHONPATH=str(ROOT))
    cmd = [sys.executable, "-m", "fastjam.cli", "fit", str(config), "--backend", backend, "--out", str(out),
           "--overwrite", "--no-progress"]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if proc.returncode:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{proc.stderr[-3000:]}")
    summary = json.loads((Path(out) / "summary.json").read_text())
    t = summary["timings"]
    stages = dict(t, startup=wall - sum(t[k] for k in ("setup", "map", "sampling", "summary", "writing")))
    ess = min(summary["summary"][p]["ess_bulk"] for p in ("inclination", "beta_z", "ml"))
    return dict(wall_s=wall, stages=stages, evaluations=summary["n_evaluations"], min_ess_bulk=ess,
                s_per_effective_sample=t["sampling"] / ess, evaluations_per_effective_sample=summary["n_evaluations"]
                / ess, diagnostics=summary["diagnostics"])


def jampy_call_seconds(config, calls):
    """Seconds per jampy log-density call at the emulator MAP point (same bins, priors, likelihood)."""
    from fastjam.config import load_config
    from fastjam.fit import build_problem, find_map

    cfg = load_config(config)
    theta = find_map(build_problem(cfg, "emulator"))
    jam = build_problem(cfg, "jam")
    jam.log_density(theta)
    t0 = time.perf_counter()
    for _ in range(calls):
        jam.log_density(theta)
    return (time.perf_counter() - t0) / calls


def _median(rows, key):
    return float(np.median([r[key] for r in rows]))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default=str(ROOT / "examples/example_galaxy/galaxy.toml"))
    parser.add_argument("--runs", type=int, default=5, help="warm runs per backend (median)")
    parser.add_argument("--backends", nargs="+", default=["emcee", "numpyro"])
    parser.add_argument("--jam-calls", type=int, default=3, help="jampy log-density calls to time (0: skip)")
    parser.add_argument("--json", default=str(RESULTS / "fit.json"))
    args = parser.parse_args(argv)
    machine = machine_info()
    result = dict(config=shown_path(args.config), runs=args.runs, backends={})
    with tempfile.TemporaryDirectory() as tmp:
        for backend in args.backends:
            cache = Path(tmp) / f"jax_cache_{backend}"
            cold = run_cli(args.config, backend, Path(tmp) / "out", cache)
            warm = [run_cli(args.config, backend, Path(tmp) / "out", cache) for _ in range(args.runs)]
            median = {k: float(np.median([w["stages"][k] for w in warm])) for k in STAGES}
            result["backends"][backend] = dict(
                cold=cold, warm=warm, median_wall_s=_median(warm, "wall_s"), median_stages=median,
                median_s_per_effective_sample=_median(warm, "s_per_effective_sample"),
                median_evaluations_per_effective_sample=_median(warm, "evaluations_per_effective_sample"),
                median_min_ess_bulk=_median(warm, "min_ess_bulk"))
    if args.jam_calls > 0 and "emcee" in result["backends"]:
        sys.path.insert(0, str(ROOT))
        call = jampy_call_seconds(args.config, args.jam_calls)
        per_ess = call * result["backends"]["emcee"]["median_evaluations_per_effective_sample"]
        result["jampy_emcee"] = dict(seconds_per_call=call, s_per_effective_sample=per_ess)
    result["machine"] = machine | dict(loadavg_at_end=os.getloadavg())
    print(table(result))
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(result, indent=2))
    return result


def table(result):
    """The per-stage table (seconds; medians of the warm runs, and the cold first run)."""
    head = f"{'backend':<16s}{'wall':>7s}" + "".join(f"{s:>12s}" for s in STAGES) + f"{'ESS':>7s}{'s/ESS':>10s}"
    lines = [head]
    for name, b in result["backends"].items():
        for label, stages, wall, ess, per in (
                (f"{name} (median)", b["median_stages"], b["median_wall_s"], b["median_min_ess_bulk"],
                 b["median_s_per_effective_sample"]),
                (f"{name} (cold)", b["cold"]["stages"], b["cold"]["wall_s"], b["cold"]["min_ess_bulk"],
                 b["cold"]["s_per_effective_sample"])):
            lines.append(f"{label:<16s}{wall:>7.2f}" + "".join(f"{stages[s]:>12.2f}" for s in STAGES)
                         + f"{ess:>7.0f}{per:>10.2e}")
    if "jampy_emcee" in result:
        j = result["jampy_emcee"]
        e = result["backends"]["emcee"]["median_s_per_effective_sample"]
        lines.append(f"jampy in the same emcee: {j['seconds_per_call']:.3f} s per call, "
                     f"{j['s_per_effective_sample']:.1f} s per effective sample ({j['s_per_effective_sample'] / e:.3g} x the emulator's)")
    m = result["machine"]
    lines.append(f"{m['cpu_count']} CPUs, load average {m['loadavg_at_start'][0]:.1f} at start, "
                 f"{m['loadavg_at_end'][0]:.1f} at end")
    return "\n".join(lines)


if __name__ == "__main__":
    main()

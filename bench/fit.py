"""Time to posterior on the example galaxy from the command line, per stage, emcee and NUTS.

    python bench/fit.py [--config examples/example_galaxy/galaxy.toml] [--runs 5] [--jam-calls 3]
                        [--baseline OTHER_CHECKOUT] [--note "conditions"]

Each run is ``fastjam fit CONFIG --backend B --out DIR --no-progress`` in a fresh process,
timed from its start to its files written. The stages come from the run's ``summary.json``
(``timings``: set-up, MAP, sampling, summary, writing; compilation is JAX tracing and
compiling inside those stages); start-up (interpreter, imports, configuration, the end of
the process) is the rest of the wall time. The first run of each backend uses an empty JAX compilation cache (cold);
the median is over ``--runs`` further runs with the cache filled by it (warm), as every later
fit of the same galaxy (and bin count) would. Per effective sample: sampling seconds over the
minimum bulk ESS, and for a jampy likelihood with the same emcee sampler, the measured
seconds of one jampy log-density call times the emulator emcee run's evaluations per
effective sample (a full jampy emcee run takes hours; the evaluations per effective sample
are the sampler's, the same for either forward model). With ``--baseline``, the same runs
of another source tree (e.g. an earlier commit, ``git worktree add``) alternate with this
tree's, and the table adds the medians of the paired ratios (this tree over the baseline) of
the wall time and of every stage: on a loaded machine only such ratios compare. Prints a
table and writes JSON (default ``bench/results/fit.json``).
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
from _common import REPO as ROOT, RESULTS, machine_info, machine_line, shown_path

STAGES = ("startup", "setup", "compilation", "map", "sampling", "summary", "writing")


def run_cli(config, backend, out, cache, root=ROOT):
    """One command-line fit in a fresh process of the source tree ``root``: wall seconds and its
    summary.json."""
    env = dict(os.environ, FASTJAM_JAX_CACHE=str(cache), PYTHONPATH=str(root))
    cmd = [sys.executable, "-m", "fastjam.cli", "fit", str(config), "--backend", backend, "--out", str(out),
           "--overwrite", "--no-progress"]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, cwd=root)  # -m imports from the cwd first
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


def _medians(runs):
    """A backend's cold run, warm runs and the medians of the warm runs."""
    warm = runs["warm"]
    return dict(cold=runs["cold"], warm=warm, median_wall_s=_median(warm, "wall_s"),
                median_stages={k: float(np.median([w["stages"][k] for w in warm])) for k in STAGES},
                median_s_per_effective_sample=_median(warm, "s_per_effective_sample"),
                median_evaluations_per_effective_sample=_median(warm, "evaluations_per_effective_sample"),
                median_min_ess_bulk=_median(warm, "min_ess_bulk"))


def _ratios(current, baseline):
    """Medians of the paired ratios (run k of this tree over run k of the baseline)."""
    out = dict(wall_s=float(np.median([c["wall_s"] / b["wall_s"] for c, b in zip(current, baseline)])))
    for k in STAGES:
        out[k] = float(np.median([c["stages"][k] / max(b["stages"][k], 1e-9) for c, b in zip(current, baseline)]))
    return out


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default=str(ROOT / "examples/example_galaxy/galaxy.toml"))
    parser.add_argument("--runs", type=int, default=5, help="warm runs per backend (median)")
    parser.add_argument("--backends", nargs="+", default=["emcee", "numpyro"])
    parser.add_argument("--jam-calls", type=int, default=3, help="jampy log-density calls to time (0: skip)")
    parser.add_argument("--json", default=str(RESULTS / "fit.json"))
    parser.add_argument("--baseline", default=None, help="another source tree whose runs alternate with this one's")
    parser.add_argument("--note", default="", help="conditions of the measurement, stored in the JSON")
    args = parser.parse_args(argv)
    machine = machine_info()
    result = dict(config=shown_path(args.config), runs=args.runs, note=args.note, backends={})
    trees = {"current": ROOT} | ({"baseline": Path(args.baseline).resolve()} if args.baseline else {})
    with tempfile.TemporaryDirectory() as tmp:
        for backend in args.backends:
            runs = {name: dict(warm=[]) for name in trees}
            for _ in range(args.runs + 1):  # the first run of each tree is cold; trees alternate
                for name, root in trees.items():
                    config = root / Path(args.config).resolve().relative_to(ROOT)
                    row = run_cli(config, backend, Path(tmp) / "out", Path(tmp) / f"jax_{name}_{backend}", root)
                    if "cold" in runs[name]:
                        runs[name]["warm"].append(row)
                    else:
                        runs[name]["cold"] = row
            result["backends"][backend] = _medians(runs["current"])
            if args.baseline:
                result.setdefault("baseline", {})[backend] = _medians(runs["baseline"])
                result.setdefault("ratios", {})[backend] = _ratios(runs["current"]["warm"], runs["baseline"]["warm"])
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
    for name, r in result.get("ratios", {}).items():
        b = result["baseline"][name]
        lines.append(f"{name + ' (baseline)':<16s}{b['median_wall_s']:>7.2f}"
                     + "".join(f"{b['median_stages'][s]:>12.2f}" for s in STAGES) + f"{b['median_min_ess_bulk']:>7.0f}"
                     + f"{b['median_s_per_effective_sample']:>10.2e}")
        lines.append(f"{name + ' (ratio)':<16s}{r['wall_s']:>7.2f}" + "".join(f"{r[s]:>12.2f}" for s in STAGES))
    if "jampy_emcee" in result:
        j = result["jampy_emcee"]
        e = result["backends"]["emcee"]["median_s_per_effective_sample"]
        lines.append(f"jampy in the same emcee: {j['seconds_per_call']:.3f} s per call, "
                     f"{j['s_per_effective_sample']:.1f} s per effective sample ({j['s_per_effective_sample'] / e:.3g} x the emulator's)")
    lines.append(machine_line(result["machine"]))
    return "\n".join(lines)


if __name__ == "__main__":
    main()

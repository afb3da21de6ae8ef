"""Speed of a full posterior on the example galaxy, emulator vs jampy likelihood, side by side.

    python bench/fit.py [--config examples/example_galaxy/galaxy.toml] [--jam-calls 5]

Measures, in one run on one machine: wall time of emcee (32 walkers x 3000 steps) and
NumPyro NUTS (4 chains x 1000 samples after 1000 warm-up) with the shipped emulator; their
log-density evaluations per second; and the seconds per call of the same log-density with
jampy as the forward model (at the MAP point), hence the speed-up per likelihood call.
Prints a table and writes JSON (default ``bench/results/fit.json``).
"""
import argparse
import json
import logging
import os
import time
from pathlib import Path

from _common import REPO as ROOT, RESULTS, machine_info




def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default=str(ROOT / "examples/example_galaxy/galaxy.toml"))
    parser.add_argument("--jam-calls", type=int, default=5, help="jampy log-density calls to time")
    parser.add_argument("--walkers", type=int, default=32)
    parser.add_argument("--steps", type=int, default=3000)
    parser.add_argument("--chains", type=int, default=4)
    parser.add_argument("--warmup", type=int, default=1000)
    parser.add_argument("--samples", type=int, default=1000)
    parser.add_argument("--json", default=str(RESULTS / "fit.json"))
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)

    from fastjam.config import load_config
    from fastjam.fit import build_problem, find_map, fit

    overrides = {"sampler.walkers": args.walkers, "sampler.steps": args.steps, "sampler.chains": args.chains,
                 "sampler.warmup": args.warmup, "sampler.samples": args.samples}
    cfg = load_config(args.config, overrides)
    rows = {}
    for backend in ("emcee", "numpyro"):
        t0 = time.perf_counter()
        res = fit(cfg, backend=backend, progress=False)
        wall = time.perf_counter() - t0
        ess = min(s["ess_bulk"] for k, s in res.summary.items() if k in ("inclination", "beta_z", "ml"))
        rows[backend] = dict(wall_s=wall, sampling_s=res.seconds, evaluations=res.n_evaluations,
                             evals_per_s=res.n_evaluations / res.seconds, min_ess_bulk=ess,
                             s_per_effective_sample=res.seconds / ess,
                             summary={k: res.summary[k] for k in ("inclination", "beta_z", "ml")})
    # the same log-density with the emulator and with jampy, one call each at the MAP point
    emu = build_problem(cfg, "emulator")
    theta = find_map(emu)
    import jax

    f = jax.jit(emu.log_density)
    f(theta).block_until_ready()
    n = 200
    t0 = time.perf_counter()
    for _ in range(n):
        f(theta).block_until_ready()
    emu_call = (time.perf_counter() - t0) / n
    jam = build_problem(cfg, "jam")
    jam.log_density(theta)
    t0 = time.perf_counter()
    for _ in range(args.jam_calls):
        jam.log_density(theta)
    jam_call = (time.perf_counter() - t0) / args.jam_calls
    out = dict(config=os.path.relpath(args.config, ROOT), args=vars(args) | {"json": None}, backends=rows,
               log_density_call_s=dict(emulator_jit=emu_call, jampy=jam_call, speedup=jam_call / emu_call),
               machine=machine_info())
    print(f"{'backend':<10s}{'wall [s]':>10s}{'sampling [s]':>14s}{'evals':>10s}{'evals/s':>11s}{'min ESS':>9s}"
          f"{'s/ESS':>9s}")
    for name, r in rows.items():
        print(f"{name:<10s}{r['wall_s']:>10.1f}{r['sampling_s']:>14.1f}{r['evaluations']:>10d}"
              f"{r['evals_per_s']:>11.3g}{r['min_ess_bulk']:>9.0f}{r['s_per_effective_sample']:>9.2g}")
    print(f"one log-density call: emulator (JAX jit) {emu_call * 1e3:.3f} ms, jampy {jam_call:.3f} s, "
          f"ratio {jam_call / emu_call:.0f}x")
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()

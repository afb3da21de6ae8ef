"""emcee's moves and walker counts side by side on the example galaxy's posterior.

    python bench/emcee_moves.py [--config examples/example_galaxy/galaxy.toml] [--seeds 3]

For each setting (moves x walkers) and seed, the emulator posterior of the example is sampled
in this process until the fit's target (bulk ESS >= 1000, grouped R-hat < 1.01), from the MAP,
with the setup, the MAP and the JAX compilation outside the clock. Reported per setting
(medians over seeds): steps, log-density evaluations, bulk ESS, evaluations per effective
sample, sampling seconds and their ratio to the first setting measured in the same run, and
the posterior mean and standard deviation of the inclination against a long reference run
(stretch move, bulk ESS >= 10,000). A last row checks emcee's ``DESnookerMove`` (not offered
by fastjam) on a 3-D Gaussian of known covariance. Prints a table and writes JSON (default
``bench/results/emcee_moves.json``).
"""
import argparse
import json
import os
from pathlib import Path

import numpy as np
from _common import REPO as ROOT, RESULTS, machine_info, machine_line, shown_path

SETTINGS = (("stretch", 32), ("de", 32), ("de", 64), ("de", 128), ("de", 256))


def posterior_of(config):
    """(posterior, MAP theta, monitor) of the configuration's emulator fit."""
    from fastjam.compilation import enable_cache
    from fastjam.config import load_config
    from fastjam.fit import build_problem, find_map
    from fastjam.model import PARAMETERS

    enable_cache()
    cfg = load_config(config)
    problem = build_problem(cfg)
    theta = find_map(problem, seed=cfg["sampler"]["seed"])
    post = problem.posterior
    return post, theta, lambda t: np.stack([post.to_physical(t)[k] for k in PARAMETERS], -1)


def run(post, theta, monitor, moves, walkers, seed, ess=1000.0):
    from fastjam.samplers import Target
    from fastjam.samplers.emcee_backend import EmceeSampler

    sampler = EmceeSampler(walkers=walkers, moves=moves, seed=seed, progress=False, target=Target(ess), monitor=monitor)
    res = sampler.run(post, theta)
    inc = monitor(res.theta)[..., 0].ravel()
    d = res.diagnostics
    return dict(steps=d["steps"], evaluations=res.n_evaluations, ess=d["ess_bulk_min"], r_hat=d["r_hat_max_groups"],
                seconds=res.seconds, evaluations_per_ess=res.n_evaluations / d["ess_bulk_min"],
                inclination_mean=float(inc.mean()), inclination_sd=float(inc.std()))


def snooker_variance_ratio(seed=1, walkers=64, steps=4000):
    """Sample variances over true variances of emcee's DESnookerMove and DEMove on a 3-D Gaussian."""
    import emcee

    cov = np.array([[1.0, 0.95, 0.0], [0.95, 1.0, 0.0], [0.0, 0.0, 4.0]])
    prec = np.linalg.inv(cov)
    out = {}
    for name, move in (("DESnookerMove", emcee.moves.DESnookerMove()), ("DEMove", emcee.moves.DEMove())):
        rng = np.random.default_rng(seed)
        s = emcee.EnsembleSampler(walkers, 3, lambda x: -0.5 * np.einsum("ni,ij,nj->n", x, prec, x), vectorize=True,
                                  moves=move)
        s.random_state = np.random.RandomState(seed).get_state()
        s.run_mcmc(rng.standard_normal((walkers, 3)), steps, progress=False)
        out[name] = (np.var(s.get_chain(discard=steps // 4, flat=True), axis=0) / np.diag(cov)).tolist()
    return out


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default=str(ROOT / "examples/example_galaxy/galaxy.toml"))
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--json", default=str(RESULTS / "emcee_moves.json"))
    parser.add_argument("--note", default="", help="conditions of the measurement, stored in the JSON")
    args = parser.parse_args(argv)
    machine = machine_info()
    post, theta, monitor = posterior_of(args.config)
    run(post, theta, monitor, "de", 128, 0, ess=0.0)  # compile and import outside every clock
    reference = run(post, theta, monitor, "stretch", 64, 0, ess=10000.0)
    rows = {f"{m} x {w}": [] for m, w in SETTINGS}
    for seed in range(args.seeds):  # settings interleaved, so that a changing load hits all alike
        for moves, walkers in SETTINGS:
            rows[f"{moves} x {walkers}"].append(run(post, theta, monitor, moves, walkers, 100 + seed))
    first = next(iter(rows))
    medians = {k: {q: float(np.median([r[q] for r in v])) for q in v[0]} for k, v in rows.items()}
    for k in medians:
        medians[k]["seconds_ratio"] = float(np.median([a["seconds"] / b["seconds"] for a, b in zip(rows[k], rows[first])]))
    result = dict(config=shown_path(args.config), seeds=args.seeds, note=args.note, reference=reference, runs=rows,
                  medians=medians, snooker_variance_ratio=snooker_variance_ratio(),
                  machine=machine | dict(loadavg_at_end=os.getloadavg()))
    print(table(result))
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(result, indent=2))
    return result


def table(result):
    head = (f"{'moves x walkers':<18s}{'steps':>7s}{'evals':>8s}{'ESS':>7s}{'evals/ESS':>10s}{'seconds':>9s}"
            f"{'ratio':>7s}{'i mean':>8s}{'i sd':>7s}")
    lines = [head]
    for k, m in result["medians"].items():
        lines.append(f"{k:<18s}{m['steps']:>7.0f}{m['evaluations']:>8.0f}{m['ess']:>7.0f}{m['evaluations_per_ess']:>10.1f}"
                     f"{m['seconds']:>9.2f}{m['seconds_ratio']:>7.2f}{m['inclination_mean']:>8.2f}"
                     f"{m['inclination_sd']:>7.3f}")
    r = result["reference"]
    lines.append(f"reference (stretch x 64, ESS {r['ess']:.0f}): inclination mean {r['inclination_mean']:.2f}, "
                 f"sd {r['inclination_sd']:.3f}")
    for name, ratio in result["snooker_variance_ratio"].items():
        lines.append(f"{name} on a 3-D Gaussian: sample / true variance {', '.join(f'{v:.3f}' for v in ratio)}")
    lines.append(machine_line(result["machine"]))
    return "\n".join(lines)


if __name__ == "__main__":
    main()

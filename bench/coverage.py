"""Calibration of the emulator posterior: coverage of its credible intervals on jampy mocks.

    python bench/coverage.py [--n 100] [--work DIR] [--workers 2] [--seed 0] [--error 0.025 0.05]

Draws ``n`` galaxies (Sérsic n in [1.5, 6], q_obs in [0.4, 0.95], R_e in [4, 12] arcsec,
PSF sigma 0.05-0.2 R_e, spaxel 0.6-1.2 PSF sigma) and their true (inclination, beta_z,
M/L) from the fit's own prior (isotropic inclination, beta_z uniform below
0.7 (1 - q_intr), log-uniform M/L on [0.5, 20], clipped to the emulator's domain); makes
each mock with one jampy call (~200 bins, 2.5-5% errors, Gaussian noise;
:func:`fastjam.mock.make_mock`); fits it with the shipped emulator (emcee, 32 walkers x
3000 steps, the emulator error in the likelihood as by default); and reports, per
parameter, how often the central 68% and 95% intervals contain the truth, with the
binomial standard error, the rank of the truth in its posterior (uniform for a
calibrated posterior; KS p-value), and the mean offset of the posterior median from the
truth in posterior sigmas. Mocks and fits are cached one file each in ``DIR``
(default ``~/.cache/fastjam/coverage``), so an interrupted run resumes. Prints a table,
writes JSON (default ``bench/results/coverage.json``) and a plot of the rank histograms
(default ``bench/results/coverage.png``).
"""
import argparse
import json
import logging
import time
from pathlib import Path

import numpy as np
from _common import RESULTS, machine_info

from fastjam.model import PARAMETERS


def draw_galaxies(n, rng, space):
    """``n`` mock galaxies and their truths, the truths drawn from the fit prior."""
    from fastjam.model import Priors

    out = []
    for k in range(n):
        r_e = rng.uniform(4.0, 12.0)
        sigma_psf = r_e * rng.uniform(0.05, 0.2)
        g = dict(sersic_n=round(rng.uniform(1.5, 6.0), 4), r_e=round(r_e, 4), q_obs=round(rng.uniform(0.4, 0.95), 4),
                 l_tot=float(f"{10 ** rng.uniform(10, 11):.4g}"), distance=round(rng.uniform(10, 50), 3),
                 sigma_psf=round(sigma_psf, 4), pixsize=round(sigma_psf * rng.uniform(0.6, 1.2), 4))
        priors = Priors(g["q_obs"], (0.5, 20.0)).within_emulator(space)
        truth = {p: float(v[0]) for p, v in priors.sample(1, rng).items()}
        out.append((g, truth))
    return out


def _make(k, galaxy, truth, error=(0.025, 0.05)):
    from fastjam.mock import make_mock

    return k, make_mock(galaxy, truth, seed=1000 + k, bin_seed=k, error=tuple(error))


def _fit(k, config, steps, walkers):
    from fastjam.compare.stats import posterior_row
    from fastjam.config import load_config
    from fastjam.fit import fit

    cfg = load_config(config, {"sampler.backend": "emcee", "sampler.steps": steps, "sampler.walkers": walkers,
                               "sampler.seed": k})
    t0 = time.perf_counter()
    res = fit(cfg, progress=False)
    row = dict(index=k, seconds=time.perf_counter() - t0, truth=res.truth, n_bins=int(res.problem.x.size))
    for p in PARAMETERS:
        row[p] = dict(posterior_row(res.idata.posterior[p], res.truth[p]), ess_bulk=res.summary[p]["ess_bulk"],
                      r_hat=res.summary[p]["r_hat"])
    return row


def plot(rows, table, path):
    from fastjam.plots import figure, save

    fig = figure(figsize=(12, 3.6), layout="constrained")
    axes = fig.subplots(1, 3)
    n = len(rows)
    bins = 10
    for ax, p in zip(axes, PARAMETERS):
        ranks = [r[p]["rank"] for r in rows]
        mean, sd = n / bins, np.sqrt(n / bins * (1 - 1 / bins))
        ax.axhspan(mean - 2 * sd, mean + 2 * sd, color="0.9", zorder=0, label="uniform, ±2σ")
        ax.hist(ranks, bins=bins, range=(0, 1), histtype="step", lw=2, color="C0")
        ax.axhline(mean, color="0.4", lw=1)
        c = table[p]
        ax.set_title(f"{p}: 68% {c['68']['coverage']:.2f}, 95% {c['95']['coverage']:.2f}\n"
                     f"rank KS p = {c['rank_ks_pvalue']:.2g}", fontsize=10)
        ax.set_xlabel("rank of the truth in its posterior")
    axes[0].set_ylabel(f"mocks (of {n})")
    axes[0].legend(fontsize=8, loc="upper left")
    for ax in axes:
        ax.set_ylim(0, 2.2 * n / bins)
    save(fig, path, dpi=120)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100, help="number of mocks")
    parser.add_argument("--seed", type=int, default=0, help="seed of the galaxies and truths")
    parser.add_argument("--work", default=str(Path.home() / ".cache" / "fastjam" / "coverage"))
    parser.add_argument("--workers", type=int, default=2, help="local Dask workers; 0 = serial")
    parser.add_argument("--walkers", type=int, default=32)
    parser.add_argument("--steps", type=int, default=3000)
    parser.add_argument("--error", type=float, nargs=2, default=(0.025, 0.05), metavar=("CENTRE", "EDGE"),
                        help="fractional V_RMS error at the centre and from 2 R_e outwards (default 0.025 0.05)")
    parser.add_argument("--json", default=str(RESULTS / "coverage.json"))
    parser.add_argument("--plot", default=str(RESULTS / "coverage.png"))
    args = parser.parse_args(argv)
    if args.n < 10:
        raise SystemExit("--n must be >= 10 for a coverage estimate")
    logging.basicConfig(level=logging.WARNING)

    from fastjam.atomic import write_json
    from fastjam.compare.stats import coverage_table
    from fastjam.emulator import Emulator
    from fastjam.parallel import WorkerPool

    work = Path(args.work)
    (work / "fits").mkdir(parents=True, exist_ok=True)
    galaxies = draw_galaxies(args.n, np.random.default_rng(args.seed), Emulator.load().space)
    configs = [work / "mocks" / f"mock_{k:03d}" / "galaxy.toml" for k in range(args.n)]
    fits = [work / "fits" / f"mock_{k:03d}.json" for k in range(args.n)]
    t0 = time.perf_counter()
    with WorkerPool(args.workers) as pool:
        todo = [(k, *galaxies[k], args.error) for k in range(args.n) if not configs[k].exists()]
        for k, mock in pool.as_completed(_make, todo, desc="jampy mocks", unit="mock"):
            mock.write(configs[k].parent, f"Coverage mock {k} (bench/coverage.py --seed {args.seed}).")
        todo = [(k, str(configs[k]), args.steps, args.walkers) for k in range(args.n) if not fits[k].exists()]
        for row in pool.as_completed(_fit, todo, desc="emulator fits", unit="mock"):
            write_json(fits[row["index"]], row)
    rows = [json.loads(f.read_text()) for f in fits]
    table = coverage_table(rows)
    print(f"{'parameter':<13s}{'68% coverage':>16s}{'95% coverage':>16s}{'rank KS p':>11s}"
          f"{'(median - truth)/sigma':>26s}")
    for p, c in table.items():
        print(f"{p:<13s}{c['68']['coverage']:>9.3f} ± {c['68']['binomial_sd']:.3f}"
              f"{c['95']['coverage']:>9.3f} ± {c['95']['binomial_sd']:.3f}{c['rank_ks_pvalue']:>11.2g}"
              f"{c['mean_offset_sigma']:>17.3f} ± {c['mean_offset_sigma_error']:.3f}")
    worst_rhat = max(r[p]["r_hat"] for r in rows for p in PARAMETERS)
    min_ess = min(r[p]["ess_bulk"] for r in rows for p in PARAMETERS)
    print(f"{len(rows)} mocks; fits: median {np.median([r['seconds'] for r in rows]):.1f} s wall each, "
          f"worst R-hat {worst_rhat:.3f}, smallest ESS {min_ess:.0f}; run {time.perf_counter() - t0:.0f} s")
    out = dict(args=dict(vars(args), work=None, json=None, plot=None), n_mocks=len(rows), coverage=table,
               worst_r_hat=worst_rhat, min_ess_bulk=min_ess, mocks=rows, machine=machine_info())
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    write_json(args.json, out)
    plot(rows, table, args.plot)
    return out


if __name__ == "__main__":
    main()

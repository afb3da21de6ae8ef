"""Exact JAM fits from a configuration, and the emulator fit refined by (checked against) them.

``fastjam fit --forward jam`` runs :func:`fit_exact`; ``fastjam fit --refine`` (or ``[refine]
enabled = true``, also in a survey's shared settings; :func:`refine_settings`) runs
:func:`refine`: the emulator posterior first, then the exact JAM posterior on the inclination
range the emulator found (widened, and extended by the engine when the JAM posterior reaches
an edge), reported side by side with the shift of the medians and the width ratio in units of
the exact posterior's sigma.
"""
import dataclasses
import logging
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .atomic import write_json, write_text
from .compare.report import corner_overlay
from .compare.side import jam_likelihood
from .compare.stats import compare_parameter, parameter_stats
from .exact import LinearTerms, node_cache
from .exact_posterior import ExactSettings, exact_posterior
from .fit import FitResult, build_problem, fit, physical_idata, summarize
from .jam import DEFAULT_SETTINGS
from .posterior import Posterior

log = logging.getLogger(__name__)

#: Variables compared by :func:`refine`.
COMPARED = ("inclination", "beta_z", "ml", "q_intr", "log10_mass")


class InterpolatedJAM:
    """The bound forward model of the interpolated exact JAM model:
    ``model(inclination, beta_z, ml) -> (p,)`` V_RMS [km/s] (0 where the model is unphysical, as
    jampy clips it), :math:`V_{\\rm rms}^2 = (M/L)[A(i) + B(i)/(1 - \\beta_z)]`.

    Parameters
    ----------
    nodes : Nodes
        A and B at the computed inclination nodes (:func:`fastjam.exact.compute_nodes`).
    """

    xp = np  #: array namespace

    def __init__(self, nodes):
        self.nodes = nodes

    def __call__(self, inclination, beta_z, ml):
        a, b = self.nodes.interpolate(np.atleast_1d(float(inclination)))
        return np.sqrt(float(ml) * np.clip(a[0] + b[0] / (1 - float(beta_z)), 0.0, None))


def exact_fit_result(problem, settings=ExactSettings(), jam_settings=DEFAULT_SETTINGS, cache_dir=None, workers=2,
                     scheduler=None, progress=True, inclination_range=None, seed=0, truth=None):
    """The exact JAM posterior on ``problem``'s bins and priors as a :class:`~fastjam.fit.FitResult`.

    The likelihood is ``problem``'s without the emulator's model-error terms; ``seed`` seeds
    the posterior draws, ``truth`` (dict) is drawn on the plots.
    """
    t0 = time.perf_counter()
    terms = LinearTerms(problem.galaxy, problem.x, problem.y, jam_settings)
    lik = jam_likelihood(problem)
    res = exact_posterior(terms, problem.priors, lik, inclination_range, settings, node_cache(terms, cache_dir),
                          workers, scheduler, progress, np.random.default_rng(seed))
    posterior = Posterior(problem.priors, lik, InterpolatedJAM(res.nodes), problem.galaxy.total_luminosity)
    problem = dataclasses.replace(problem, posterior=posterior, forward="jam", error_band=None)
    d = res.draws
    chains = [np.reshape(d[k], (4, -1)) for k in ("inclination", "beta_z", "ml")]  # iid draws as 4 chains
    idata = physical_idata(problem.galaxy, *chains, method="exact", forward="jam")
    best = problem.priors.inverse(res.best["inclination"], res.best["beta_z"], res.best["ml"])
    diagnostics = dict(res.diagnostics, jam_settings=jam_settings.as_dict(),
                       exact_settings=dataclasses.asdict(settings))
    return FitResult(idata, summarize(idata), "exact", time.perf_counter() - t0, res.diagnostics["n_jam_calls"],
                     diagnostics, problem, np.asarray(best, dtype=float), dict(truth or {}))


def fit_exact(cfg, settings=ExactSettings(), jam_settings=DEFAULT_SETTINGS, cache_dir=None, workers=2, scheduler=None,
              progress=True):
    """The exact JAM posterior of a configuration (all its bins; Sérsic or MGE photometry).

    Parameters
    ----------
    cfg : dict
        Validated configuration (:func:`fastjam.config.load_config`).
    settings : ExactSettings
    jam_settings : JAMSettings
    cache_dir : str or Path, optional
        Node cache (default ``~/.cache/fastjam/exact/<galaxy fingerprint>``).
    workers : int
        Local Dask workers for jampy (0 = serial).
    scheduler : str, optional
        Address of a running Dask scheduler.
    progress : bool

    Returns
    -------
    FitResult
        ``backend = "exact"``; ``n_evaluations`` = jampy calls made in this run;
        ``diagnostics`` holds the nodes, the interpolation and quadrature errors.
    """
    if cfg["likelihood"]["clip_sigma"] > 0:
        raise ValueError("[likelihood] clip_sigma > 0 is not supported by the exact JAM fit: clip with the emulator "
                         "fit (fastjam fit --refine) or set clip_sigma = 0")
    problem = build_problem(cfg, forward="jam")
    return exact_fit_result(problem, settings, jam_settings, cache_dir, workers, scheduler, progress, None,
                            *_seed_truth(cfg))


def _seed_truth(cfg):
    return cfg["sampler"]["seed"], {k: float(v) for k, v in cfg.get("truth", {}).items()}


def inclination_window(samples, priors, tail=1e-3, pad=0.5, min_half_width=2.0):
    """Inclination range [deg] around posterior samples: their ``tail`` quantiles widened by
    ``pad`` times the range on each side (at least ``min_half_width`` degrees), clipped to the prior."""
    lo, hi = np.quantile(np.asarray(samples, dtype=float).ravel(), [tail, 1 - tail])
    half = max(0.5 * (hi - lo) * (1 + 2 * pad), min_half_width)
    mid = 0.5 * (lo + hi)
    return max(mid - half, priors.inclination_min), min(mid + half, 90.0)


@dataclass
class RefineResult:
    """The emulator posterior and the exact JAM posterior of the same bins and priors.

    Attributes
    ----------
    emulator, exact : FitResult
    comparison : dict
        Per variable (:data:`COMPARED`): :func:`fastjam.compare.compare_parameter` (shift of
        the medians in exact sigma, width ratio, with their Monte Carlo and quadrature errors).
    inclination_range : tuple
        The starting window of the exact posterior [deg].
    """

    emulator: FitResult
    exact: FitResult
    comparison: dict
    inclination_range: tuple

    def table(self):
        """Side-by-side plain-text report."""
        lines = [f"{'parameter':<13s}{'emulator median [p16, p84]':>32s}{'exact median [p16, p84]':>32s}"
                 f"{'shift/sigma':>16s}{'width ratio':>16s}"]
        for name, c in self.comparison.items():
            e, j = c["emulator"], c["jam"]
            lines.append(f"{name:<13s}{_interval(e):>32s}{_interval(j):>32s}"
                         f"{c['shift_sigma']:>+9.2f} ± {c['shift_mc_error']:.2f}"
                         f"{c['width_ratio']:>9.2f} ± {c['width_ratio_mc_error']:.2f}")
        dx = self.exact.diagnostics
        lines.append(f"emulator: {self.emulator.seconds:.1f} s sampling; exact JAM: {self.exact.seconds:.1f} s, "
                     f"{dx['n_jam_calls']} jampy calls ({dx['n_cached']} nodes cached), {dx['n_nodes']} nodes, "
                     f"interpolation error {_max(dx['interpolation_error']):.2g} sigma, "
                     f"{'converged' if dx['converged'] else 'NOT converged'}")
        lines.append(f"exact posterior started on inclination {self.inclination_range[0]:.2f}-"
                     f"{self.inclination_range[1]:.2f} deg (from the emulator posterior, widened)")
        return "\n".join(lines)

    def to_dict(self):
        return dict(comparison=self.comparison, inclination_range=list(self.inclination_range),
                    emulator=dict(summary=self.emulator.summary, seconds=self.emulator.seconds),
                    exact=dict(summary=self.exact.summary, seconds=self.exact.seconds,
                               diagnostics=self.exact.diagnostics))

    def save(self, out, plots=True):
        """Both fits (``out/emulator``, ``out/exact``), ``refine.json``, ``refine.txt`` and
        ``corner_overlay.png`` (``plots=False``: no figures)."""
        from . import plots as figures

        out = Path(out)
        self.emulator.save(out / "emulator", plots=plots)
        self.exact.save(out / "exact", plots=plots)
        write_text(out / "refine.txt", self.table() + "\n")
        write_json(out / "refine.json", self.to_dict(), default=float)
        if plots:
            figures.save(corner_overlay(self.exact.idata, self.emulator.idata, self.exact.truth),
                         out / "corner_overlay.png")


def _interval(s):
    return f"{s['median']:.4g} [{s['p16']:.4g}, {s['p84']:.4g}]"


def _max(errors):
    return max(errors.values()) if errors else float("nan")


def refine_settings(cfg):
    """The exact posterior's settings and jampy grid of a configuration's ``[refine]`` section.

    Returns
    -------
    settings : ExactSettings
    jam_settings : JAMSettings
    """
    from .jam import JAMSettings

    r = cfg["refine"]
    exact = {k: r[k] for k in ("tol", "n_start", "max_nodes", "n_draws") if k in r}
    return ExactSettings(**exact), JAMSettings(nrad=r["nrad"], nang=r["nang"], los_nodes=r.get("los_nodes", 0))


def refine(cfg, emulator=None, backend=None, settings=ExactSettings(), jam_settings=DEFAULT_SETTINGS, cache_dir=None,
           workers=2, scheduler=None, progress=True, buckets=None):
    """The emulator posterior, then the exact JAM posterior where the emulator found the mass.

    Same bins (after the emulator fit's field cut and outlier clipping), same priors (clipped
    to the emulator's domain), the same Gaussian likelihood without the emulator's error terms.
    ``buckets`` pads the emulator fit (:func:`fastjam.fit.fit`).

    Returns
    -------
    RefineResult
    """
    emu = fit(cfg, backend=backend, emulator=emulator, forward="emulator", progress=progress, buckets=buckets)
    window = inclination_window(emu.idata.posterior["inclination"], emu.problem.priors)
    exact = exact_fit_result(emu.problem, settings, jam_settings, cache_dir, workers, scheduler, progress, window,
                             *_seed_truth(cfg))
    comparison = {}
    for name in COMPARED:
        e = parameter_stats(np.asarray(emu.idata.posterior[name]), emu.summary[name]["ess_bulk"])
        j = parameter_stats(np.asarray(exact.idata.posterior[name]), exact.summary[name]["ess_bulk"])
        quad = exact.diagnostics["quadrature_error"].get(name)
        j["grid_error"] = quad
        comparison[name] = compare_parameter(e, j)
    return RefineResult(emu, exact, comparison, window)


def run_jam_exact(problem, jam_settings, out=None, workers=2, scheduler=None, progress=True, around=None, seed=0,
                  settings=ExactSettings()):
    """The exact JAM posterior as the reference :class:`~fastjam.compare.Side` of ``fastjam compare``.

    Parameters
    ----------
    problem : Problem
        The emulator fit's problem (bins, priors).
    jam_settings : JAMSettings
    out : Path, optional
        Nodes are cached in ``out/jam_exact/`` (default: the per-galaxy cache).
    workers, scheduler, progress
        As :func:`fit_exact`.
    around : ndarray, shape (N,), optional
        Inclination samples (the emulator's) whose window the engine starts from; default: the prior.
    seed : int
    settings : ExactSettings
    """
    from .compare import Side

    window = inclination_window(around, problem.priors) if around is not None else None
    cache_dir = Path(out) / "jam_exact" if out is not None else None
    t0 = time.perf_counter()
    res = exact_fit_result(problem, settings, jam_settings, cache_dir, workers, scheduler, progress, window, seed)
    d = res.diagnostics
    samples = np.column_stack([np.asarray(res.idata.posterior[p]).ravel() for p in ("inclination", "beta_z", "ml")])
    n_calls = 2 * d["n_nodes"]
    diagnostics = dict(d, n_draws=settings.n_draws, grid_error=d["quadrature_error"], window=window)
    return Side(samples, res.idata, {p: float(settings.n_draws) for p in ("inclination", "beta_z", "ml")},
                d["jam_seconds_per_call"], n_calls, n_calls * d["jam_seconds_per_call"], time.perf_counter() - t0,
                res.best_params, res.best_model(), diagnostics)

"""Emulator against JAM: the same model fitted twice, and how the two posteriors differ.

The emulator posterior is a normal :func:`fastjam.fit.fit`. The reference runs jampy in the
likelihood with the *same* priors (the emulator's, clipped to its training domain), the same
bins (after the emulator fit's field cut and outlier clipping) and the same Gaussian
likelihood without the emulator's model-error term, by one of four methods: ``"exact"``, the
exact posterior of JAM's linear decomposition (:mod:`fastjam.exact_fit`, the default);
``"grid"``, a grid over (inclination, beta_z) with M/L integrated analytically;
``"importance"``, the emulator posterior reweighted by direct jampy calls; or ``"emcee"``.

The package, by role:

:mod:`~fastjam.compare.grid`
    the grid posterior's quadrature (NumPy only);
:mod:`~fastjam.compare.reference`
    the JAM reference: jampy at the grid nodes or in emcee, in parallel and cached;
:mod:`~fastjam.compare.importance`
    the JAM reference by importance sampling of a proposal posterior;
:mod:`~fastjam.compare.side`
    one side of the comparison (samples, ESS, cost) and the emulator's;
:mod:`~fastjam.compare.stats`
    the statistics: medians and widths with Monte Carlo errors, the energy test, the
    coverage of posteriors of mocks against their truths;
:mod:`~fastjam.compare.report`
    :class:`ComparisonResult`: the table, JSON, posteriors and figures.

:func:`compare` runs both sides and builds the report.
"""
import logging
from pathlib import Path

import numpy as np

from ..jam import DEFAULT_SETTINGS
from .grid import Grid, GridPosterior, check_grid_size, coarsened, grid_error, grid_posterior
from .reference import GridCache, run_grid, run_jam_emcee, run_jam_grid
from .report import GOALS, ComparisonResult, report
from .side import Side, run_emulator
from .stats import coverage_table, energy_distance, energy_test

log = logging.getLogger(__name__)

JAM_METHODS = ("exact", "grid", "importance", "emcee")
GRID_BOXES = ("emulator", "prior")


def compare(cfg, emulator=None, jam_method="exact", workers=2, scheduler=None, out=None, progress=True,
            grid_size=(40, 30), grid_box="emulator", jam_walkers=None, jam_steps=None, seed=None,
            jam_settings=DEFAULT_SETTINGS, backend=None, n_draws=20000, energy_samples=1000, energy_repeats=5,
            jam_draws=1500):
    """Fit one galaxy with the emulator and with jampy in the likelihood, and compare the posteriors.

    Parameters
    ----------
    cfg : dict
        Validated configuration (:func:`fastjam.config.load_config`).
    emulator : Emulator, optional
        Default: the shipped one.
    jam_method : {"exact", "grid", "importance", "emcee"}
        JAM reference: the exact posterior of JAM's linear decomposition (:mod:`fastjam.exact_fit`;
        default: it agrees with the grid to <= 0.02 sigma at 1/50 of the jampy calls, docs/exact.md),
        a grid over (inclination, beta_z) with M/L integrated analytically, importance sampling of
        the emulator posterior with direct jampy calls (:mod:`fastjam.compare.importance`), or emcee.
    workers : int
        Local Dask workers for jampy; 0 runs serially in this process.
    scheduler : str, optional
        Address of an existing Dask scheduler (overrides ``workers``).
    out : str or Path, optional
        Output directory: the report, figures, posteriors, and the JAM cache (grid nodes or
        the emcee chain) from which an interrupted run resumes. Without it nothing is written
        or cached.
    progress : bool
    grid_size : (int, int)
        Grid nodes in inclination and beta_z (``"grid"``).
    grid_box : {"emulator", "prior"}
        ``"emulator"``: the grid covers a box around the emulator posterior (its 0.05-99.95%
        range widened by half its width on each side, :meth:`Grid.around`), so that the
        cells resolve the posterior; the JAM mass along the box's edges is reported and
        must be small. ``"prior"``: the whole prior support.
    jam_walkers, jam_steps : int, optional
        emcee walkers and steps (``"emcee"``; default: the configuration's ``[sampler]``).
    seed : int, optional
        Seed of the grid draws, the subsampling and the JAM emcee run (default: the configuration's).
    jam_settings : JAMSettings
        jampy's numerical settings (default: those of the training set).
    backend : {"emcee", "numpyro"}, optional
        Sampler of the emulator posterior (default: the configuration's).
    n_draws : int
        Samples drawn from the grid posterior.
    energy_samples, energy_repeats : int
        Subsample size and number of null splits of :func:`energy_test`.
    jam_draws : int
        Importance-sampling draws, i.e. jampy calls (``"importance"``).

    Returns
    -------
    ComparisonResult
    """
    if jam_method not in JAM_METHODS:
        raise ValueError(f"unknown JAM method {jam_method!r}: choose one of {', '.join(JAM_METHODS)}")
    if int(workers) < 0:
        raise ValueError(f"workers must be >= 0, got {workers}")
    if jam_method == "grid":
        grid_size = check_grid_size(grid_size)
        if grid_box not in GRID_BOXES:
            raise ValueError(f"unknown grid box {grid_box!r}: choose one of {', '.join(GRID_BOXES)}")
    seed = int(cfg["sampler"]["seed"] if seed is None else seed)
    rng = np.random.default_rng(seed)
    out = Path(out) if out is not None else None
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
    emu_side, fit_result = run_emulator(cfg, emulator, backend, progress)
    problem = fit_result.problem
    log.info("emulator posterior in %.1f s; JAM reference by %s", emu_side.wall_seconds, jam_method)
    if jam_method == "grid":
        around = emu_side.samples[:, :2] if grid_box == "emulator" else None
        jam_side = run_jam_grid(problem, jam_settings, grid_size, out, int(workers), scheduler, progress, n_draws, rng,
                                around)
    elif jam_method == "exact":
        from ..exact_fit import run_jam_exact

        jam_side = run_jam_exact(problem, jam_settings, out, int(workers), scheduler, progress,
                                 emu_side.samples[:, 0] if grid_box == "emulator" else None, seed)
    elif jam_method == "importance":
        from .importance import run_jam_importance

        theta = problem.posterior.from_physical(*emu_side.samples.T)
        jam_side = run_jam_importance(problem, jam_settings, theta, jam_draws, out, int(workers), scheduler, progress,
                                      seed)
    else:
        walkers = int(jam_walkers or cfg["sampler"]["walkers"])
        steps = int(jam_steps or cfg["sampler"]["steps"])
        jam_side = run_jam_emcee(problem, jam_settings, fit_result.best_theta, walkers, steps, out, int(workers),
                                 scheduler, progress, seed)
    jam_side.diagnostics["jam_settings"] = jam_settings.as_dict()
    result = report(emu_side, jam_side, jam_method, rng, fit_result.truth, energy_samples, energy_repeats)
    result.data = dict(x=problem.x, y=problem.y, vrms=problem.vrms, vrms_err=problem.vrms_err)
    if out is not None:
        result.save(out)
    return result


__all__ = ["ComparisonResult", "GOALS", "Grid", "GridCache", "GridPosterior", "Side",
           "coarsened", "compare", "coverage_table", "energy_distance", "energy_test", "grid_error", "grid_posterior",
           "run_grid"]

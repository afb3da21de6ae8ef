"""The exact JAM posterior: adaptive nodes in q_intr, exact (beta_z, M/L) on a dense grid.

With :math:`V_{\\rm rms}^2 = (M/L)\\,[A(i) + B(i)/(1 - \\beta_z)]` (:mod:`fastjam.exact`), the
posterior of (inclination, :math:`\\beta_z`, M/L) is computed as follows.

1. Nodes: A and B at ``n_start`` dyadic nodes in :math:`q_{\\rm intr}` over the requested
   inclination range (the whole prior by default), two jampy calls each.
2. Posterior on the interpolated model: A, B are splined to a dense midpoint grid in
   (inclination, u), :math:`\\beta_z = \\beta_{\\min} + [\\beta_{\\max}(i) - \\beta_{\\min}]\\,u`
   (:class:`fastjam.compare.Grid`); at each cell the model at M/L = 1 is exact in
   :math:`\\beta_z`, and M/L is integrated numerically in :math:`s = \\sqrt{M/L}`
   (:func:`fastjam.compare.grid_posterior`). Same priors, constraint
   :math:`\\beta_z \\le 0.7\\,\\epsilon_{\\rm intr}` and Gaussian likelihood as every fit.
3. Adaptive refinement: every interval between nodes holding more than ``mass_split`` of the
   posterior gets its midpoint node; the posterior is recomputed, and the change of the mean
   and standard deviation of each parameter between the last two node sets, in units of the
   posterior sigma, is the interpolation error estimate. Refinement stops when it is below
   ``tol`` (or at ``max_nodes``, with a warning). The dense grid zooms onto the posterior mass
   (its 1e-5 tails, widened by half its width) and is checked at its edges; the node range is
   extended when the posterior reaches an open edge of it. The quadrature error of the dense
   grid is measured by halving it (:func:`fastjam.compare.grid_error`).

Unphysical models: where :math:`A + B/(1 - \\beta_z) \\le 0` in any bin (possible for large
:math:`\\beta_z` in flat galaxies, where jampy would clip :math:`V_{\\rm rms}` to 0), the cell
gets zero posterior density; the excluded fraction of the grid is reported
(``unphysical_fraction``). A clipped jampy model would fit data that are > 0 everywhere
infinitely badly, so this is the same posterior.
"""
import logging
import time
from dataclasses import dataclass

import numpy as np

from .compare.grid import Grid, coarsened, grid_error, grid_posterior
from .compare.reference import MAX_EDGE_MASS
from .exact import DEPTH, Workers, compute_nodes
from .model import PARAMETERS

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ExactSettings:
    """Tolerances and resolutions of the exact posterior.

    Attributes
    ----------
    tol : float
        Stop when the mean and sd of every parameter change by less than ``tol`` posterior
        sigmas between the last two node sets.
    n_start : int
        Initial nodes over the inclination range.
    max_nodes : int
        At most this many nodes (2 jampy calls each).
    mass_split : float
        Intervals between nodes with more posterior mass than this get a midpoint node.
    n_inclination, n_beta : int
        Cells of the dense (inclination, u) grid.
    n_ml : int
        Points of the M/L integral at each cell.
    tail : float
        Quantile cut of the zoomed grid box on each side.
    n_draws : int
        Posterior draws returned.
    """

    tol: float = 0.02
    n_start: int = 9
    max_nodes: int = 100
    mass_split: float = 1e-3
    n_inclination: int = 160
    n_beta: int = 64
    n_ml: int = 64
    tail: float = 1e-5
    n_draws: int = 20000

    def __post_init__(self):
        if not 0 < self.tol < 1:
            raise ValueError(f"tol = {self.tol} must be in (0, 1) posterior sigmas")
        if not 3 <= int(self.n_start) <= int(self.max_nodes):
            raise ValueError(f"need 3 <= n_start <= max_nodes, got n_start = {self.n_start}, "
                             f"max_nodes = {self.max_nodes}")
        if not 0 < self.mass_split < 1:
            raise ValueError(f"mass_split = {self.mass_split} must be in (0, 1)")


@dataclass
class ExactPosterior:
    """Result of :func:`exact_posterior`.

    Attributes
    ----------
    draws : dict
        ``inclination`` [deg], ``beta_z``, ``ml`` [Msun/Lsun]: arrays of shape (n_draws,).
    grid_posterior : GridPosterior
        The final dense-grid posterior.
    nodes : Nodes
    best : dict
        Highest posterior density: inclination, beta_z, ml.
    best_model : ndarray, shape (p,)
        V_RMS [km/s] at ``best``.
    diagnostics : dict
        n_nodes, n_jam_calls (computed in this run), n_cached, levels (per level: nodes and
        the moment change), interpolation_error (per parameter, in posterior sigmas),
        quadrature_error, edge_mass, unphysical_fraction, converged, wall_seconds.
    """

    draws: dict
    grid_posterior: object
    nodes: object
    best: dict
    best_model: np.ndarray
    diagnostics: dict


def model_grid(nodes, priors, grid):
    """Model V_RMS [km/s] at M/L = 1 on every cell of ``grid`` from the interpolated A and B.

    Returns
    -------
    m1 : ndarray, shape (grid.size, p)
        NaN rows where :math:`A + B/(1 - \\beta_z) \\le 0` in some bin (unphysical).
    """
    a, b = nodes.interpolate(grid.inclination)
    _, beta = grid.nodes(priors)
    u = (1 / (1 - beta)).reshape(grid.shape)
    v2 = a[:, None, :] + b[:, None, :] * u[..., None]
    bad = np.any(v2 <= 0, axis=-1)
    m1 = np.sqrt(np.where(v2 > 0, v2, np.nan))
    m1[bad] = np.nan
    return m1.reshape(grid.size, -1)


def posterior_on_grid(nodes, priors, likelihood, grid, n_ml):
    """The dense-grid posterior (:class:`~fastjam.compare.GridPosterior`) and its unphysical fraction."""
    m1 = model_grid(nodes, priors, grid)
    unphysical = float(np.mean(np.any(np.isnan(m1), axis=1)))
    return grid_posterior(priors, likelihood, grid, m1, n_ml=n_ml), unphysical


def moments(post):
    """Posterior mean and sd of (inclination, beta_z, ml) from a grid posterior (no sampling).

    Returns
    -------
    mean, sd : ndarray, shape (3,)
    """
    w = post.weights
    inc, beta = post.grid.nodes(post.priors)
    ok = w > 0
    dens = np.exp(post.log_cond[ok] - np.max(post.log_cond[ok], axis=1, keepdims=True))
    s = post.s_grid[ok]
    norm = np.trapezoid(dens, s, axis=1)
    ml1 = np.trapezoid(dens * s**2, s, axis=1) / norm
    ml2 = np.trapezoid(dens * s**4, s, axis=1) / norm
    wk = w[ok] / w[ok].sum()
    mean = np.array([np.sum(wk * inc[ok]), np.sum(wk * beta[ok]), np.sum(wk * ml1)])
    second = np.array([np.sum(wk * inc[ok] ** 2), np.sum(wk * beta[ok] ** 2), np.sum(wk * ml2)])
    return mean, np.sqrt(np.maximum(second - mean**2, 0.0))


def moment_change(post, other):
    """Max over (mean, sd) of |post - other| per parameter, in units of ``post``'s sd."""
    m0, s0 = moments(post)
    m1, s1 = moments(other)
    change = np.maximum(np.abs(m1 - m0), np.abs(s1 - s0)) / s0
    return dict(zip(PARAMETERS, change.tolist()))


def zoomed_grid(post, priors, lo_hi, settings):
    """A dense grid over the posterior mass of ``post`` (its ``tail`` quantiles in inclination
    and u, widened by half their width), inside the inclination range ``lo_hi`` [deg]."""
    w = post.weights.reshape(post.grid.shape)
    (i0, i1), (u0, u1) = post.grid.bounds
    d_i, d_u = post.grid.steps
    ranges = []
    for marg, centres, step in ((w.sum(1), post.grid.inclination, d_i), (w.sum(0), post.grid.beta_frac, d_u)):
        cdf = np.cumsum(marg) / marg.sum()
        lo = centres[np.searchsorted(cdf, settings.tail)] - step / 2
        hi = centres[min(np.searchsorted(cdf, 1 - settings.tail), centres.size - 1)] + step / 2
        pad = 0.5 * (hi - lo)
        ranges.append((lo - pad, hi + pad))
    (a, b), (c, d) = ranges
    box_i = (max(a, lo_hi[0]), min(b, lo_hi[1]))
    return Grid.box(priors, box_i, (c, d), settings.n_inclination, settings.n_beta)


def _split(post, nodes, settings, lo, hi):
    """Midpoint indices of the node intervals holding more than ``mass_split`` of the posterior."""
    w = post.weights.reshape(post.grid.shape).sum(1)
    which = np.clip(np.searchsorted(nodes.inclination, post.grid.inclination) - 1, 0, nodes.index.size - 2)
    mass = np.bincount(which, weights=w, minlength=nodes.index.size - 1)
    heavy = set(np.flatnonzero(mass > settings.mass_split).tolist()) | {int(np.argmax(mass))}
    new = []
    for k in sorted(heavy):
        i0, i1 = int(nodes.index[k]), int(nodes.index[k + 1])
        if i1 - i0 >= 2:
            new.append((i0 + i1) // 2)
    return [k for k in new if lo <= k <= hi]


def _range_edge_mass(post, nodes, priors):
    """Posterior mass in the outer inclination cells of ``post`` at node-range edges inside the prior."""
    w = post.weights.reshape(post.grid.shape).sum(1)
    (i0, i1), _ = post.grid.bounds
    tol = 1e-6
    lo_open = i0 <= nodes.inclination[0] + tol and nodes.inclination[0] > priors.inclination_min + tol
    hi_open = i1 >= nodes.inclination[-1] - tol and nodes.inclination[-1] < 90.0 - tol
    return float(w[0] * lo_open), float(w[-1] * hi_open)


def exact_posterior(terms, priors, likelihood, inclination_range=None, settings=ExactSettings(), cache=None,
                    workers=2, scheduler=None, progress=True, rng=None):
    """The JAM posterior of (inclination, beta_z, M/L) from JAM's linear decomposition.

    Parameters
    ----------
    terms : LinearTerms
        The galaxy and data positions (:class:`fastjam.exact.LinearTerms`).
    priors : Priors
    likelihood : Likelihood
        NumPy arrays, no fractional model error (JAM is the model).
    inclination_range : tuple of float, optional
        (min, max) inclination [deg] to start from (e.g. around an emulator posterior); it is
        extended when the posterior reaches its edge. Default: the whole prior.
    settings : ExactSettings
    cache : GridCache, optional
        :func:`fastjam.exact.node_cache`.
    workers, scheduler, progress
        See :func:`fastjam.exact.compute_nodes`.
    rng : numpy.random.Generator, optional

    Returns
    -------
    ExactPosterior
    """
    t0 = time.perf_counter()
    rng = rng if rng is not None else np.random.default_rng(0)
    i_min = priors.inclination_min
    lo_i, hi_i = (i_min, 90.0) if inclination_range is None else inclination_range
    if not (np.isfinite(lo_i) and np.isfinite(hi_i) and lo_i < hi_i and hi_i > i_min and lo_i <= 90):
        raise ValueError(f"inclination range ({lo_i}, {hi_i}) deg must be increasing and overlap the prior "
                         f"[{i_min:.4g}, 90] deg")
    lo = terms.index_of_inclination(max(lo_i, i_min), "below")
    hi = terms.index_of_inclination(min(hi_i, 90.0), "above")
    with Workers(workers, scheduler) as pool:
        return _refine(terms, priors, likelihood, settings, dict(cache=cache, pool=pool, progress=progress), lo, hi,
                       rng, t0)


def _refine(terms, priors, likelihood, settings, kw, lo, hi, rng, t0):
    """The adaptive loop of :func:`exact_posterior` (``kw``: the node options)."""
    i_min = priors.inclination_min
    nodes, info = compute_nodes(terms, np.linspace(lo, hi, settings.n_start).round().astype(int), **kw)
    counts = dict(n_computed=info["n_computed"], n_cached=info["n_cached"])
    levels, prev, grid, change, converged = [], None, None, None, False
    while True:
        span = (max(nodes.inclination[0], i_min), min(nodes.inclination[-1], 90.0))
        if grid is None:
            grid = Grid.box(priors, span, (0.0, 1.0), settings.n_inclination, settings.n_beta)
        post, unphysical = posterior_on_grid(nodes, priors, likelihood, grid, settings.n_ml)
        edge_lo, edge_hi = _range_edge_mass(post, nodes, priors)
        new, extend = [], max(edge_lo, edge_hi) > MAX_EDGE_MASS
        if extend:
            width = hi - lo
            lo, hi = (max(lo - width // 2, 0) if edge_lo > MAX_EDGE_MASS else lo,
                      min(hi + width // 2, 2**DEPTH) if edge_hi > MAX_EDGE_MASS else hi)
            log.info("exact JAM: posterior at the edge of the node range; extending it")
            new = np.linspace(lo, hi, settings.n_start).round().astype(int).tolist()
            grid = None
        else:
            if prev is not None:
                change = moment_change(post, posterior_on_grid(prev, priors, likelihood, grid, settings.n_ml)[0])
            levels.append(dict(n_nodes=int(nodes.index.size), change=change))
            log.info("exact JAM: %d nodes, moment change %s", nodes.index.size, change)
            if change is not None and max(change.values()) < settings.tol:
                converged = True
                break
            new = _split(post, nodes, settings, lo, hi)
            grid = zoomed_grid(post, priors, span, settings)
        new = [k for k in new if k not in set(nodes.index.tolist())]
        if not new or nodes.index.size + len(new) > settings.max_nodes:
            log.warning("exact JAM stopped before its tolerance %.3g sigma: %s", settings.tol,
                        "no interval left to split" if not new else f"max_nodes = {settings.max_nodes} reached")
            break
        prev = None if extend else nodes
        nodes, info = compute_nodes(terms, new, known=nodes, **kw)
        counts = {k: counts[k] + info[k] for k in counts}
    return _finish(post, nodes, priors, likelihood, grid, settings, rng, dict(
        counts, n_nodes=int(nodes.index.size), n_jam_calls=2 * counts["n_computed"], levels=levels,
        interpolation_error=change, converged=converged, unphysical_fraction=unphysical,
        node_inclinations=nodes.inclination.tolist()), t0)


def _finish(post, nodes, priors, likelihood, grid, settings, rng, diagnostics, t0):
    """Final zoom with an edge check, draws and the quadrature error."""
    span = (max(nodes.inclination[0], priors.inclination_min), min(nodes.inclination[-1], 90.0))
    grid = zoomed_grid(post, priors, span, settings)
    post, unphysical = posterior_on_grid(nodes, priors, likelihood, grid, settings.n_ml)
    for _ in range(4):
        if post.edge_mass() <= MAX_EDGE_MASS:
            break
        (i0, i1), (u0, u1) = grid.bounds
        wi, wu = i1 - i0, u1 - u0
        grid = Grid.box(priors, (max(i0 - wi / 2, span[0]), min(i1 + wi / 2, span[1])), (u0 - wu / 2, u1 + wu / 2),
                        settings.n_inclination, settings.n_beta)
        post, unphysical = posterior_on_grid(nodes, priors, likelihood, grid, settings.n_ml)
    draws = post.sample(settings.n_draws, rng)
    coarse = coarsened(priors, likelihood, grid, model_grid(nodes, priors, grid))
    cd = coarse.sample(settings.n_draws, rng)
    quad = grid_error(np.column_stack([draws[p] for p in PARAMETERS]), np.column_stack([cd[p] for p in PARAMETERS]))
    diagnostics.update(edge_mass=post.edge_mass(), quadrature_error=quad, unphysical_fraction=unphysical,
                       jam_seconds_per_call=0.5 * float(np.median([nodes.seconds[k] for k in nodes.index.tolist()])),
                       box=dict(zip(("inclination", "beta_frac"), grid.bounds)),
                       wall_seconds=time.perf_counter() - t0)
    best = {k: post.best[k] for k in PARAMETERS}
    return ExactPosterior(draws, post, nodes, best, post.best_model, diagnostics)

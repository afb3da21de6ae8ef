"""The JAM reference's quadrature: a posterior on a grid over (inclination, beta_z), with M/L
integrated analytically at each node.

The grid is a midpoint grid over (inclination, :math:`u`), where :math:`u \\in (0, 1)` is the
fraction of the allowed :math:`\\beta_z` range at that inclination,
:math:`\\beta_z = \\beta_{\\min} + [\\beta_{\\max}(i) - \\beta_{\\min}]\\, u`. In these
coordinates the prior is :math:`p(i)\\, p(M/L)` (the Jacobian
:math:`\\beta_{\\max}(i) - \\beta_{\\min}` cancels the conditional prior of :math:`\\beta_z`),
so equal cells carry equal prior volume up to :math:`p(i)`. Each node needs one model at
:math:`M/L = 1`; since :math:`V_{\\rm rms} \\propto \\sqrt{M/L}` and the variance of the
likelihood has no model-dependent term for JAM, the posterior in M/L at a node is
integrated exactly (trapezoid rule on a fine grid in :math:`s = \\sqrt{M/L}` around the
conditional peak, inside the prior). Pure NumPy: the jampy calls are in
:mod:`fastjam.compare.reference`.
"""
from dataclasses import dataclass, field

import numpy as np

from ..model import PARAMETERS


@dataclass(frozen=True)
class Grid:
    """Midpoint grid over inclination and the beta_z fraction u, inside the prior support.

    Attributes
    ----------
    inclination : ndarray, shape (ni,)
        Cell centres in degrees, inside [i_min, 90].
    beta_frac : ndarray, shape (nb,)
        Cell centres of u in (0, 1).
    open_sides : tuple of bool
        (low inclination, high inclination, low u, high u): whether that edge of the grid
        lies inside the prior support (a zoomed box) rather than on its boundary. Posterior
        mass in the cells along an open edge means the box cut the posterior
        (:meth:`GridPosterior.edge_mass`).
    """

    inclination: np.ndarray
    beta_frac: np.ndarray
    open_sides: tuple = (False, False, False, False)

    @classmethod
    def box(cls, priors, inclination_range, frac_range, ni, nb):
        """``ni`` x ``nb`` equal cells over a box in (inclination [deg], u), clipped to the prior support."""
        ni, nb = check_grid_size((ni, nb))
        i_min = priors.inclination_min
        i0, i1 = max(float(inclination_range[0]), i_min), min(float(inclination_range[1]), 90.0)
        u0, u1 = max(float(frac_range[0]), 0.0), min(float(frac_range[1]), 1.0)
        if not (i1 > i0 and u1 > u0):
            raise ValueError(f"empty grid box: inclination [{i0:.4g}, {i1:.4g}] deg, u [{u0:.4g}, {u1:.4g}]")
        inc = i0 + (i1 - i0) * (np.arange(ni) + 0.5) / ni
        frac = u0 + (u1 - u0) * (np.arange(nb) + 0.5) / nb
        tol = 1e-9
        return cls(inc, frac, (i0 > i_min + tol, i1 < 90.0 - tol, u0 > tol, u1 < 1.0 - tol))

    @classmethod
    def over_prior(cls, priors, ni, nb):
        """``ni`` x ``nb`` equal cells covering the prior support of ``priors``."""
        return cls.box(priors, (priors.inclination_min, 90.0), (0.0, 1.0), ni, nb)

    @classmethod
    def around(cls, priors, inclination, beta_z, ni, nb, tail=5e-4, pad=0.5):
        """A box around posterior samples: their ``tail`` to ``1 - tail`` quantile range in
        (inclination, u), widened by ``pad`` times its width on each side, clipped to the prior.

        Parameters
        ----------
        priors : Priors
        inclination, beta_z : ndarray, shape (N,)
            Samples (e.g. of the emulator posterior) [deg] and anisotropy.
        ni, nb : int
        tail : float
            Quantile cut on each side.
        pad : float
            Margin on each side, in units of the quantile range.
        """
        inclination = np.asarray(inclination, dtype=float).ravel()
        if inclination.size < 2 or not (0 <= tail < 0.5 and pad >= 0):
            raise ValueError(f"need >= 2 samples, 0 <= tail < 0.5 and pad >= 0, got {inclination.size}, {tail}, {pad}")
        frac = (np.asarray(beta_z, dtype=float).ravel() - priors.beta_z_min) / beta_width(priors, inclination)
        ranges = []
        for v in (inclination, frac):
            lo, hi = np.quantile(v, [tail, 1 - tail])
            w = max(hi - lo, 1e-6)
            ranges.append((lo - pad * w, hi + pad * w))
        return cls.box(priors, ranges[0], ranges[1], ni, nb)

    @property
    def shape(self):
        return self.inclination.size, self.beta_frac.size

    @property
    def size(self):
        return self.inclination.size * self.beta_frac.size

    @property
    def steps(self):
        """Cell widths (degrees, fraction)."""
        return float(self.inclination[1] - self.inclination[0]), float(self.beta_frac[1] - self.beta_frac[0])

    @property
    def bounds(self):
        """Box edges: (i_lo, i_hi) [deg], (u_lo, u_hi)."""
        d_i, d_u = self.steps
        return ((float(self.inclination[0] - d_i / 2), float(self.inclination[-1] + d_i / 2)),
                (float(self.beta_frac[0] - d_u / 2), float(self.beta_frac[-1] + d_u / 2)))

    def nodes(self, priors):
        """Node coordinates, flattened with the inclination index first (node = a * nb + b).

        Returns
        -------
        inclination, beta_z : ndarray, shape (ni * nb,)
            Degrees and anisotropy.
        """
        inc, frac = np.meshgrid(self.inclination, self.beta_frac, indexing="ij")
        return inc.ravel(), beta_from_fraction(priors, inc.ravel(), frac.ravel())


def check_grid_size(size):
    """``size`` as two integers (n_inclination, n_beta), each at least 3."""
    try:
        ni, nb = (int(v) for v in size)
    except (TypeError, ValueError):
        raise ValueError(f"grid size must be two integers (n_inclination, n_beta), got {size!r}") from None
    if ni < 3 or nb < 3:
        raise ValueError(f"grid size must be at least 3 x 3, got {ni} x {nb}")
    return ni, nb


def beta_width(priors, inclination):
    """Width of the allowed beta_z range at ``inclination`` [deg]: beta_max(i) - beta_min."""
    return priors.beta_max(np.asarray(inclination, dtype=float), np) - priors.beta_z_min


def beta_from_fraction(priors, inclination, frac):
    """beta_z at fraction ``frac`` in (0, 1) of its allowed range at ``inclination`` [deg]."""
    return priors.beta_z_min + beta_width(priors, inclination) * np.asarray(frac, dtype=float)


@dataclass
class GridPosterior:
    """The posterior on a :class:`Grid`, with M/L integrated at each node.

    Attributes
    ----------
    grid : Grid
    priors : Priors
    log_mass : ndarray, shape (n_nodes,)
        Normalised log posterior mass of each cell (``-inf`` for failed nodes).
    s_grid : ndarray, shape (n_nodes, k)
        Abscissae in s = sqrt(M/L) of each node's conditional.
    log_cond : ndarray, shape (n_nodes, k)
        Unnormalised log conditional density of s at each node.
    best : dict
        Highest posterior density in the physical parameters: inclination, beta_z, ml, node.
    best_model : ndarray, shape (p,)
        Model V_RMS [km/s] at ``best``.
    """

    grid: Grid
    priors: object
    log_mass: np.ndarray
    s_grid: np.ndarray = field(repr=False)
    log_cond: np.ndarray = field(repr=False)
    best: dict
    best_model: np.ndarray = field(repr=False)

    @property
    def weights(self):
        """Normalised posterior mass of each node."""
        return np.exp(self.log_mass)

    def edge_mass(self):
        """Posterior mass in the cells along the open edges of a zoomed grid (0 for a full grid)."""
        w = self.weights.reshape(self.grid.shape)
        lo_i, hi_i, lo_u, hi_u = self.grid.open_sides
        edge = np.zeros(w.shape, bool)
        edge[0, :] |= lo_i
        edge[-1, :] |= hi_i
        edge[:, 0] |= lo_u
        edge[:, -1] |= hi_u
        return float(w[edge].sum())

    @property
    def kish_ess(self):
        """Effective number of weighted nodes, (sum w)^2 / sum w^2."""
        w = self.weights
        return float(w.sum() ** 2 / np.sum(w**2))

    def sample(self, n, rng):
        """Draw ``n`` posterior samples.

        A node is drawn by its mass, (inclination, u) uniformly inside its cell (the
        midpoint rule's piecewise-constant density), M/L from the node's conditional by
        inverse transform.

        Returns
        -------
        dict
            ``inclination`` [deg], ``beta_z``, ``ml`` [Msun/Lsun], ``node``; arrays of shape (n,).
        """
        n = int(n)
        if n < 1:
            raise ValueError(f"number of draws must be >= 1, got {n}")
        nb = self.grid.beta_frac.size
        node = rng.choice(self.log_mass.size, size=n, p=self.weights / self.weights.sum())
        d_inc, d_frac = self.grid.steps
        # clipping is a no-op for a grid inside the support; a coarsened grid's edge cells reach beyond it
        inc = np.clip(self.grid.inclination[node // nb] + d_inc * (rng.random(n) - 0.5),
                      self.priors.inclination_min, 90.0)
        frac = np.clip(self.grid.beta_frac[node % nb] + d_frac * (rng.random(n) - 0.5), 0.0, 1.0)
        s = np.empty(n)
        u = rng.random(n)
        for k in np.unique(node):
            pick = node == k
            s[pick] = _inverse_cdf(self.s_grid[k], self.log_cond[k], u[pick])
        return dict(inclination=inc, beta_z=beta_from_fraction(self.priors, inc, frac), ml=s**2, node=node)


def coarsened(priors, likelihood, grid, m1):
    """The grid posterior from every other node in each direction (cells twice as wide), or None.

    Comparing its summaries with the full grid's measures the quadrature error of the grid
    (:func:`grid_error`). Needs at least 6 x 6 nodes.
    """
    ni, nb = grid.shape
    if ni < 6 or nb < 6:
        return None
    sub = Grid(grid.inclination[::2], grid.beta_frac[::2], grid.open_sides)
    m1 = np.asarray(m1, dtype=float).reshape(ni, nb, -1)[::2, ::2].reshape(sub.size, -1)
    return grid_posterior(priors, likelihood, sub, m1)


def grid_error(fine, coarse):
    """Quadrature error of the grid's median and sigma per parameter: the change when the cells
    are made twice as wide, |coarse - fine| (an upper bound for an O(h^2) rule, whose error at
    the fine resolution is a quarter of that)."""
    out = {}
    for k, name in enumerate(PARAMETERS):
        f = np.percentile(fine[:, k], [16, 50, 84])
        c = np.percentile(coarse[:, k], [16, 50, 84])
        out[name] = dict(median=float(abs(c[1] - f[1])), sigma=float(abs((c[2] - c[0]) - (f[2] - f[0])) / 2))
    return out


def _inverse_cdf(x, log_density, u):
    """Inverse transform on a tabulated density (trapezoid CDF, linear in between)."""
    dens = np.exp(log_density - np.max(log_density))
    cdf = np.concatenate([[0.0], np.cumsum(0.5 * (dens[1:] + dens[:-1]) * np.diff(x))])
    return np.interp(u * cdf[-1], cdf, x)


def grid_posterior(priors, likelihood, grid, m1, n_ml=401, half_width=10.0, chunk=64):
    """Posterior on a grid from the model at M/L = 1 at every node.

    At each node the model is :math:`\\sqrt{M/L}\\, m_1`; the M/L integral is done with the
    trapezoid rule in :math:`s = \\sqrt{M/L}` on ``n_ml`` points over ``half_width``
    conditional standard deviations around the peak of the likelihood in s (clipped to the
    prior), including the prior of M/L and the Jacobian :math:`dM/L = 2s\\,ds`.

    Parameters
    ----------
    priors : Priors
    likelihood : Likelihood
        NumPy arrays; ``frac_model_err`` must be zero (the variance must not depend on the model).
    grid : Grid
    m1 : ndarray, shape (n_nodes, p)
        Model V_RMS [km/s] at M/L = 1 at each node (rows of NaN for failed nodes).
    n_ml : int
        Points of each 1-D M/L integral.
    half_width : float
        Half-width of the integration window in conditional standard deviations of s.
    chunk : int
        Nodes per vectorised block.

    Returns
    -------
    GridPosterior
    """
    m1 = np.asarray(m1, dtype=float)
    if m1.ndim != 2 or m1.shape[0] != grid.size:
        raise ValueError(f"m1 must have shape ({grid.size}, p), got {m1.shape}")
    if np.any(np.asarray(likelihood.frac_model_err) != 0) or getattr(likelihood, "coherent_sigma", 0):
        raise ValueError("the grid's analytic M/L integral needs a likelihood without a fractional model error "
                         "or a coherent error")
    if int(n_ml) < 3 or not half_width > 0:
        raise ValueError(f"n_ml must be >= 3 and half_width > 0, got {n_ml}, {half_width}")
    inc, beta = grid.nodes(priors)
    ok = np.all(np.isfinite(m1), axis=1)
    if not np.any(ok):
        raise ValueError("no grid node has a finite model")
    s_grid, log_w = _ml_abscissae(priors, likelihood, m1, ok, int(n_ml), float(half_width))
    # the Gaussian log-likelihood of s * m1 is quadratic in s: -0.5 (dd - 2 s dm + s^2 mm) + const
    var = np.asarray(likelihood.vrms_err, dtype=float) ** 2 + float(likelihood.systematic) ** 2
    d = np.asarray(likelihood.vrms, dtype=float)
    m1w = np.where(ok[:, None], m1, 0.0) / var
    dm, mm = m1w @ d, np.sum(m1w * np.where(ok[:, None], m1, 0.0), axis=1)
    const = -0.5 * np.sum(d**2 / var + np.log(2 * np.pi * var))
    log_cond = np.full(s_grid.shape, -np.inf)
    log_phys = np.full(s_grid.shape, -np.inf)  # log posterior density in (i, beta_z, ml)
    for start in range(0, grid.size, chunk):
        sl = slice(start, start + chunk)
        good = ok[sl]
        if not np.any(good):
            continue
        s = s_grid[sl][good]
        i_, b_ = inc[sl][good, None], beta[sl][good, None]
        lp = priors.log_prob(i_ * np.ones_like(s), b_ * np.ones_like(s), s**2)
        ll = const + s * dm[sl][good, None] - 0.5 * s**2 * mm[sl][good, None]
        rows = np.flatnonzero(good) + start
        log_phys[rows] = lp + ll
        log_cond[rows] = lp + ll + np.log(2 * s)
    log_node = _logsumexp(log_cond + log_w, axis=1) + np.log(beta_width(priors, inc))
    log_node[~ok] = -np.inf
    log_mass = log_node - _logsumexp(log_node)
    k, j = np.unravel_index(np.argmax(np.where(np.isfinite(log_phys), log_phys, -np.inf)), log_phys.shape)
    s_best = s_grid[k, j]
    best = dict(inclination=float(inc[k]), beta_z=float(beta[k]), ml=float(s_best**2), node=int(k))
    return GridPosterior(grid, priors, log_mass, s_grid, log_cond, best, s_best * m1[k])


def _ml_abscissae(priors, likelihood, m1, ok, n_ml, half_width):
    """Integration points in s = sqrt(M/L) per node and log trapezoid weights."""
    var = np.asarray(likelihood.vrms_err, dtype=float) ** 2 + float(likelihood.systematic) ** 2
    d = np.asarray(likelihood.vrms, dtype=float)
    m = np.where(ok[:, None], m1, 0.0)
    c = np.sum(m**2 / var, axis=1)
    b = np.sum(d * m / var, axis=1)
    s_lo, s_hi = np.sqrt(priors.ml_range)
    with np.errstate(divide="ignore", invalid="ignore"):
        peak = np.where(c > 0, b / c, 0.5 * (s_lo + s_hi))
        sd = np.where(c > 0, 1 / np.sqrt(c), np.inf)
    centre = np.clip(peak, s_lo, s_hi)
    lo = np.maximum(s_lo, centre - half_width * sd)
    hi = np.minimum(s_hi, centre + half_width * sd)
    t = np.linspace(0.0, 1.0, n_ml)
    s = lo[:, None] + (hi - lo)[:, None] * t
    w = np.full(n_ml, 1.0)
    w[[0, -1]] = 0.5
    log_w = np.log(w) + np.log((hi - lo) / (n_ml - 1))[:, None]
    return s, log_w


def _logsumexp(a, axis=None):
    from scipy.special import logsumexp

    return logsumexp(a, axis=axis)


__all__ = ["Grid", "GridPosterior", "beta_from_fraction", "beta_width", "check_grid_size", "coarsened", "grid_error",
           "grid_posterior"]

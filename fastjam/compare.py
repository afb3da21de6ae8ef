"""Emulator against JAM: the same model fitted twice, and how the two posteriors differ.

The emulator posterior is a normal :func:`fastjam.fit.fit`. The reference runs jampy in the
likelihood with the *same* priors (the emulator's, clipped to its training domain), the same
bins (after the emulator fit's field cut and outlier clipping) and the same Gaussian
likelihood without the emulator's model-error term. Two reference methods:

``"grid"``
    A midpoint grid over (inclination, :math:`u`), where :math:`u \\in (0, 1)` is the fraction
    of the allowed :math:`\\beta_z` range at that inclination,
    :math:`\\beta_z = \\beta_{\\min} + [\\beta_{\\max}(i) - \\beta_{\\min}]\\, u`. In these
    coordinates the prior is :math:`p(i)\\, p(M/L)` (the Jacobian
    :math:`\\beta_{\\max}(i) - \\beta_{\\min}` cancels the conditional prior of
    :math:`\\beta_z`), so equal cells carry equal prior volume up to :math:`p(i)`. Each node is
    one jampy call at :math:`M/L = 1`; since :math:`V_{\\rm rms} \\propto \\sqrt{M/L}` and the
    variance of the likelihood has no model-dependent term for JAM, the posterior in M/L at a
    node is integrated exactly (trapezoid rule on a fine grid in :math:`s = \\sqrt{M/L}`
    around the conditional peak, inside the prior). Nodes run in parallel with Dask and are
    cached in ``out/jam_grid/`` as they finish.

``"emcee"``
    emcee with jampy in the likelihood (:class:`JAMLogDensity`, picklable), walkers
    evaluated in parallel by a Dask pool, chain checkpointed in ``out/jam_chain.h5``.

The report (:class:`ComparisonResult`) gives per parameter the medians and 68% intervals,
the shift of the medians in units of the JAM posterior sigma with its Monte Carlo error,
the width ratio, a two-sample energy distance of the joint posteriors with its null
expectation, and the speed of both sides measured in the same run.
"""
import hashlib
import json
import logging
import math
import os
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .fit import _atomic_text
from .jam import DEFAULT_SETTINGS, jam_vrms
from .model import PARAMETERS, Likelihood
from .physics.geometry import qintr_from_inclination

log = logging.getLogger(__name__)

JAM_METHODS = ("grid", "emcee", "exact")
GRID_BOXES = ("emulator", "prior")

#: The project's accuracy and speed goals for the emulator posterior.
GOALS = dict(max_median_shift_sigma=0.2, max_width_deviation=0.10, min_speedup_per_effective_sample=500.0)

#: Standard error of a median in units of sigma / sqrt(ESS) (Gaussian posterior).
MEDIAN_MC_FACTOR = math.sqrt(math.pi / 2)
#: Relative standard error of a 16-84 percentile width times sqrt(ESS) (Gaussian posterior).
WIDTH_MC_FACTOR = 0.964


# --------------------------------------------------------------------------- the grid


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
        ni, nb = _grid_size((ni, nb))
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


def _grid_size(size):
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


# --------------------------------------------------------------------------- JAM on workers


class JAMForward:
    """jampy's V_RMS for one galaxy at fixed data positions; picklable, runs on workers.

    Parameters
    ----------
    galaxy : Galaxy
    x, y : ndarray, shape (p,)
        Positions in arcsec.
    settings : JAMSettings
    """

    def __init__(self, galaxy, x, y, settings=DEFAULT_SETTINGS):
        self.mge = galaxy.mge
        self.distance, self.sigma_psf, self.pixsize = galaxy.distance, galaxy.sigma_psf, galaxy.pixsize
        self.x, self.y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
        self.settings = settings

    def vrms(self, inclination, beta_z, ml):
        """Model V_RMS [km/s] at the data positions."""
        return jam_vrms(self.mge, inclination, beta_z, ml, self.distance, self.sigma_psf, self.pixsize,
                        self.x, self.y, self.settings)

    def node(self, index, inclination, beta_z):
        """One grid node at M/L = 1: dict with ``index``, ``vrms`` (or None), ``seconds``, ``error``."""
        t0 = time.perf_counter()
        out = dict(index=int(index), vrms=None, error=None)
        try:
            v = self.vrms(inclination, beta_z, 1.0)
            if not np.all(np.isfinite(v)):
                raise FloatingPointError(f"{np.sum(~np.isfinite(v))} non-finite values")
            out["vrms"] = v
        except Exception as exc:  # recorded; the node is left out of the posterior
            out["error"] = f"{type(exc).__name__}: {exc}"[:500]
        out["seconds"] = time.perf_counter() - t0
        return out

    def fingerprint(self):
        """Hash of everything jampy sees except the parameters."""
        h = hashlib.sha256()
        for a in (self.mge.surf, self.mge.sigma, self.mge.qobs, self.x, self.y,
                  [self.distance, self.sigma_psf, self.pixsize]):
            h.update(np.ascontiguousarray(a, dtype=np.float64).tobytes())
        h.update(json.dumps(self.settings.as_dict(), sort_keys=True).encode())
        return h.hexdigest()


def _run_node(forward, index, inclination, beta_z):
    return forward.node(index, inclination, beta_z)


class JAMLogDensity:
    """Log posterior on the unconstrained theta with jampy in the likelihood (picklable).

    Parameters
    ----------
    priors : Priors
    likelihood : Likelihood
        NumPy arrays.
    forward : JAMForward
    """

    def __init__(self, priors, likelihood, forward):
        self.priors, self.likelihood, self.forward = priors, likelihood, forward

    def __call__(self, theta):
        theta = np.asarray(theta, dtype=float)
        if not np.all(np.isfinite(theta)):
            return -np.inf
        inc, beta, ml, log_jac = self.priors.transform(theta)
        try:
            model = self.forward.vrms(float(inc), float(beta), float(ml))
        except Exception as exc:  # a failed JAM call rejects the proposal
            log.warning("jampy failed at i = %.4g, beta_z = %.4g, M/L = %.4g: %s", inc, beta, ml, exc)
            return -np.inf
        value = self.priors.log_prob(inc, beta, ml) + log_jac + self.likelihood.log_like(model)
        return float(value) if np.isfinite(value) else -np.inf


class DaskPool:
    """A Dask client's ``map`` in the form emcee expects of a pool."""

    def __init__(self, client):
        self.client = client

    def map(self, fn, iterable):
        futures = self.client.map(fn, list(iterable), pure=False)
        return self.client.gather(futures)


@contextmanager
def dask_client(workers=2, scheduler=None):
    """A Dask client on a local cluster of ``workers`` processes or at ``scheduler``; None when serial.

    Local workers get :data:`fastjam.simulate.WORKER_ENVIRON` (Dask's default
    ``MALLOC_TRIM_THRESHOLD_`` makes jampy 4-5x slower).
    """
    if scheduler is None and workers == 0:
        yield None
        return
    import dask
    from dask.distributed import Client, LocalCluster

    from .simulate import WORKER_ENVIRON

    if scheduler is not None:
        client, cluster = Client(scheduler), None
    else:
        with dask.config.set({"distributed.nanny.pre-spawn-environ": WORKER_ENVIRON}):
            cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=":0",
                                   silence_logs=logging.WARNING)
        client = Client(cluster)
    try:
        yield client
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


def _n_workers(client):
    return 1 if client is None else max(len(client.scheduler_info()["workers"]), 1)


class GridCache:
    """Finished grid nodes on disk, one ``node_NNNNNN.npz`` each, written atomically.

    ``spec.json`` records what the nodes were computed for; a directory made for another
    galaxy, data positions, JAM settings or grid is an error, never silently mixed.
    """

    def __init__(self, directory, spec):
        self.dir = Path(directory)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.key = hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()
        spec_path = self.dir / "spec.json"
        if spec_path.exists():
            old = json.loads(spec_path.read_text())
            if old.get("key") != self.key:
                raise ValueError(f"{self.dir} holds JAM grid nodes of another galaxy, data positions, JAM settings "
                                 "or grid (size or box): use another output directory or delete it")
        else:
            _atomic_text(spec_path, json.dumps(dict(spec, key=self.key), indent=2))

    def path(self, index):
        return self.dir / f"node_{index:06d}.npz"

    def load(self, index):
        """The cached node (dict like :meth:`JAMForward.node`) or None."""
        path = self.path(index)
        if not path.exists():
            return None
        try:
            with np.load(path) as f:
                if str(f["key"]) != self.key:
                    return None
                return dict(index=index, vrms=f["vrms"], seconds=float(f["seconds"]), error=None)
        except (OSError, ValueError, KeyError) as exc:
            log.warning("unreadable cached node %s (%s): recomputing it", path, exc)
            return None

    def save(self, res):
        path = self.path(res["index"])
        tmp = path.with_name(f"{path.name}.tmp{os.getpid()}")
        with open(tmp, "wb") as fh:
            np.savez(fh, vrms=res["vrms"], seconds=res["seconds"], key=self.key)
        os.replace(tmp, path)


def run_grid(forward, inclination, beta_z, cache=None, workers=2, scheduler=None, progress=True):
    """jampy at M/L = 1 at every node, in parallel, resuming from ``cache``.

    Parameters
    ----------
    forward : JAMForward
    inclination, beta_z : ndarray, shape (n,)
        Node coordinates.
    cache : GridCache, optional
    workers : int
        Local Dask workers; 0 runs serially in this process.
    scheduler : str, optional
        Address of an existing Dask scheduler (overrides ``workers``).
    progress : bool

    Returns
    -------
    m1 : ndarray, shape (n, p)
        V_RMS [km/s] at M/L = 1 (NaN rows for failed nodes).
    info : dict
        n_nodes, n_cached, n_computed, n_failed, failed (indices), seconds (JAM seconds per
        node, NaN if failed), wall_seconds, workers.
    """
    from tqdm.auto import tqdm

    n = inclination.size
    m1 = np.full((n, forward.x.size), np.nan)
    seconds = np.full(n, np.nan)
    todo = []
    for k in range(n):
        res = cache.load(k) if cache is not None else None
        if res is None:
            todo.append(k)
        else:
            m1[k], seconds[k] = res["vrms"], res["seconds"]
    n_cached = n - len(todo)
    log.info("JAM grid: %d nodes, %d cached, %d to compute", n, n_cached, len(todo))
    failed = []
    t0 = time.perf_counter()
    bar = tqdm(total=n, initial=n_cached, disable=not progress, unit="node", desc="JAM grid", smoothing=0.05)
    try:
        with dask_client(workers if todo else 0, scheduler if todo else None) as client:
            n_workers = _n_workers(client)
            for res in _map_nodes(client, forward, todo, inclination, beta_z, 4 * n_workers):
                k = res["index"]
                seconds[k] = res["seconds"]
                if res["error"] is None:
                    m1[k] = res["vrms"]
                    if cache is not None:
                        cache.save(res)
                else:
                    failed.append(k)
                    log.warning("JAM failed at node %d (i = %.4g, beta_z = %.4g): %s", k, inclination[k],
                                beta_z[k], res["error"])
                bar.update(1)
    finally:
        bar.close()
    info = dict(n_nodes=n, n_cached=n_cached, n_computed=len(todo), n_failed=len(failed), failed=sorted(failed),
                seconds=seconds, wall_seconds=time.perf_counter() - t0, workers=n_workers)
    return m1, info


def _map_nodes(client, forward, todo, inclination, beta_z, in_flight):
    """Yield node results as they finish (serially when ``client`` is None)."""
    if client is None:
        for k in todo:
            yield forward.node(k, inclination[k], beta_z[k])
        return
    from dask.distributed import as_completed

    remote = client.scatter(forward, broadcast=True)
    queue = iter(todo)

    def submit(k):
        return client.submit(_run_node, remote, k, float(inclination[k]), float(beta_z[k]), pure=False)

    futures = as_completed([submit(k) for _, k in zip(range(in_flight), queue)])
    for fut in futures:
        res = fut.result()
        fut.release()
        k = next(queue, None)
        if k is not None:
            futures.add(submit(k))
        yield res


# --------------------------------------------------------------------------- statistics


def parameter_stats(values, ess):
    """Median, 16/84 percentiles, sigma (half the 16-84 width), ESS and MC error of the median.

    The MC error is :math:`\\sqrt{\\pi/2}\\,\\sigma/\\sqrt{\\rm ESS}`, the standard error of the
    median of ESS independent draws from a Gaussian.
    """
    values = np.asarray(values, dtype=float).ravel()
    if values.size < 2 or not np.all(np.isfinite(values)):
        raise ValueError("posterior samples must be at least two finite values")
    ess = float(ess)
    if not ess > 0:
        raise ValueError(f"effective sample size must be > 0, got {ess}")
    p16, med, p84 = np.percentile(values, [16, 50, 84])
    sigma = 0.5 * (p84 - p16)
    return dict(median=float(med), p16=float(p16), p84=float(p84), sigma=float(sigma), ess=ess,
                mc_error=float(MEDIAN_MC_FACTOR * sigma / math.sqrt(ess)))


def compare_parameter(emu, jam):
    """Shift of the medians in JAM sigma, the width ratio, and their MC errors.

    The errors add in quadrature the Monte Carlo errors of both sides (from their ESS) and,
    for a grid reference, its quadrature error (``jam["grid_error"]``, :func:`grid_error`).

    Parameters
    ----------
    emu, jam : dict
        :func:`parameter_stats` of the emulator and JAM posteriors.
    """
    sigma = jam["sigma"]
    if not sigma > 0:
        raise ValueError("the JAM posterior has zero width: the reference cannot measure a shift")
    ratio = emu["sigma"] / sigma
    grid_err = jam.get("grid_error") or dict(median=0.0, sigma=0.0)
    width_rel = math.sqrt((WIDTH_MC_FACTOR**2) * (1 / emu["ess"] + 1 / jam["ess"]) + (grid_err["sigma"] / sigma) ** 2)
    return dict(
        emulator=emu, jam=jam,
        shift_sigma=(emu["median"] - jam["median"]) / sigma,
        shift_mc_error=math.hypot(emu["mc_error"], jam["mc_error"], grid_err["median"]) / sigma,
        width_ratio=ratio,
        width_ratio_mc_error=ratio * width_rel,
    )


def energy_distance(a, b):
    """Energy distance (V-statistic) of two multivariate samples (n, d) and (m, d):
    :math:`2\\,E|X - Y| - E|X - X'| - E|Y - Y'|`."""
    from scipy.spatial.distance import cdist

    return float(2 * cdist(a, b).mean() - cdist(a, a).mean() - cdist(b, b).mean())


def energy_test(emulator, jam, rng, n_max=1000, repeats=5):
    """Energy distance of the joint posteriors and its null from halves of the JAM samples.

    Both samples are standardised by the JAM samples' mean and standard deviation per
    parameter and subsampled to ``n`` each, ``n = min(n_max, len(emulator), len(jam) // 2)``;
    the null draws two disjoint random halves of size ``n`` from the JAM samples,
    ``repeats`` times. With the V-statistic the null expectation is positive (about
    :math:`2\\,E|X - X'|/n`); an emulator posterior indistinguishable from JAM's gives a
    distance within the spread of the null.

    Parameters
    ----------
    emulator, jam : ndarray, shape (N, d)
    rng : numpy.random.Generator
    n_max, repeats : int

    Returns
    -------
    dict
        distance, null_mean, null_sd, null (list), excess ((distance - null_mean) / null_sd),
        n (per sample), repeats.
    """
    emulator, jam = np.asarray(emulator, dtype=float), np.asarray(jam, dtype=float)
    n = min(int(n_max), len(emulator), len(jam) // 2)
    if n < 10 or int(repeats) < 2:
        raise ValueError(f"energy test needs >= 10 samples per side and >= 2 repeats, got {n}, {repeats}")
    loc, scale = jam.mean(0), jam.std(0)
    if not np.all(scale > 0):
        raise ValueError("a parameter of the JAM samples has zero spread")
    a, b = (emulator - loc) / scale, (jam - loc) / scale
    distance = energy_distance(a[rng.choice(len(a), n, replace=False)], b[rng.choice(len(b), n, replace=False)])
    null = []
    for _ in range(int(repeats)):
        perm = rng.permutation(len(b))
        null.append(energy_distance(b[perm[:n]], b[perm[n:2 * n]]))
    null_mean, null_sd = float(np.mean(null)), float(np.std(null, ddof=1))
    return dict(distance=distance, null_mean=null_mean, null_sd=null_sd, null=null,
                excess=(distance - null_mean) / null_sd if null_sd > 0 else float("nan"), n=n, repeats=int(repeats))


# --------------------------------------------------------------------------- the two sides


@dataclass
class Side:
    """One posterior of the comparison.

    Attributes
    ----------
    samples : ndarray, shape (N, 3)
        (inclination [deg], beta_z, ml [Msun/Lsun]).
    idata : arviz.InferenceData
    ess : dict
        Effective sample size per parameter.
    seconds_per_call : float
        One likelihood evaluation [s].
    n_calls : int
        Likelihood evaluations behind the posterior (cached ones included).
    cost_seconds : float
        Seconds the posterior cost on one core: sampling time (emulator) or summed JAM time.
    wall_seconds : float
        Wall time of this run.
    best : dict
        Best-fit inclination, beta_z, ml.
    best_model : ndarray
        Model V_RMS [km/s] at ``best``.
    diagnostics : dict
    """

    samples: np.ndarray = field(repr=False)
    idata: object = field(repr=False)
    ess: dict
    seconds_per_call: float
    n_calls: int
    cost_seconds: float
    wall_seconds: float
    best: dict
    best_model: np.ndarray = field(repr=False)
    diagnostics: dict = field(default_factory=dict)

    @property
    def seconds_per_effective_sample(self):
        return self.cost_seconds / min(self.ess.values())

    def speed(self):
        return dict(seconds_per_call=self.seconds_per_call, n_calls=self.n_calls, cost_seconds=self.cost_seconds,
                    wall_seconds=self.wall_seconds, ess_min=min(self.ess.values()),
                    seconds_per_effective_sample=self.seconds_per_effective_sample)


def _samples(idata):
    return np.column_stack([np.asarray(idata.posterior[p]).ravel() for p in PARAMETERS])


def make_idata(inclination, beta_z, ml, galaxy, lp=None, **attrs):
    """arviz InferenceData (chains, draws) with the derived q_intr and log10 mass, as fit's."""
    from .fit import _arviz

    az = _arviz()
    inc, beta, ml = (np.atleast_2d(np.asarray(v, dtype=float)) for v in (inclination, beta_z, ml))
    post = dict(inclination=inc, beta_z=beta, ml=ml, q_intr=qintr_from_inclination(galaxy.q_obs, inc),
                log10_mass=np.log10(ml * galaxy.total_luminosity))
    stats = dict(lp=np.atleast_2d(lp)) if lp is not None else None
    return az.from_dict(posterior=post, sample_stats=stats, attrs=attrs)


def time_emulator_call(problem, theta, repeats=200):
    """Seconds per call of the emulator's jit-compiled log-density (one theta, after compilation)."""
    import jax

    f = jax.jit(problem.log_density)
    theta = jax.numpy.asarray(theta)
    f(theta).block_until_ready()
    t0 = time.perf_counter()
    for _ in range(repeats):
        f(theta).block_until_ready()
    return (time.perf_counter() - t0) / repeats


def run_emulator(cfg, emulator=None, backend=None, progress=True):
    """The emulator posterior (:func:`fastjam.fit.fit`) as a :class:`Side`, and the FitResult."""
    from .fit import fit

    t0 = time.perf_counter()
    res = fit(cfg, backend=backend, emulator=emulator, forward="emulator", progress=progress)
    wall = time.perf_counter() - t0
    ess = {p: res.summary[p]["ess_bulk"] for p in PARAMETERS}
    side = Side(_samples(res.idata), res.idata, ess, time_emulator_call(res.problem, res.best_theta),
                res.n_evaluations, res.seconds, wall, res.best_params, res.best_model(),
                dict(backend=res.backend, **res.diagnostics))
    return side, res


def _numpy_likelihood(problem):
    p = problem.x.size
    return Likelihood(np.asarray(problem.vrms, dtype=float), np.asarray(problem.vrms_err, dtype=float), np.zeros(p),
                      float(problem.likelihood.systematic))


#: Posterior mass along the open edges of a zoomed grid above which the box is reported as too small.
MAX_EDGE_MASS = 1e-3


def run_jam_grid(problem, settings, grid_size, out=None, workers=2, scheduler=None, progress=True, n_draws=20000,
                 rng=None, around=None):
    """The JAM reference posterior on a grid (see the module docstring) as a :class:`Side`.

    Parameters
    ----------
    problem : Problem
        The emulator fit's problem: its priors, bins and errors are used.
    settings : JAMSettings
    grid_size : tuple of int
        (n_inclination, n_beta).
    out : Path, optional
        Nodes are cached in ``out/jam_grid/``.
    workers, scheduler, progress : see :func:`run_grid`.
    n_draws : int
        Posterior draws from the grid.
    rng : numpy.random.Generator
    around : ndarray, shape (N, >=2), optional
        Samples of (inclination, beta_z) (the emulator posterior's) to zoom the grid on
        (:meth:`Grid.around`); default: the whole prior support. The JAM posterior mass in
        the cells along the box's open edges is reported (``edge_mass``); above
        :data:`MAX_EDGE_MASS` the box cut the JAM posterior and the whole prior should be used.
    """
    t0 = time.perf_counter()
    rng = rng if rng is not None else np.random.default_rng(0)
    priors = problem.priors
    forward = JAMForward(problem.galaxy, problem.x, problem.y, settings)
    box_path = Path(out) / "jam_grid" / "box.json" if out is not None else None
    box_meta = dict(forward=forward.fingerprint(), grid=list(_grid_size(grid_size)), jam_settings=settings.as_dict())
    reused = False
    if around is None:
        grid = Grid.over_prior(priors, *grid_size)
    else:
        grid = Grid.around(priors, around[:, 0], around[:, 1], *grid_size)
        core = Grid.around(priors, around[:, 0], around[:, 1], *grid_size, pad=0.0).bounds
        cached = _cached_box(box_path, box_meta, core) if box_path is not None else None
        if cached is not None:
            grid, reused = Grid.box(priors, *cached, *grid_size), True
            log.info("JAM grid: reusing the cached box, which contains the emulator posterior")
    inc, beta = grid.nodes(priors)
    cache = None
    if out is not None:
        spec = dict(forward=box_meta["forward"], grid=list(grid.shape),
                    nodes=hashlib.sha256(np.round(np.column_stack([inc, beta]), 12).tobytes()).hexdigest(),
                    jam_settings=settings.as_dict())
        cache = GridCache(Path(out) / "jam_grid", spec)
        if around is not None and not reused:
            _atomic_text(box_path, json.dumps(dict(box_meta, **dict(zip(("inclination", "beta_frac"), grid.bounds))),
                                              indent=2))
    m1, info = run_grid(forward, inc, beta, cache, workers, scheduler, progress)
    lik = _numpy_likelihood(problem)
    post = grid_posterior(priors, lik, grid, m1)
    draws = post.sample(n_draws, rng)
    coarse = coarsened(priors, lik, grid, m1)
    errors = None
    if coarse is not None:
        cd = coarse.sample(n_draws, rng)
        errors = grid_error(np.column_stack([draws[p] for p in PARAMETERS]),
                            np.column_stack([cd[p] for p in PARAMETERS]))
    kish = post.kish_ess
    edge = post.edge_mass()
    if edge > MAX_EDGE_MASS:
        log.warning("%.2g of the JAM posterior mass lies along the edge of the zoomed grid: the box around the "
                    "emulator posterior is too small (use the whole prior, --grid-box prior)", edge)
    ess_value = min(float(n_draws), kish)
    seconds = info.pop("seconds")
    idata = make_idata(draws["inclination"], draws["beta_z"], draws["ml"], problem.galaxy, method="grid",
                       forward="jam")
    diagnostics = dict(info, grid=list(grid.shape), steps=dict(zip(("inclination", "beta_frac"), grid.steps)),
                       box=dict(zip(("inclination", "beta_frac"), grid.bounds)), zoomed=around is not None,
                       box_reused=reused,
                       edge_mass=edge,
                       kish_ess=kish, grid_error=errors, n_draws=int(n_draws), ml_points=int(post.s_grid.shape[1]),
                       beta_width_at_median=float(beta_width(priors, np.median(draws["inclination"]))))
    if info["n_failed"]:
        log.warning("%d of %d JAM grid nodes failed and are left out of the reference", info["n_failed"], grid.size)
    return Side(np.column_stack([draws[p] for p in PARAMETERS]), idata, {p: ess_value for p in PARAMETERS},
                float(np.nanmedian(seconds)), grid.size, float(np.nansum(seconds)), time.perf_counter() - t0,
                {k: post.best[k] for k in PARAMETERS}, post.best_model, diagnostics)


def _cached_box(path, meta, core):
    """The box of a cached grid, ((i_lo, i_hi), (u_lo, u_hi)), when it was made for the same
    galaxy, data positions, JAM settings and grid size and contains ``core`` (the emulator
    posterior's quantile range); else None. A rerun, with another sampler or a retrained
    emulator whose posterior still lies inside the box, then reuses every cached node."""
    if not path.exists():
        return None
    try:
        old = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    if any(old.get(k) != v for k, v in meta.items()):
        return None
    (i0, i1), (u0, u1) = old["inclination"], old["beta_frac"]
    (c0, c1), (d0, d1) = core
    return ((i0, i1), (u0, u1)) if i0 <= c0 and c1 <= i1 and u0 <= d0 and d1 <= u1 else None


def run_jam_emcee(problem, settings, theta0, walkers, steps, out=None, workers=2, scheduler=None, progress=True,
                  seed=0, timing_calls=3):
    """The JAM reference posterior by emcee with jampy in the likelihood, as a :class:`Side`.

    The chain is checkpointed in ``out/jam_chain.h5`` (resumed when present) and walkers are
    evaluated in parallel on Dask workers. The seconds per call are measured in this process
    (``timing_calls`` calls after one warm-up call).
    """
    from samplers.emcee_backend import EmceeSampler

    from .fit import summarize

    t0 = time.perf_counter()
    forward = JAMForward(problem.galaxy, problem.x, problem.y, settings)
    density = JAMLogDensity(problem.priors, _numpy_likelihood(problem), forward)
    density(theta0)
    t_call = time.perf_counter()
    for _ in range(timing_calls):
        density(theta0)
    seconds_per_call = (time.perf_counter() - t_call) / timing_calls
    checkpoint = None
    if out is not None:
        spec = dict(forward=forward.fingerprint(), priors=repr(problem.priors), walkers=int(walkers),
                    data=hashlib.sha256(np.concatenate([problem.vrms, problem.vrms_err,
                                                        [problem.likelihood.systematic]]).tobytes()).hexdigest())
        checkpoint = Path(out) / "jam_chain.h5"
        _check_spec(Path(out) / "jam_chain.json", spec, checkpoint)
        checkpoint = str(checkpoint)
    with dask_client(workers, scheduler) as client:
        sampler = EmceeSampler(walkers=walkers, steps=steps, vectorize=False,
                               pool=DaskPool(client) if client is not None else None, checkpoint=checkpoint,
                               seed=seed, progress=progress)
        result = sampler.run(density, theta0)
        n_workers = _n_workers(client)
    inc, beta, ml, _ = problem.priors.transform(result.theta)
    idata = make_idata(inc, beta, ml, problem.galaxy, lp=result.log_density, method="emcee", forward="jam")
    summary = summarize(idata)
    ess = {p: summary[p]["ess_bulk"] for p in PARAMETERS}
    flat = result.log_density.reshape(-1)
    k = int(np.argmax(flat))
    best = {p: float(v.reshape(-1)[k]) for p, v in zip(PARAMETERS, (inc, beta, ml))}
    n_calls = int(walkers) * int(steps)
    return Side(_samples(idata), idata, ess, seconds_per_call, n_calls, n_calls * seconds_per_call,
                time.perf_counter() - t0, best, forward.vrms(best["inclination"], best["beta_z"], best["ml"]),
                dict(result.diagnostics, workers=n_workers, sampling_seconds=result.seconds,
                     r_hat={p: summary[p]["r_hat"] for p in PARAMETERS}))


def _check_spec(path, spec, guarded):
    """Raise ValueError when ``guarded`` was made for another spec; record the spec otherwise."""
    if path.exists():
        if json.loads(path.read_text()) != spec:
            raise ValueError(f"{guarded} was made for another galaxy, data, priors or walkers: use another output "
                             "directory or delete it")
    elif guarded.exists():
        raise ValueError(f"{guarded} exists without its record {path.name}: use another output directory or delete it")
    else:
        _atomic_text(path, json.dumps(spec, indent=2))


# --------------------------------------------------------------------------- the report


@dataclass
class ComparisonResult:
    """How the emulator posterior differs from the JAM reference.

    Attributes
    ----------
    jam_method : str
        "grid" or "emcee".
    parameters : dict
        Per parameter (inclination [deg], beta_z, ml [Msun/Lsun]): ``emulator`` and ``jam``
        statistics (:func:`parameter_stats`), ``shift_sigma``, ``shift_mc_error``,
        ``width_ratio``, ``width_ratio_mc_error`` (:func:`compare_parameter`).
    energy : dict
        :func:`energy_test` of the joint (inclination, beta_z, ml) posteriors.
    speed : dict
        ``emulator`` and ``jam``: seconds per likelihood call, calls, cost seconds (one core),
        wall seconds, minimum ESS, seconds per effective sample; ``speedup_per_call`` and
        ``speedup_per_effective_sample`` (JAM / emulator).
    goals : dict
        The project's thresholds (:data:`GOALS`) and whether this comparison meets each.
    best : dict
        Best-fit parameters of each side.
    diagnostics : dict
        ``emulator`` (sampler) and ``jam`` (grid or emcee) diagnostics.
    truth : dict
        Known parameters of a mock, else empty.
    """

    jam_method: str
    parameters: dict
    energy: dict
    speed: dict
    goals: dict
    best: dict
    diagnostics: dict
    truth: dict = field(default_factory=dict)
    emulator: Side = field(default=None, repr=False)
    jam: Side = field(default=None, repr=False)
    data: dict = field(default=None, repr=False)

    def to_dict(self):
        """Everything but the samples, JSON-ready (non-finite numbers become None)."""
        return _jsonable(dict(jam_method=self.jam_method, parameters=self.parameters, energy=self.energy,
                              speed=self.speed, goals=self.goals, best=self.best, diagnostics=self.diagnostics,
                              truth=self.truth))

    def table(self):
        """Plain-text report."""
        head = (f"{'parameter':<13s}{'JAM median [p16, p84]':>30s}{'emulator median [p16, p84]':>32s}"
                f"{'shift/sig':>11s}{'+-MC':>7s}{'width ratio':>13s}{'+-MC':>7s}")
        lines = [head]
        for name, c in self.parameters.items():
            j, e = c["jam"], c["emulator"]
            lines.append(f"{name:<13s}{_interval(j):>30s}{_interval(e):>32s}{c['shift_sigma']:>11.3f}"
                         f"{c['shift_mc_error']:>7.3f}{c['width_ratio']:>13.3f}{c['width_ratio_mc_error']:>7.3f}")
        en = self.energy
        lines.append(f"energy distance (standardised, {en['n']} samples each): {en['distance']:.4g}; null from JAM "
                     f"halves {en['null_mean']:.4g} +- {en['null_sd']:.2g} ({en['repeats']} splits), "
                     f"excess {en['excess']:.2f} null sd")
        se, sj = self.speed["emulator"], self.speed["jam"]
        lines.append(f"seconds per likelihood call: emulator {se['seconds_per_call']:.3g}, JAM "
                     f"{sj['seconds_per_call']:.3g} (x{self.speed['speedup_per_call']:.3g})")
        lines.append(f"seconds per effective sample: emulator {se['seconds_per_effective_sample']:.3g}, JAM "
                     f"{sj['seconds_per_effective_sample']:.3g} (x{self.speed['speedup_per_effective_sample']:.3g}); "
                     f"min ESS {se['ess_min']:.0f} and {sj['ess_min']:.0f}")
        lines.append(f"wall time: emulator {se['wall_seconds']:.1f} s, JAM {sj['wall_seconds']:.1f} s "
                     f"({self.jam_method}, {self.diagnostics['jam'].get('workers', 1)} workers)")
        g = self.goals
        lines.append(f"goals: |shift| <= {GOALS['max_median_shift_sigma']} sigma: {_yes(g['medians'])}; "
                     f"|width ratio - 1| <= {GOALS['max_width_deviation']}: {_yes(g['widths'])}; speed-up per "
                     f"effective sample >= {GOALS['min_speedup_per_effective_sample']:g}: {_yes(g['speed'])}")
        if self.jam_method == "grid":
            d = self.diagnostics["jam"]
            lines.append(f"JAM grid {d['grid'][0]} x {d['grid'][1]}: {d['n_computed']} nodes computed, "
                         f"{d['n_cached']} cached, {d['n_failed']} failed; effective nodes {d['kish_ess']:.1f}; "
                         f"box i {_span(d['box']['inclination'])} deg, u {_span(d['box']['beta_frac'])}; JAM mass on "
                         f"its open edges {d['edge_mass']:.2g}; "
                         f"cell / JAM sigma: " + ", ".join(f"{k} {v:.2f}" for k, v in d['cell_over_sigma'].items()))
            if d.get("grid_error"):
                lines.append("grid quadrature error (change at half the resolution) of the medians, in JAM sigma: "
                             + ", ".join(f"{k} {e['median'] / self.parameters[k]['jam']['sigma']:.3f}"
                                         for k, e in d["grid_error"].items()))
        return "\n".join(lines)

    def save(self, out):
        """Write comparison.json, comparison.txt, corner_overlay.png, maps_emulator.png, maps_jam.png and
        both posteriors (posterior_emulator.nc, posterior_jam.nc), each atomically."""
        from . import plots

        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        _atomic_text(out / "comparison.txt", self.table() + "\n")
        _atomic_text(out / "comparison.json", json.dumps(self.to_dict(), indent=2))
        for name, side in (("emulator", self.emulator), ("jam", self.jam)):
            if side is not None:
                tmp = out / f"posterior_{name}.nc.tmp{os.getpid()}"
                side.idata.to_netcdf(str(tmp))
                os.replace(tmp, out / f"posterior_{name}.nc")
        if self.emulator is not None and self.jam is not None:
            plots.save(corner_overlay(self.jam.idata, self.emulator.idata, self.truth), out / "corner_overlay.png")
        if self.data is not None:
            d = self.data
            for name, side in (("emulator", self.emulator), ("jam", self.jam)):
                plots.save(plots.maps_plot(d["x"], d["y"], d["vrms"], side.best_model, d["vrms_err"]),
                           out / f"maps_{name}.png")


def corner_overlay(jam_idata, emulator_idata, truth=None, colors=("C0", "C3")):
    """Corner plot of the JAM posterior with the emulator's drawn over it, both medians in the titles."""
    from matplotlib.lines import Line2D

    from . import plots

    fig = plots.corner_plot(jam_idata, truth, color=colors[0])
    fig = plots.corner_plot(emulator_idata, None, color=colors[1], fig=fig)
    n = len(PARAMETERS)
    axes = np.asarray(fig.axes).reshape(n, n)
    for k, name in enumerate(PARAMETERS):
        mj = float(np.median(np.asarray(jam_idata.posterior[name])))
        me = float(np.median(np.asarray(emulator_idata.posterior[name])))
        axes[k, k].set_title(f"{plots.LABELS[name]}\nJAM {mj:.4g}, emulator {me:.4g}", fontsize=9)
    fig.legend([Line2D([], [], color=c) for c in colors], ["JAM", "emulator"], loc="upper right")
    return fig


def _interval(s):
    return f"{s['median']:.4g} [{s['p16']:.4g}, {s['p84']:.4g}]"


def _span(lo_hi):
    return f"[{lo_hi[0]:.4g}, {lo_hi[1]:.4g}]"


def _yes(flag):
    return "yes" if flag else "no"


def _jsonable(obj):
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple, np.ndarray)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, (bool, np.bool_)):
        return bool(obj)
    if isinstance(obj, (int, np.integer)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        return float(obj) if math.isfinite(obj) else None
    return obj


def evaluate_goals(parameters, speed):
    """Whether the comparison meets each of :data:`GOALS`."""
    return dict(
        medians=all(abs(c["shift_sigma"]) <= GOALS["max_median_shift_sigma"] for c in parameters.values()),
        widths=all(abs(c["width_ratio"] - 1) <= GOALS["max_width_deviation"] for c in parameters.values()),
        speed=speed["speedup_per_effective_sample"] >= GOALS["min_speedup_per_effective_sample"],
        thresholds=dict(GOALS),
    )


def report(emulator, jam, jam_method, rng, truth=None, energy_samples=1000, energy_repeats=5):
    """Build the :class:`ComparisonResult` of two :class:`Side` posteriors."""
    parameters = {}
    for k, name in enumerate(PARAMETERS):
        if jam_method in ("grid", "exact"):  # independent draws from a deterministic quadrature, plus its error
            js = parameter_stats(jam.samples[:, k], jam.diagnostics["n_draws"])
            js["grid_error"] = (jam.diagnostics.get("grid_error") or {}).get(name)
        else:
            js = parameter_stats(jam.samples[:, k], jam.ess[name])
        parameters[name] = compare_parameter(parameter_stats(emulator.samples[:, k], emulator.ess[name]), js)
    energy = energy_test(emulator.samples, jam.samples, rng, energy_samples, energy_repeats)
    se, sj = emulator.speed(), jam.speed()
    speed = dict(emulator=se, jam=sj, speedup_per_call=sj["seconds_per_call"] / se["seconds_per_call"],
                 speedup_per_effective_sample=sj["seconds_per_effective_sample"] / se["seconds_per_effective_sample"])
    diagnostics = dict(emulator=emulator.diagnostics, jam=dict(jam.diagnostics))
    if jam_method == "grid":
        d_inc, d_frac = jam.diagnostics["steps"]["inclination"], jam.diagnostics["steps"]["beta_frac"]
        width = jam.diagnostics["beta_width_at_median"]
        diagnostics["jam"]["cell_over_sigma"] = dict(
            inclination=d_inc / parameters["inclination"]["jam"]["sigma"],
            beta_z=d_frac * width / parameters["beta_z"]["jam"]["sigma"])
        worst = max(diagnostics["jam"]["cell_over_sigma"].values())
        if worst > 0.5:
            log.warning("the JAM grid is coarse: a cell spans %.2g posterior sigma (use a finer --grid)", worst)
    return ComparisonResult(jam_method, parameters, energy, speed, evaluate_goals(parameters, speed),
                            dict(emulator=emulator.best, jam=jam.best), diagnostics, dict(truth or {}), emulator, jam)


def compare(cfg, emulator=None, jam_method="grid", workers=2, scheduler=None, out=None, progress=True,
            grid_size=(40, 30), grid_box="emulator", jam_walkers=None, jam_steps=None, seed=None,
            jam_settings=DEFAULT_SETTINGS, backend=None, n_draws=20000, energy_samples=1000, energy_repeats=5):
    """Fit one galaxy with the emulator and with jampy in the likelihood, and compare the posteriors.

    Parameters
    ----------
    cfg : dict
        Validated configuration (:func:`fastjam.config.load_config`).
    emulator : Emulator, optional
        Default: the shipped one.
    jam_method : {"grid", "emcee", "exact"}
        JAM reference: grid over (inclination, beta_z) with M/L integrated analytically, emcee,
        or the exact posterior of JAM's linear decomposition (:mod:`fastjam.exact_fit`).
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

    Returns
    -------
    ComparisonResult
    """
    if jam_method not in JAM_METHODS:
        raise ValueError(f"unknown JAM method {jam_method!r}: choose one of {', '.join(JAM_METHODS)}")
    if int(workers) < 0:
        raise ValueError(f"workers must be >= 0, got {workers}")
    if jam_method == "grid":
        grid_size = _grid_size(grid_size)
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
        from .exact_fit import run_jam_exact

        jam_side = run_jam_exact(problem, jam_settings, out, int(workers), scheduler, progress,
                                 emu_side.samples[:, 0] if grid_box == "emulator" else None, seed)
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


__all__ = ["ComparisonResult", "GOALS", "Grid", "GridPosterior", "JAMForward", "JAMLogDensity", "compare",
           "energy_distance", "energy_test", "grid_posterior", "run_grid"]

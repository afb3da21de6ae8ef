"""JAM's linear terms at nodes in intrinsic axis ratio: computed in parallel, cached, interpolated.

JAM's second moment is exactly linear in M/L and in :math:`1/(1 - \\beta_z)`
(:func:`fastjam.jam.jam_linear_terms`):

.. math:: V_{\\rm rms}^2(x, y) = (M/L)\\,[A(x, y; i) + B(x, y; i)/(1 - \\beta_z)],

so the only non-linear parameter is the inclination. This module computes A and B (two jampy
calls) at *nodes* and interpolates them in between.

Nodes lie on a dyadic grid in the intrinsic axis ratio of the flattest Gaussian,
:math:`q_{\\rm intr} = \\sqrt{q_{\\rm obs}^2 - \\cos^2 i}/\\sin i` on
:math:`[0.05, q_{\\rm obs}]` (:data:`DEPTH` levels, node index ``k`` at
:math:`q_{\\rm intr} = 0.05 + (q_{\\rm obs} - 0.05)\\,k / 2^{\\rm DEPTH}`), so every request on
one galaxy (whole prior, a refined range, a finer level) reuses the same cached nodes.
A and B are interpolated per bin with a not-a-knot cubic spline in :math:`q_{\\rm intr}`:
``bench/exact.py`` measures it as the most accurate of {linear, cubic, PCHIP} x
{i, cos i, q_intr, q_intr^2} (median over left-out nodes of the worst bin's error of V_RMS^2,
9 nodes over the whole prior of the example galaxy: 6e-5 in q_intr against 3.6e-3 in i).

Nodes run on Dask workers; each finished node is written atomically to its own file in a
per-galaxy cache directory (default ``~/.cache/fastjam/exact/<fingerprint>``), so a killed
run resumes with no finished jampy call lost.
"""
import logging
import time
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .compare.reference import GridCache, node_result, store_nodes
from .jam import DEFAULT_SETTINGS, JAMModel, jam_linear_terms
from .parallel import WorkerPool, has_error
from .physics.geometry import QINTR_MIN, inclination_from_qintr, qintr_from_inclination

log = logging.getLogger(__name__)

#: Levels of the dyadic node grid in q_intr (2^DEPTH intervals).
DEPTH = 12
#: Default cache root of the nodes (one sub-directory per galaxy and data positions).
CACHE_ROOT = Path("~/.cache/fastjam/exact")


class LinearTerms:
    """jampy's A and B for one galaxy at fixed data positions; picklable, runs on workers, and
    maps dyadic node indices to q_intr and inclination.

    Parameters
    ----------
    galaxy : Galaxy
    x, y : ndarray, shape (p,)
        Positions in arcsec (validated once, by :meth:`fastjam.jam.JAMModel.bind`).
    settings : JAMSettings
    """

    def __init__(self, galaxy, x, y, settings=DEFAULT_SETTINGS):
        self.jam = JAMModel(settings).bind(galaxy, x, y)
        self.q_obs = float(galaxy.q_obs)

    @property
    def x(self):
        return self.jam.x

    @property
    def settings(self):
        return self.jam.settings

    def fingerprint(self):
        """SHA-256 of everything jampy sees except the parameters (:meth:`fastjam.jam.BoundJAM.fingerprint`)."""
        return self.jam.fingerprint()

    def q_intr_of_index(self, index):
        """q_intr of dyadic node ``index`` (0 ... 2^DEPTH); node 0 lies 1e-9 (relative) above
        0.05, where rounding in jampy's own q_intr would fail its check ``q_intr >= 0.05``."""
        q = QINTR_MIN + (self.q_obs - QINTR_MIN) * np.asarray(index, dtype=float) / 2**DEPTH
        return np.maximum(q, QINTR_MIN * (1 + 1e-9))

    def inclination_of_index(self, index):
        """Inclination [deg] of dyadic node ``index``."""
        return inclination_from_qintr(self.q_obs, self.q_intr_of_index(index))

    def index_of_inclination(self, inclination, side):
        """Dyadic index at or beyond ``inclination`` [deg]: ``side`` = "below" (floor) or "above" (ceil)."""
        q = np.clip(qintr_from_inclination(self.q_obs, np.clip(inclination, 0.0, 90.0)), QINTR_MIN, self.q_obs)
        t = (q - QINTR_MIN) / (self.q_obs - QINTR_MIN) * 2**DEPTH
        k = np.floor(t + 1e-9) if side == "below" else np.ceil(t - 1e-9)
        return int(np.clip(k, 0, 2**DEPTH))

    def linear_terms(self, inclination):
        """A and B concatenated, (km/s)^2 per unit M/L, shape (2p,), at ``inclination`` [deg]."""
        j = self.jam
        return np.concatenate(jam_linear_terms(j.mge, inclination, j.distance, j.sigma_psf, j.pixsize, j.x, j.y,
                                               j.settings))

    def node(self, index, inclination):
        """A and B at one node (:func:`fastjam.compare.reference.node_result`: ``vrms`` holds A and
        B concatenated); a failure is recorded, and the node refined around."""
        return node_result(index, self.linear_terms, inclination)


def node_cache(terms, directory=None):
    """The :class:`~fastjam.compare.GridCache` of ``terms``'s nodes (default under :data:`CACHE_ROOT`)."""
    key = terms.fingerprint()
    directory = Path(directory) if directory is not None else CACHE_ROOT.expanduser() / key[:20]
    return GridCache(directory, dict(kind="jam_linear_terms", forward=key, depth=DEPTH, q_obs=terms.q_obs,
                                     q_intr_min=QINTR_MIN, jam_settings=terms.settings.as_dict()))


@dataclass
class Nodes:
    """A and B at the computed nodes, sorted by q_intr.

    Attributes
    ----------
    q_obs : float
        Axis ratio of the flattest Gaussian (sets q_intr(i)).
    index : ndarray of int, shape (n,)
        Dyadic node indices.
    q_intr : ndarray, shape (n,)
    inclination : ndarray, shape (n,)
        Degrees.
    a, b : ndarray, shape (n, p)
        (km/s)^2 per unit M/L.
    seconds : dict
        Index -> seconds of jampy (two calls), for nodes computed or read from the cache.
    """

    q_obs: float
    index: np.ndarray
    q_intr: np.ndarray
    inclination: np.ndarray
    a: np.ndarray = field(repr=False)
    b: np.ndarray = field(repr=False)
    seconds: dict = field(default_factory=dict, repr=False)

    def subset(self, keep):
        """The nodes with ``keep`` (bool or index array over the nodes)."""
        keep = np.asarray(keep)
        return Nodes(self.q_obs, self.index[keep], self.q_intr[keep], self.inclination[keep], self.a[keep],
                     self.b[keep], self.seconds)

    def interpolate(self, inclination):
        """A and B at ``inclination`` [deg], shape (m,), by a not-a-knot cubic spline in q_intr
        (linear with 2 nodes, quadratic with 3).

        Returns
        -------
        a, b : ndarray, shape (m, p)
        """
        from scipy.interpolate import CubicSpline

        n = self.index.size
        if n < 2:
            raise ValueError(f"interpolation needs at least 2 nodes, got {n}")
        q = qintr_from_inclination(self.q_obs, np.asarray(inclination, dtype=float))
        if np.any(q < self.q_intr[0] - 1e-9) or np.any(q > self.q_intr[-1] + 1e-9):
            raise ValueError(f"inclinations {np.min(inclination):.4g}-{np.max(inclination):.4g} deg lie outside the "
                             f"nodes' range {self.inclination[0]:.4g}-{self.inclination[-1]:.4g} deg")
        values = np.concatenate([self.a, self.b], axis=1)
        bc = "not-a-knot" if n >= 4 else "natural"
        spline = CubicSpline(self.q_intr, values, axis=0, bc_type=bc) if n >= 3 else None
        out = spline(q) if spline is not None else _linear(self.q_intr, values, q)
        p = self.a.shape[1]
        return out[:, :p], out[:, p:]


def _linear(x, values, t):
    w = np.clip((t - x[0]) / (x[1] - x[0]), 0.0, 1.0)[:, None]
    return values[0] * (1 - w) + values[1] * w


class Workers:
    """A :class:`~fastjam.parallel.WorkerPool` started at its first use and kept until
    :meth:`close` (a context manager), so that the levels of one run share their worker processes.

    Parameters
    ----------
    workers : int
        Local worker processes; 0 runs serially in this process.
    scheduler : str, optional
        Address of a running Dask scheduler (overrides ``workers``).
    """

    def __init__(self, workers=2, scheduler=None):
        if int(workers) < 0:
            raise ValueError(f"workers must be >= 0, got {workers}")
        self.workers, self.scheduler = int(workers), scheduler
        self._pool = None

    def pool(self):
        """The started :class:`~fastjam.parallel.WorkerPool`."""
        if self._pool is None:
            self._pool = WorkerPool(self.workers, self.scheduler).__enter__()
        return self._pool

    def close(self):
        if self._pool is not None:
            self._pool.__exit__(None, None, None)
            self._pool = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def compute_nodes(terms, indices, cache=None, workers=2, scheduler=None, progress=True, known=None, pool=None):
    """A and B at dyadic node ``indices``, in parallel, resuming from ``cache``.

    Parameters
    ----------
    terms : LinearTerms
    indices : iterable of int
        Dyadic node indices (0 ... 2^DEPTH).
    cache : GridCache, optional
        From :func:`node_cache`; finished nodes are saved as they arrive.
    workers : int
        Local Dask worker processes; 0 runs serially in this process.
    scheduler : str, optional
        Address of a running Dask scheduler (overrides ``workers``).
    progress : bool
        tqdm bar with ETA.
    known : Nodes, optional
        Nodes already in memory (not recomputed).
    pool : Workers, optional
        Workers to use (and keep); default: started for this call only.

    Returns
    -------
    Nodes
        ``known`` plus the requested nodes, sorted by q_intr.
    info : dict
        n_requested, n_cached, n_computed, n_failed, failed (indices), wall_seconds.

    Raises
    ------
    ValueError
        An index outside the dyadic grid, or a node that jampy could not compute.
    """
    indices = sorted({int(k) for k in indices})
    if indices and not (0 <= indices[0] and indices[-1] <= 2**DEPTH):
        raise ValueError(f"node indices must lie in [0, {2**DEPTH}], got {indices[0]} ... {indices[-1]}")
    values, seconds = {}, dict(known.seconds) if known is not None else {}
    if known is not None:
        for k, a, b in zip(known.index, known.a, known.b):
            values[int(k)] = np.concatenate([a, b])
    todo, n_cached = [], 0
    for k in indices:
        if k in values:
            continue
        res = cache.load(k) if cache is not None else None
        if res is None:
            todo.append(k)
        else:
            values[k], seconds[k] = res["vrms"], res["seconds"]
            n_cached += 1
    t0 = time.perf_counter()
    if todo:
        with ExitStack() as stack:
            if pool is None:
                pool = stack.enter_context(Workers(workers, scheduler))
            failed = _run_on_dask(terms, todo, values, seconds, cache, pool, progress)
    else:
        failed = []
    if failed:
        raise ValueError(f"jampy failed at {len(failed)} node(s): " + "; ".join(
            f"i = {terms.inclination_of_index(k):.4g} deg: {err}" for k, err in failed[:3]))
    keys = np.array(sorted(values))
    q = terms.q_intr_of_index(keys)
    stack = np.array([values[k] for k in keys])
    p = terms.x.size
    info = dict(n_requested=len(indices), n_cached=int(n_cached), n_computed=len(todo), n_failed=len(failed),
                wall_seconds=time.perf_counter() - t0)
    return Nodes(terms.q_obs, keys, q, terms.inclination_of_index(keys), stack[:, :p], stack[:, p:], seconds), info


def _node(terms, index, inclination):
    return terms.node(index, inclination)


def _run_on_dask(terms, todo, values, seconds, cache, pool, progress):
    """The parallel loop: jampy at nodes ``todo`` on the pool's workers, each result saved when it
    arrives.

    Returns the failed nodes as (index, error) pairs.
    """
    inclination = terms.inclination_of_index(np.asarray(todo))
    log.info("exact JAM: %d nodes (%d jampy calls) to compute", len(todo), 2 * len(todo))
    results = pool.pool().as_completed(_node, list(zip(todo, inclination)), shared=(terms,), progress=progress,
                                       desc="exact JAM", unit="node", failed=has_error)
    return store_nodes(results, values, seconds, cache)

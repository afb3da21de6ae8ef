"""The JAM reference posterior: jampy in the likelihood, with the same priors and bins as the
emulator's fit.

``"grid"`` (:func:`run_jam_grid`)
    jampy at M/L = 1 at every node of a :class:`~fastjam.compare.grid.Grid` over (inclination,
    beta_z) (a box around the emulator posterior, or the whole prior), M/L integrated
    analytically (:func:`~fastjam.compare.grid.grid_posterior`). Nodes run in parallel
    (:class:`fastjam.parallel.WorkerPool`) and are cached in ``out/jam_grid/`` as they finish.
``"emcee"`` (:func:`run_jam_emcee`)
    emcee with jampy in the likelihood (:class:`fastjam.posterior.Posterior` with a bound JAM model, picklable), walkers
    evaluated in parallel on the same pool, the chain checkpointed in ``out/jam_chain.pkl``.
"""
import hashlib
import json
import logging
import time
from pathlib import Path

import numpy as np

from ..atomic import write_json, write_npz
from ..fit import physical_idata
from ..jam import JAMModel
from ..model import PARAMETERS
from ..parallel import WorkerPool, has_error
from ..posterior import Posterior
from .grid import Grid, beta_width, check_grid_size, coarsened, grid_error, grid_posterior
from .side import Side, jam_likelihood, samples_of

log = logging.getLogger(__name__)


def node_result(index, fn, *args):
    """One node of a jampy batch, as a worker returns it: ``fn(*args)`` timed, with a failure or
    non-finite values recorded instead of raised.

    Returns
    -------
    dict
        ``index``, ``vrms`` (the array ``fn`` returned, or None), ``seconds``, ``error`` (None or
        the message).
    """
    t0 = time.perf_counter()
    out = dict(index=int(index), vrms=None, error=None)
    try:
        v = np.asarray(fn(*args), dtype=float)
        if not np.all(np.isfinite(v)):
            raise FloatingPointError(f"{np.sum(~np.isfinite(v))} non-finite values")
        out["vrms"] = v
    except Exception as exc:  # recorded; the node is left out of the posterior
        out["error"] = f"{type(exc).__name__}: {exc}"[:500]
    out["seconds"] = time.perf_counter() - t0
    return out


def store_nodes(results, values, seconds, cache=None):
    """Record node results (:func:`node_result`) as they arrive: ``values[k]`` and ``seconds[k]``
    by node index, each finished node saved to ``cache`` at once (nothing finished is lost).

    Returns
    -------
    list of (int, str)
        The failed nodes and their errors.
    """
    failed = []
    for res in results:
        k = res["index"]
        seconds[k] = res["seconds"]
        if res["error"] is None:
            values[k] = res["vrms"]
            if cache is not None:
                cache.save(res)
        else:
            failed.append((k, res["error"]))
    return failed


def _run_node(forward, index, inclination, beta_z):
    """One grid node at M/L = 1 of a bound JAM model (:meth:`fastjam.jam.JAMModel.bind`)."""
    return node_result(index, forward, inclination, beta_z, 1.0)


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
            write_json(spec_path, dict(spec, key=self.key))

    def path(self, index):
        return self.dir / f"node_{index:06d}.npz"

    def load(self, index):
        """The cached node (dict like :func:`_run_node`'s) or None."""
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
        write_npz(self.path(res["index"]), vrms=res["vrms"], seconds=res["seconds"], key=self.key)


def run_grid(forward, inclination, beta_z, cache=None, workers=2, scheduler=None, progress=True, desc="JAM grid"):
    """jampy at M/L = 1 at every node, in parallel, resuming from ``cache``.

    Parameters
    ----------
    forward : BoundJAM
        :meth:`fastjam.jam.JAMModel.bind`.
    inclination, beta_z : ndarray, shape (n,)
        Node coordinates.
    cache : GridCache, optional
    workers : int
        Local Dask workers; 0 runs serially in this process.
    scheduler : str, optional
        Address of an existing Dask scheduler (overrides ``workers``).
    progress : bool
    desc : str
        Label of the progress bar and of the log line.

    Returns
    -------
    m1 : ndarray, shape (n, p)
        V_RMS [km/s] at M/L = 1 (NaN rows for failed nodes).
    info : dict
        n_nodes, n_cached, n_computed, n_failed, failed (indices), seconds (JAM seconds per
        node, NaN if failed), wall_seconds, workers.
    """
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
    log.info("%s: %d nodes, %d cached, %d to compute", desc, n, n_cached, len(todo))
    t0 = time.perf_counter()
    jobs = [(k, float(inclination[k]), float(beta_z[k])) for k in todo]
    with WorkerPool(workers if todo else 0, scheduler if todo else None) as pool:
        n_workers = pool.workers
        results = pool.as_completed(_run_node, jobs, shared=(forward,), progress=progress, desc=desc,
                                    unit="node", total=n, initial=n_cached, failed=has_error)
        errors = store_nodes(results, m1, seconds, cache)
    for k, error in errors:
        log.warning("JAM failed at node %d (i = %.4g, beta_z = %.4g): %s", k, inclination[k], beta_z[k], error)
    failed = [k for k, _ in errors]
    info = dict(n_nodes=n, n_cached=n_cached, n_computed=len(todo), n_failed=len(failed), failed=sorted(failed),
                seconds=seconds, wall_seconds=time.perf_counter() - t0, workers=n_workers)
    return m1, info


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
    forward = JAMModel(settings).bind(problem.galaxy, problem.x, problem.y)
    box_path = Path(out) / "jam_grid" / "box.json" if out is not None else None
    box_meta = dict(forward=forward.fingerprint(), grid=list(check_grid_size(grid_size)), jam_settings=settings.as_dict())
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
                    nodes=hashlib.sha256(np.round(np.column_stack([inc, beta]), 9).tobytes()).hexdigest(),
                    jam_settings=settings.as_dict())
        cache = GridCache(Path(out) / "jam_grid", spec)
        if around is not None and not reused:
            write_json(box_path, dict(box_meta, **dict(zip(("inclination", "beta_frac"), grid.bounds))))
    m1, info = run_grid(forward, inc, beta, cache, workers, scheduler, progress)
    lik = jam_likelihood(problem)
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
    idata = physical_idata(problem.galaxy, draws["inclination"], draws["beta_z"], draws["ml"], method="grid",
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

    The chain is checkpointed in ``out/jam_chain.pkl`` (resumed when present) and walkers are
    evaluated in parallel on Dask workers. The seconds per call are measured in this process
    (``timing_calls`` calls after one warm-up call).
    """
    from ..fit import summarize
    from ..samplers.emcee_backend import EmceeSampler

    t0 = time.perf_counter()
    forward = JAMModel(settings).bind(problem.galaxy, problem.x, problem.y)
    density = Posterior(problem.priors, jam_likelihood(problem), forward, problem.galaxy.total_luminosity)
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
        checkpoint = Path(out) / "jam_chain.pkl"
        _check_spec(Path(out) / "jam_chain.json", spec, checkpoint)
        checkpoint = str(checkpoint)
    with WorkerPool(workers, scheduler) as pool:
        sampler = EmceeSampler(walkers=walkers, steps=steps, vectorize=False,
                               pool=pool if pool.client is not None else None, checkpoint=checkpoint,
                               checkpoint_every=1, seed=seed, progress=progress)
        result = sampler.run(density, theta0)
        n_workers = pool.workers
    inc, beta, ml, _ = problem.priors.transform(result.theta)
    idata = physical_idata(problem.galaxy, inc, beta, ml, lp=result.log_density, method="emcee", forward="jam")
    summary = summarize(idata)
    ess = {p: summary[p]["ess_bulk"] for p in PARAMETERS}
    flat = result.log_density.reshape(-1)
    k = int(np.argmax(flat))
    best = {p: float(v.reshape(-1)[k]) for p, v in zip(PARAMETERS, (inc, beta, ml))}
    n_calls = int(walkers) * int(steps)
    return Side(samples_of(idata), idata, ess, seconds_per_call, n_calls, n_calls * seconds_per_call,
                time.perf_counter() - t0, best, forward(best["inclination"], best["beta_z"], best["ml"]),
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
        write_json(path, spec)


__all__ = ["GridCache", "MAX_EDGE_MASS", "node_result", "store_nodes", "run_grid", "run_jam_emcee",
           "run_jam_grid"]

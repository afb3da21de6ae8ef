"""Survey fits: every galaxy of a catalog fitted as one Dask task, into one results table.

``survey(catalog, out)`` runs the ordinary fit (:func:`fastjam.fit.fit`) of each row of a
catalog (:mod:`fastjam.catalog`) on a local Dask cluster, an existing one or serially, and
writes

- ``out/<id>/``: what ``fastjam fit --out`` writes (figures optional), plus ``row.json``,
  the galaxy's row of the results table;
- ``out/results.fits`` and ``out/results.csv``: one row per galaxy
  (:mod:`fastjam.survey_table`), rewritten atomically as rows finish.

A fitted galaxy's ``status`` is ``ok`` or, when a check of :mod:`fastjam.diagnostics` fails
(poor chi^2, posterior piled on a prior bound, not converged, ...), ``warning`` with the failed
checks named; a galaxy whose input is bad or that the emulator refuses gets ``failed`` or
``refused`` and the reason in words; the survey goes on. With ``[refine] enabled`` each
galaxy's exact JAM posterior follows, its jampy calls on the same cluster. The client writes
each finished row at once, so a killed survey loses no finished galaxy and ``resume=True``
refits none.

Start-up is paid once per worker: imports and the emulator's weights are held in a
per-process cache (:func:`warm_worker`, run on every worker when it joins through a Dask
worker plugin), and JAX compiles once per worker and bin bucket: each galaxy's bins are
padded to a bucket size (:data:`fastjam.emulator.jax_model.BUCKETS`) and its data, priors and
bound emulator enter the compiled log density, gradient and NUTS loop as arguments
(:mod:`fastjam.posterior`), so every later galaxy of the bucket on that worker compiles
nothing. ``bench/survey.py`` measures the compile time per galaxy with and without padding.
"""
import contextlib
import logging
import math
import time
from dataclasses import dataclass
from pathlib import Path

from .survey_table import COLUMNS, ResultsTable, empty_row, result_row

log = logging.getLogger(__name__)

#: Messages of the fit that mean "the emulator declines this galaxy" rather than bad input.
REFUSALS = ("outside the emulator's training domain", "emulated field", "trained on Sérsic photometry only",
            "no general-photometry emulator")
#: Loggers whose warnings during a fit go into the row's ``warnings`` column.
WARNING_LOGGERS = ("fastjam", "samplers")
#: Extra environment of local workers: one thread each for BLAS and XLA.
XLA_ENVIRON = {"XLA_FLAGS": "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"}

_CACHE = {}


def cached(key, build):
    """Per-process cache: ``build()`` once per worker, then its result for every galaxy."""
    if key not in _CACHE:
        _CACHE[key] = build()
    return _CACHE[key]


def warm_worker(emulator_path=None):
    """Import the fit's libraries, load the emulator and compile once in this process.

    Parameters
    ----------
    emulator_path : str, optional
        Emulator directory (default: the shipped one).

    Returns
    -------
    float
        Seconds spent now (0 when the process was already warm); the first galaxy fitted
        afterwards reports them in its ``startup_seconds``.
    """
    t0 = time.perf_counter()
    _cached_emulator(emulator_path, "sersic")
    cached("jax", _first_compilation)
    seconds = time.perf_counter() - t0
    if seconds > 1e-3:  # reported once, by the worker's next galaxy (startup_seconds)
        _CACHE["unreported_startup"] = _CACHE.get("unreported_startup", 0.0) + seconds
    return seconds


def _cached_emulator(path, kind):
    """The emulator in ``path``, else the default of photometry ``kind``, loaded once per process."""
    from .emulator.model import Emulator

    kind = None if path else kind
    return cached(("emulator", path, kind), lambda: Emulator.load(path, kind=kind))


def emulator_for(cfg, emulator_path=None):
    """The emulator of a galaxy, loaded once per worker and photometry kind.

    ``emulator_path`` (the survey's ``--emulator``), else the row's ``[forward] emulator``,
    else the default of the galaxy's photometry: the Sérsic emulator for a Sérsic row, the
    general one (``$FASTJAM_EMULATOR_MGE`` or the shipped ``data/emulator_mge``) for an
    ``mge`` row, so one catalog mixes both. An MGE row with no general weights, or given
    Sérsic weights, raises the loader's ``ValueError`` (a refusal in the results table).
    """
    path = emulator_path or cfg["forward"].get("emulator")
    kind = "general" if "mge" in cfg["galaxy"] else "sersic"
    return _cached_emulator(path, kind)


def _first_compilation():
    import arviz  # noqa: F401  (imported once, as the fit's summary needs it)
    import emcee  # noqa: F401
    import jax
    import jax.numpy as jnp
    import numpyro  # noqa: F401

    return float(jax.jit(lambda v: jnp.sum(v**2))(jnp.ones(3)))


class WarningCollector(logging.Handler):
    """Collect logged warnings (their messages, in ``messages``): the fit's, for the row's
    ``warnings`` column."""

    def __init__(self):
        super().__init__(logging.WARNING)
        self.messages = []

    def emit(self, record):
        self.messages.append(record.getMessage())


def fit_galaxy(gid, cfg, out, emulator_path=None, plots=False):
    """Fit one galaxy and write its outputs (a Dask task; never raises for a bad galaxy).

    The emulator's bins are padded to :data:`fastjam.emulator.jax_model.BUCKETS`, so the
    worker's compiled functions serve every galaxy of a bucket. With ``[refine] enabled`` the
    exact JAM posterior follows (:func:`fastjam.exact_fit.refine`), its jampy calls on the same
    cluster.

    Parameters
    ----------
    gid : str
        Galaxy id.
    cfg : dict
        Its validated fit configuration.
    out : str
        Survey directory; outputs go to ``out/<gid>/``.
    emulator_path : str, optional
    plots : bool
        Also write the corner, maps and trace figures.

    Returns
    -------
    dict
        The galaxy's results row (:data:`COLUMNS`).
    """
    t0, cpu0 = time.perf_counter(), time.process_time()
    row = empty_row(gid)
    row.update({f"{p}_truth": float(v) for p, v in cfg.get("truth", {}).items()}, worker=_worker_name())
    warm_worker(emulator_path)
    row["startup_seconds"] = _CACHE.pop("unreported_startup", 0.0)
    collector, findings = WarningCollector(), set()
    for name in WARNING_LOGGERS:
        logging.getLogger(name).addHandler(collector)
    try:
        emulator = emulator_for(cfg, emulator_path) if cfg["forward"]["model"] == "emulator" else None
        t1 = time.perf_counter()
        result, refined = _fit_or_refine(cfg, emulator, Path(out) / gid)
        t2 = time.perf_counter()
        (refined or result).save(Path(out) / gid, plots=plots)
        row.update(result_row(result, refined), fit_seconds=t2 - t1, save_seconds=time.perf_counter() - t2)
        findings = {f.message for f in result.checks.findings}
    except (ValueError, OSError) as exc:
        refused = any(marker in str(exc) for marker in REFUSALS)
        row.update(status="refused" if refused else "failed", reason=_one_line(exc))
    except Exception as exc:  # any other failure of one galaxy is recorded, never fatal to the survey
        log.debug("galaxy %s failed", gid, exc_info=True)
        row.update(status="failed", reason=f"{type(exc).__name__}: {_one_line(exc)}")
    finally:
        for name in WARNING_LOGGERS:
            logging.getLogger(name).removeHandler(collector)
    row["warnings"] = " | ".join(m for m in dict.fromkeys(collector.messages) if m not in findings)[:1000]
    row["wall_seconds"] = time.perf_counter() - t0
    # CPU time of the worker process: on a shared machine, what the galaxy costs a dedicated core
    row["cpu_seconds"] = time.process_time() - cpu0
    return row


def _fit_or_refine(cfg, emulator, folder):
    """(emulator fit, its refinement or None): :func:`fastjam.fit.fit` with padded bins, refined
    when ``[refine] enabled`` (jampy nodes cached in ``folder/exact_nodes``)."""
    from .emulator.jax_model import BUCKETS
    from .fit import fit

    if not cfg["refine"]["enabled"]:
        return fit(cfg, emulator=emulator, progress=False, buckets=BUCKETS), None
    from .exact_fit import refine, refine_settings

    settings, jam_settings = refine_settings(cfg)
    with _jampy_cluster() as scheduler:
        refined = refine(cfg, emulator=emulator, settings=settings, jam_settings=jam_settings,
                         cache_dir=folder / "exact_nodes", workers=0, scheduler=scheduler, progress=False,
                         buckets=BUCKETS)
    return refined.emulator, refined


@contextlib.contextmanager
def _jampy_cluster():
    """The address of this task's Dask scheduler for the refinement's jampy calls (None, serial,
    outside Dask); the task secedes from its worker's threads meanwhile, so the jampy tasks can
    run on the same workers."""
    try:
        from distributed import get_worker, rejoin, secede

        worker = get_worker()
    except (ImportError, ValueError):
        yield None
        return
    secede()
    try:
        yield worker.scheduler.address
    finally:
        rejoin()


def _one_line(exc):
    return " ".join(str(exc).split())[:500] or type(exc).__name__


def _worker_name():
    try:
        from distributed import get_worker

        return str(get_worker().name)
    except (ImportError, ValueError):
        return "local"


@dataclass
class SurveySummary:
    """What a survey run did: counts by status, wall time, workers and the dashboard address."""

    n_catalog: int
    n_done_before: int
    counts: dict
    wall_seconds: float
    workers: int
    dashboard: str

    @property
    def n_fitted(self):
        return sum(self.counts.values())

    @property
    def galaxies_per_hour(self):
        return 3600 * self.n_fitted / self.wall_seconds if self.wall_seconds > 0 else math.nan

    def __str__(self):
        counts = ", ".join(f"{v} {k}" for k, v in self.counts.items())
        return (f"{self.n_fitted} galaxies fitted ({counts}), {self.n_done_before} done before, {self.n_catalog} in "
                f"the catalog; {self.wall_seconds:.1f} s wall on {self.workers} workers, "
                f"{self.galaxies_per_hour:.0f} galaxies/hour")


def survey(catalog, out, settings=None, workers=2, scheduler=None, resume=False, emulator_path=None, plots=False,
           progress=True, write_every=2.0):
    """Fit every galaxy of a catalog.

    Parameters
    ----------
    catalog : str or Path
        Survey catalog (:mod:`fastjam.catalog`); checked completely before any fit.
    out : str or Path
        Survey directory.
    settings : str or Path, optional
        TOML file of shared settings (priors, sampler, likelihood, forward model).
    workers : int
        Local Dask worker processes (one thread each); 0 fits serially in this process.
    scheduler : str, optional
        Address of an existing Dask scheduler; overrides ``workers``. Its workers must see
        ``out`` and the kinematics files at the same paths.
    resume : bool
        Continue a survey in ``out``; galaxies with a row (any status) are not refitted.
    emulator_path : str, optional
        Emulator directory (default: the shipped one).
    plots : bool
        Write each galaxy's corner, maps and trace figures (about 3 s per galaxy).
    progress : bool
        Progress bar over galaxies (rate and ETA).
    write_every : float
        Minimum seconds between rewrites of the results table (each row is kept at once
        in its ``row.json``; the table is always written at the end).

    Returns
    -------
    SurveySummary
    """
    from tqdm.auto import tqdm

    from .catalog import read_catalog, read_settings

    cat = read_catalog(catalog, read_settings(settings))
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    results = ResultsTable(out, cat.ids, resume)
    todo = [(gid, cfg) for gid, cfg in zip(cat.ids, cat.configs) if gid not in results.rows]
    log.info("%d galaxies in %s, %d done, %d to fit", len(cat), catalog, len(results.rows), len(todo))
    counts = dict(ok=0, warning=0, refused=0, failed=0)
    t0 = last = time.perf_counter()
    bar = tqdm(total=len(cat), initial=len(cat) - len(todo), disable=not progress, unit="galaxy", smoothing=0.1)
    state = dict(workers=1, dashboard="")
    try:
        for row in _run(todo, str(out), emulator_path, plots, workers, scheduler, state):
            results.add(row)
            counts[row["status"]] += 1
            if row["status"] != "ok":
                log.warning("galaxy %s %s: %s", row["id"], row["status"], row["reason"])
            bar.update(1)
            bar.set_postfix(counts)
            if time.perf_counter() - last >= write_every:
                results.write()
                last = time.perf_counter()
    finally:
        bar.close()
        results.write()
    return SurveySummary(len(cat), len(cat) - len(todo), counts, time.perf_counter() - t0, state["workers"],
                         state["dashboard"])


def _run(todo, out, emulator_path, plots, workers, scheduler, state):
    """Yield the rows of ``fit_galaxy`` as they finish (serially, or on a Dask cluster)."""
    from .parallel import WorkerPool

    if not todo:
        return
    with WorkerPool(workers, scheduler, environ=XLA_ENVIRON, plugin=lambda: _warm_plugin(emulator_path)) as pool:
        state["workers"] = pool.workers
        if pool.client is not None:
            state["dashboard"] = pool.client.dashboard_link or ""
            log.info("Dask dashboard: %s (%d workers)", state["dashboard"], state["workers"])
        yield from pool.as_completed(_fit_task, todo, shared=(out, emulator_path, plots), progress=False)


def _fit_task(out, emulator_path, plots, gid, cfg):
    return fit_galaxy(gid, cfg, out, emulator_path, plots)


def _warm_plugin(emulator_path):
    """A Dask worker plugin that runs :func:`warm_worker` on every worker when it starts."""
    from distributed.diagnostics.plugin import WorkerPlugin

    class WarmWorker(WorkerPlugin):
        def setup(self, worker):
            log.info("worker %s warmed in %.1f s", worker.name, warm_worker(emulator_path))

    return WarmWorker()


__all__ = ["COLUMNS", "SurveySummary", "WarningCollector", "cached", "fit_galaxy", "survey", "warm_worker"]

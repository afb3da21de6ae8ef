"""Training-set generator: JAM maps over a Sobol design, in parallel with Dask, resumable.

Each map is one task; the client writes every finished map at once (atomically), so a
killed run (even ``kill -9``) loses no finished map and resumes with ``resume=True``.
Runs on a local Dask cluster (``workers``), an existing one (``scheduler`` address) or,
with ``workers=0``, serially in this process.
"""
import logging
import time
import traceback
from dataclasses import dataclass

import numpy as np

from .design import PARAM_NAMES, ParameterSpace, sobol_design
from .jam import DEFAULT_SETTINGS, dimensionless_map
from .parallel import WorkerPool, has_error
from .physics import grid

log = logging.getLogger(__name__)


def compute_map(index, params, settings, family="sersic"):
    """Compute one training map (runs on a worker).

    Parameters
    ----------
    index : int
        Design index.
    params : ndarray
        Sérsic design: (n, q_obs, inclination, beta_z, sigma_psf_re, pixsize_re); MGE family:
        the 14 parameters of :data:`fastjam.family.FAMILY_PARAM_NAMES`.
    settings : JAMSettings
    family : {"sersic", "mge"}

    Returns
    -------
    dict
        ``index``, ``params``, ``arrays`` (the set's fields: ``f`` (NTHETA, NR) and ``image``
        (64, 64) for the Sérsic design; ``mge`` (30, 3), ``a`` and ``b`` (NTHETA, NR) for the
        MGE family), ``seconds`` and ``error`` (None, or the message when JAM failed or
        returned non-finite or non-positive values).
    """
    t0 = time.perf_counter()
    params = np.asarray(params, dtype=float)
    out = dict(index=int(index), params=params, arrays=None, error=None)
    try:
        arrays = _sersic_arrays(params, settings) if family == "sersic" else _family_arrays(params, settings)
        out["arrays"] = dict(params=params, **arrays)
    except Exception as exc:  # recorded and skipped, never stored
        out["error"] = f"{type(exc).__name__}: {exc}".strip()[:500]
        log.debug("map %d failed: %s", index, traceback.format_exc())
    out["seconds"] = time.perf_counter() - t0
    return out


def _check_positive_map(name, values):
    bad = ~np.isfinite(values) | (values <= 0)
    if np.any(bad):
        raise FloatingPointError(f"JAM returned {int(np.sum(bad))} non-finite or non-positive values of {name}")


def _sersic_arrays(params, settings):
    from .physics.mge import unit_sersic_mge

    n, q_obs, inc, beta, sig, pix = (float(p) for p in params)
    f = dimensionless_map(n, q_obs, inc, beta, sig, pix, settings)
    _check_positive_map("f", f)
    surf, sigma = unit_sersic_mge(n)
    return dict(f=f, image=grid.photometry_image(surf / q_obs, sigma, np.full(sigma.size, q_obs)))


def _family_arrays(params, settings):
    from .family import family_mge, pad_mge
    from .jam import ANCHOR_BETAS, dimensionless_linear_maps

    mge = family_mge(params)
    a, b = dimensionless_linear_maps(mge, params[1], params[2], params[3], settings)
    for beta in ANCHOR_BETAS:  # the two jampy maps themselves
        _check_positive_map(f"f^2 at beta_z = {beta}", a + b / (1 - beta))
    return dict(mge=pad_mge(*mge), a=a, b=b)


@dataclass
class SimulationSummary:
    """What a generator run did.

    Attributes
    ----------
    n_requested, n_done_before, n_computed, n_failed : int
        Maps in the design, already finished at start, computed now, failed now.
    wall_seconds : float
        Wall time of this run.
    jam_seconds : float
        Summed JAM time of the maps computed now.
    workers : int
        Number of parallel workers (1 for serial).
    """

    n_requested: int
    n_done_before: int
    n_computed: int
    n_failed: int
    wall_seconds: float
    jam_seconds: float
    workers: int

    @property
    def maps_per_second(self):
        return self.n_computed / self.wall_seconds if self.wall_seconds > 0 else float("nan")

    @property
    def maps_per_second_per_worker(self):
        return self.maps_per_second / max(self.workers, 1)

    def __str__(self):
        return (f"{self.n_computed} maps computed ({self.n_failed} failed), {self.n_done_before} already done, "
                f"{self.n_requested} in the design; {self.wall_seconds:.1f} s wall, "
                f"{self.maps_per_second:.3g} maps/s, {self.maps_per_second_per_worker:.3g} maps/s per worker "
                f"({self.workers} workers), mean JAM time {self.jam_seconds / max(self.n_computed, 1):.3g} s/map")


def dataset_meta(n_maps, seed, space, settings, family="sersic"):
    """Metadata stored with a training set."""
    import h5py
    import jampy
    import mgefit

    from . import __version__

    from .family import FAMILY_PARAM_NAMES, NGAUSS_COMPONENT
    from .jam import ANCHOR_BETAS

    extra = {}
    if family == "mge":
        extra = dict(family="mge", fields=["params", "mge", "a", "b"], ngauss_component=NGAUSS_COMPONENT,
                     anchor_betas=list(ANCHOR_BETAS), maps="f^2 = a + b / (1 - beta_z)")
    return dict(
        format_version=1,
        design="sobol",
        n_maps=int(n_maps),
        seed=int(seed),
        param_names=list(FAMILY_PARAM_NAMES if family == "mge" else PARAM_NAMES),
        space=space.as_dict(),
        grid=dict(field_half_re=grid.FIELD_HALF, nr=grid.NR, ntheta=grid.NTHETA, r_min_re=grid.R_MIN,
                  image_size=grid.IMAGE_SIZE),
        jam_settings=settings.as_dict(),
        versions=dict(fastjam=__version__, jampy=jampy.__version__, mgefit=mgefit.__version__,
                      h5py=h5py.__version__),
        jam_options=dict(align="cyl", moment="zz", self_consistent=True, mbh=0.0),
        **extra,
    )


def simulate(out, n_maps, seed, workers=2, scheduler=None, resume=False, space=None,
             settings=DEFAULT_SETTINGS, progress=True, consolidate_every=256, family="sersic"):
    """Generate (or continue) a training set of JAM maps.

    Parameters
    ----------
    out : str or Path
        Output directory (see :mod:`fastjam.dataset`).
    n_maps : int
        Number of maps in the design.
    seed : int
        Seed of the Sobol design.
    workers : int
        Local Dask workers (processes, one thread each); 0 runs serially in this process.
    scheduler : str, optional
        Address of an existing Dask scheduler (``tcp://host:8786``); overrides ``workers``.
    resume : bool
        Continue an existing output directory.
    space : ParameterSpace or FamilySpace, optional
        The design's ranges (default: those of ``family``).
    settings : JAMSettings
    progress : bool
        Show a tqdm progress bar.
    consolidate_every : int
        Parts gathered into a shard after this many finished maps.
    family : {"sersic", "mge"}
        Single-Sérsic maps of V_RMS at one beta_z (:mod:`fastjam.design`), or the
        multi-component MGE family with the two maps of JAM's linear decomposition
        (:mod:`fastjam.family`, two jampy calls per map).

    Returns
    -------
    SimulationSummary
    """
    from .dataset import DatasetWriter

    n_maps = int(n_maps)
    if n_maps < 1:
        raise ValueError(f"--n must be >= 1, got {n_maps}")
    if workers < 0:
        raise ValueError(f"--workers must be >= 0, got {workers}")
    if family not in ("sersic", "mge"):
        raise ValueError(f"--family must be 'sersic' or 'mge', got {family!r}")
    if family == "mge":
        from .family import FamilySpace, family_design

        space = space or FamilySpace()
        design = family_design(n_maps, seed, space)
    else:
        space = space or ParameterSpace()
        design = sobol_design(n_maps, seed, space)
    writer = DatasetWriter(out, dataset_meta(n_maps, seed, space, settings, family), resume=resume)
    done = writer.done_indices()
    todo = [i for i in range(n_maps) if i not in done]
    log.info("%d maps in the design, %d done, %d to compute", n_maps, len(done), len(todo))
    t0 = time.perf_counter()
    n_failed = 0
    jam_seconds = 0.0
    since = 0
    jobs = [(i, design[i], settings, family) for i in todo]
    try:
        with WorkerPool(workers if todo else 0, scheduler if todo else None) as pool:
            n_workers = pool.workers
            for res in pool.as_completed(compute_map, jobs, progress=progress, unit="map", total=n_maps,
                                         initial=n_maps - len(todo), failed=has_error, lost=_lost_map):
                jam_seconds += res["seconds"]
                if res["error"] is None:
                    writer.write_map(res["index"], res["arrays"], res["seconds"])
                else:
                    n_failed += 1
                    writer.write_failure(res["index"], res["params"], res["error"])
                    log.warning("map %d failed and is skipped: %s", res["index"], res["error"])
                since += 1
                if since >= consolidate_every:
                    writer.consolidate()
                    since = 0
    finally:
        writer.consolidate()
    return SimulationSummary(n_maps, len(done), len(todo), n_failed, time.perf_counter() - t0, jam_seconds,
                             n_workers)


def _lost_map(job, message):
    """The result of a map whose worker died under it (:meth:`WorkerPool.as_completed`'s ``lost``):
    recorded as a failure with its design parameters, like a map jampy refused."""
    index, params = job[0], job[1]
    return dict(index=int(index), params=params, arrays=None, error=message, seconds=0.0)

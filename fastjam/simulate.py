"""Training-set generator: JAM maps over a Sobol design (or given design points), in parallel with Dask,
resumable.

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
        the 14 parameters of :data:`fastjam.family.FAMILY_PARAM_NAMES` (and ``outer_radius`` for a
        truncated design, :attr:`fastjam.family.FamilySpace.param_names`).
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


def explicit_design(points, family="sersic"):
    """Validated design points given by the caller (e.g. chosen where emulators disagree) and their hash.

    Parameters
    ----------
    points : array_like, shape (N, P)
        One row per map, ``PARAM_NAMES`` (Sérsic) or ``FAMILY_PARAM_NAMES`` (MGE family) order.

    Returns
    -------
    design : ndarray, shape (N, P)
    sha256 : str
        Hash of the float64 values, stored in the set's metadata so that a resumed run checks that its
        design is the same.
    """
    import hashlib

    from .family import FAMILY_PARAM_NAMES

    names = FAMILY_PARAM_NAMES if family == "mge" else PARAM_NAMES
    design = np.ascontiguousarray(points, dtype=np.float64)
    if design.ndim != 2 or design.shape[0] < 1 or design.shape[1] != len(names):
        raise ValueError(f"design points must have shape (N >= 1, {len(names)}) for family {family!r} "
                         f"({', '.join(names)}), got {design.shape}")
    if not np.all(np.isfinite(design)):
        raise ValueError(f"design points must be finite: row {int(np.argwhere(~np.isfinite(design))[0, 0])} is not")
    return design, hashlib.sha256(design.tobytes()).hexdigest()


def dataset_meta(n_maps, seed, space, settings, family="sersic", design_sha256=None):
    """Metadata stored with a training set (``design_sha256``: of explicit design points, else a Sobol design)."""
    import h5py
    import jampy
    import mgefit

    from . import __version__

    from .family import NGAUSS_COMPONENT
    from .jam import ANCHOR_BETAS

    extra = {}
    if family == "mge":
        extra = dict(family="mge", fields=["params", "mge", "a", "b"], ngauss_component=NGAUSS_COMPONENT,
                     anchor_betas=list(ANCHOR_BETAS), maps="f^2 = a + b / (1 - beta_z)")
    return dict(
        format_version=1,
        design="explicit" if design_sha256 else "sobol",
        **(dict(design_sha256=design_sha256) if design_sha256 else {}),
        n_maps=int(n_maps),
        seed=None if seed is None else int(seed),
        param_names=list(space.param_names if family == "mge" else PARAM_NAMES),
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
             settings=DEFAULT_SETTINGS, progress=True, consolidate_every=256, family="sersic", design=None):
    """Generate (or continue) a training set of JAM maps.

    Parameters
    ----------
    out : str or Path
        Output directory (see :mod:`fastjam.dataset`).
    n_maps : int or None
        Number of maps in the design (None with ``design``: all its points).
    seed : int or None
        Seed of the Sobol design (recorded, unused, with ``design``; may then be None).
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
    design : array_like, shape (N, P), optional
        Explicit design points instead of the Sobol design (:func:`explicit_design`); ``space`` is then
        only recorded.

    Returns
    -------
    SimulationSummary
    """
    from .dataset import DatasetWriter

    if family not in ("sersic", "mge"):
        raise ValueError(f"--family must be 'sersic' or 'mge', got {family!r}")
    sha = None
    if design is not None:
        design, sha = explicit_design(design, family)
        if n_maps is not None and int(n_maps) != len(design):
            raise ValueError(f"--n {n_maps} differs from the {len(design)} design points given")
        n_maps = len(design)
    n_maps = int(n_maps)
    if n_maps < 1:
        raise ValueError(f"--n must be >= 1, got {n_maps}")
    if workers < 0:
        raise ValueError(f"--workers must be >= 0, got {workers}")
    if family == "mge":
        from .family import FamilySpace, family_design

        space = space or FamilySpace()
        design = family_design(n_maps, seed, space) if design is None else design
    else:
        space = space or ParameterSpace()
        design = sobol_design(n_maps, seed, space) if design is None else design
    writer = DatasetWriter(out, dataset_meta(n_maps, seed, space, settings, family, sha), resume=resume)
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

"""Fit an observed V_RMS map: data + galaxy + priors + forward model -> posterior.

The Python API in five lines::

    from fastjam.config import load_config
    from fastjam.fit import fit
    result = fit(load_config("galaxy.toml"), backend="numpyro")
    print(result.table())
    result.save("out/")        # summary, NetCDF, corner plot, maps, traces
"""
import logging
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .galaxy import FWHM_PER_SIGMA, Galaxy, Sersic
from .model import PARAMETERS, Likelihood, Priors, emulator_coherent_error, emulator_error_at
from .physics import grid
from .physics.mge import MGE
from .posterior import Posterior
from .result import FitResult, physical_idata, posterior_idata, summarize

log = logging.getLogger(__name__)


def build_galaxy(cfg):
    """The :class:`~fastjam.galaxy.Galaxy` of a validated configuration."""
    g = cfg["galaxy"]
    sigma_psf = g.get("sigma_psf", g.get("fwhm_psf", 0.0) / FWHM_PER_SIGMA)
    if "mge" in g:
        return Galaxy(read_mge(g["mge"]), g["distance"], sigma_psf, g["pixsize"])
    l_tot = g.get("l_tot")
    if l_tot is None:
        l_tot = Sersic.luminosity_from_magnitude(g["magnitude"], g["distance"], g["m_sun"], g["extinction"])
    return Galaxy(Sersic(g["sersic_n"], g["r_e"], g["q_obs"], l_tot), g["distance"], sigma_psf, g["pixsize"])


def read_mge(path):
    """An MGE from a text file with columns surf [Lsun/pc^2], sigma [arcsec], q_obs (``#`` comments)."""
    import warnings

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # numpy warns about an empty file; the check below says it
            table = np.loadtxt(path, ndmin=2)
    except FileNotFoundError:
        raise ValueError(f"MGE file {path} does not exist") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise ValueError(f"MGE file {path} is not a table of numbers: {exc}") from None
    if table.shape[1] != 3 or table.shape[0] == 0:
        raise ValueError(f"MGE file {path} must have 3 columns (surf [Lsun/pc^2], sigma [arcsec], q_obs) and at least "
                         f"one row, got shape {table.shape}")
    return MGE(*table.T)


def load_kinematics(cfg):
    """Read the data named in the configuration (:mod:`fastjam.io`)."""
    from . import io

    d, pa = cfg["data"], cfg["galaxy"]["pa"]
    if not Path(d["path"]).is_file():
        raise ValueError(f"[data] path {d['path']} {'is a directory' if Path(d['path']).is_dir() else 'does not exist'}")
    if d["format"] == "text":
        return io.read_text(d["path"], pa_deg=pa)
    if d["format"] == "fits":
        kw = {k: d[k] for k in ("vrms_ext", "err_ext") if k in d}
        if d.get("cube"):
            if "err_ext" in d:
                raise ValueError("[data] cube = true reads V_RMS and error from one cube: remove err_ext")
            kw["err_ext"] = None
        return io.read_fits(d["path"], pa_deg=pa, **kw)
    return io.read_manga_maps(d["path"], pa_deg=pa)


@dataclass
class Problem:
    """One galaxy's data and its :class:`~fastjam.posterior.Posterior` (what the samplers need).

    Attributes
    ----------
    galaxy : Galaxy
    x, y : ndarray, shape (p,)
        Positions of the bins used [arcsec].
    vrms, vrms_err : ndarray, shape (p,)
        Data [km/s].
    posterior : Posterior
        Padded to a bucket size when ``buckets`` is given (its log density is the same).
    forward : str
        "emulator" or "jam".
    selected : ndarray of int
        Indices of the bins used among the ``n_input`` bins read.
    n_input : int
    buckets : tuple of int, optional
        Bucket sizes the JAX posterior is padded to (:func:`fastjam.emulator.jax_model.bucket_size`).
    novelty : NoveltyCurve, optional
        How far the galaxy lies from a general emulator's training maps, by inclination
        (:mod:`fastjam.emulator.novelty`); None for the Sérsic emulator and JAM.
    error_band : dict, optional
        The novelty band to whose error model the likelihood's is raised where larger (:func:`error_band`);
        None for the card's overall one alone.
    """

    galaxy: Galaxy
    x: np.ndarray
    y: np.ndarray
    vrms: np.ndarray
    vrms_err: np.ndarray
    posterior: Posterior
    forward: str
    selected: np.ndarray
    n_input: int
    buckets: tuple = None
    novelty: object = None
    error_band: dict = None

    @property
    def error_percentiles(self):
        """The novelty percentiles [lo, hi] of :attr:`error_band`, or None."""
        return self.error_band["percentiles"] if self.error_band else None

    @property
    def priors(self):
        return self.posterior.priors

    @property
    def likelihood(self):
        """The likelihood of the data bins (without padding)."""
        return self.posterior.likelihood.unpadded()

    @property
    def log_density(self):
        return self.posterior.log_density

    @property
    def vrms_fn(self):
        """The bound forward model (on the padded bins when ``buckets`` is set: use
        ``posterior.vrms`` for the data bins)."""
        return self.posterior.model

    @property
    def xp(self):
        return self.posterior.xp


def build_problem(cfg, forward=None, emulator=None, keep=None, buckets=None, novelty=None):
    """Set up data, priors, likelihood and forward model.

    Parameters
    ----------
    cfg : dict
        Validated configuration (:func:`fastjam.config.load_config`).
    forward : {"emulator", "jam"}, optional
        Forward model (default: the configuration's, "emulator").
    emulator : Emulator or GeneralEmulator, optional
        Default: ``[forward] emulator`` of the configuration, else the default of the galaxy's
        photometry (:meth:`fastjam.emulator.Emulator.load`): the shipped Sérsic emulator for a
        Sérsic galaxy, the general one (``$FASTJAM_EMULATOR_MGE`` or ``data/emulator_mge``) for
        an MGE and for a Sérsic galaxy whose set-up the Sérsic one was not trained on
        (:func:`fastjam.emulator.model.for_galaxy`, also when a default Sérsic emulator is given).
    keep : ndarray of bool, optional
        Bins to use (after outlier clipping).
    buckets : tuple of int, optional
        Pad the emulator's posterior to the smallest of these sizes that holds the bins, so that
        galaxies of the same bucket share compiled functions (:mod:`fastjam.posterior`).
    novelty : NoveltyCurve, optional
        The galaxy's novelty curve when already computed (it depends on the photometry and
        set-up only, not on the bins); computed here otherwise.

    Returns
    -------
    Problem
    """
    kin = load_kinematics(cfg)
    if cfg["data"]["format"] == "manga":
        from .config import with_header_defaults
        from .io import manga_galaxy_defaults

        cfg = with_header_defaults(cfg, manga_galaxy_defaults(kin.meta), f"the MAPS header of {cfg['data']['path']}")
    galaxy = build_galaxy(cfg)
    x, y, vrms, err = kin.x, kin.y, kin.vrms, kin.vrms_err
    forward = forward or cfg["forward"]["model"]
    r_e = None
    if forward == "emulator":
        from .emulator.model import for_galaxy

        emulator = for_galaxy(emulator, galaxy, cfg["forward"].get("emulator"))
        r_e = emulator.effective_radius(galaxy)
    sel = _selected_bins(cfg, x, y, r_e)
    if keep is not None:
        sel = sel & keep
    x, y, vrms, err = x[sel], y[sel], vrms[sel], err[sel]
    pr = cfg["priors"]
    priors = Priors(galaxy.q_obs, tuple(pr["ml"]), pr["ml_prior"] == "log-uniform", pr["beta_z_min"],
                    pr["q_intr_min"], pr["inclination"] == "isotropic")
    if novelty is None and forward == "emulator" and hasattr(emulator, "novelty"):
        novelty = emulator.novelty(galaxy)
    band = None
    if forward == "emulator":
        priors = emulator.priors_within(priors, galaxy)
        model = emulator.bind(galaxy, x, y)
        lk = cfg["likelihood"]
        band = error_band(novelty) if lk["emulator_error"] or lk["coherent_error"] else None
        frac = emulator_error_at(emulator.card, np.hypot(x, y) / r_e, band) if lk["emulator_error"] else np.zeros(x.size)
        coherent = emulator_coherent_error(emulator.card, band) if lk["coherent_error"] else 0.0
    else:
        from .jam import JAMModel

        model = JAMModel().bind(galaxy, x, y)
        frac = np.zeros(x.size)
        coherent = 0.0
    pad = bool(buckets) and forward == "emulator"
    xp = np if pad else model.xp  # padding makes numpy copies: no per-galaxy shapes on the device
    lik = Likelihood(xp.asarray(vrms), xp.asarray(err), xp.asarray(frac), cfg["likelihood"]["systematic"],
                     coherent_sigma=coherent)
    posterior = Posterior(priors, lik, model, galaxy.total_luminosity)
    if pad:
        from .emulator.jax_model import bucket_size

        posterior = posterior.padded(bucket_size(x.size, buckets))
    return Problem(galaxy, x, y, vrms, err, posterior, forward, np.flatnonzero(sel), int(sel.size), buckets, novelty,
                   band)


def error_band(novelty):
    """The novelty band to whose error model the likelihood's is raised (where larger,
    :func:`fastjam.model.emulator_error_at`) for a galaxy with novelty curve ``novelty`` (a
    :class:`fastjam.emulator.novelty.NoveltyCurve`, or None): that of its median novelty over the
    inclinations of its prior (:meth:`~fastjam.emulator.novelty.NoveltyCurve.median`). None (the card's
    overall error model alone) without a curve or when the card's bands carry no error model."""
    if novelty is None:
        return None
    mid = novelty.median()
    if not (mid.band or {}).get("error_model"):
        return None
    log.info("emulator error model raised to the held-out maps' at novelty percentiles %g-%g (the galaxy's median "
             "over its prior: %.1f, at i = %.0f deg)", *mid.band["percentiles"], mid.percentile, mid.inclination)
    return mid.band


def _selected_bins(cfg, x, y, r_e):
    """Bins inside the emulated field of |x|, |y| <= 2.5 ``r_e`` [arcsec] (all for JAM, ``r_e`` None); raises
    unless dropping is allowed."""
    if r_e is None:
        return np.ones(x.size, bool)
    inside = grid.inside_field(x / r_e, y / r_e)
    n_out = int(np.sum(~inside))
    if n_out:
        if n_out == x.size:
            raise ValueError(f"all {x.size} bins lie beyond the emulated field |x|, |y| <= {grid.FIELD_HALF} R_e = "
                             f"{grid.FIELD_HALF * r_e:.3g} arcsec: positions not in arcsec, or r_e too small?")
        if not cfg["data"]["drop_outside_field"]:
            raise ValueError(f"{n_out} of {x.size} bins lie beyond the emulated field |x|, |y| <= "
                             f"{grid.FIELD_HALF} R_e = {grid.FIELD_HALF * r_e:.3g} arcsec: set "
                             "[data] drop_outside_field = true to drop them, or use the JAM forward model")
        log.warning("dropping %d bins beyond the emulated field (|x|, |y| > %.3g arcsec)", n_out,
                    grid.FIELD_HALF * r_e)
    return inside


def find_map(problem, n_starts=4, seed=0):
    """Maximum a posteriori theta (:meth:`fastjam.posterior.Posterior.find_map`)."""
    return problem.posterior.find_map(problem.vrms, problem.vrms_err, n_starts, seed)


def clip_outliers(cfg, problem, emulator=None, max_iter=10):
    """Iterative outlier clipping (as in jampy's examples): drop bins with
    :math:`|d - m| > k\\,\\sigma` at the MAP model and refit, until no bin is dropped.

    Returns
    -------
    problem : Problem
        With the outliers removed.
    theta : ndarray
        Its MAP point.
    """
    k = cfg["likelihood"]["clip_sigma"]
    theta = find_map(problem, seed=cfg["sampler"]["seed"])
    for _ in range(max_iter):
        model = problem.posterior.model_vrms(theta)
        sigma = np.sqrt(problem.vrms_err**2 + problem.likelihood.systematic**2)
        good = np.abs(problem.vrms - model) <= k * sigma
        if np.all(good):
            break
        log.info("clipping %d outlier bins at %.1f sigma", int(np.sum(~good)), k)
        keep = np.zeros(problem.n_input, bool)
        keep[problem.selected[good]] = True
        problem = build_problem(cfg, problem.forward, emulator, keep=keep, buckets=problem.buckets,
                                novelty=problem.novelty)
        theta = find_map(problem, seed=cfg["sampler"]["seed"])
    return problem, theta


def fit(cfg, backend=None, emulator=None, forward=None, progress=True, sampler_kwargs=None, strict=False,
        buckets=None):
    """Sample the posterior of (inclination, beta_z, M/L) for one galaxy.

    Sampling stops when every parameter reaches the target bulk ESS and R-hat
    (``[sampler] ess``, ``r_hat``) or at the cap (``steps`` for emcee, ``samples`` for NUTS).

    Parameters
    ----------
    cfg : dict
        Validated configuration (:func:`fastjam.config.load_config`).
    backend : {"emcee", "numpyro"}, optional
        Overrides ``[sampler] backend``.
    emulator : Emulator, optional
        Default: ``[forward] emulator`` of the configuration, else the shipped emulator.
    forward : {"emulator"}, optional
        Forward model sampled here: the emulator. The JAM posterior ("jam") is computed
        exactly from JAM's linear terms by :func:`fastjam.exact_fit.fit_exact`, not sampled.
    progress : bool
    sampler_kwargs : dict, optional
        Extra backend options (e.g. ``pool`` for emcee, ``dense_mass`` for NUTS; ``checkpoint``, a
        file the run resumes from).
    strict : bool
        Raise on every warning of :mod:`fastjam.diagnostics` (data warnings before sampling;
        after it, :class:`~fastjam.diagnostics.ChecksFailed` carrying the result).
    buckets : tuple of int, optional
        Pad the emulator's bins to these sizes (e.g. :data:`fastjam.emulator.jax_model.BUCKETS`):
        every later galaxy of a bucket reuses the compiled log density, gradient and NUTS loop
        of this process. The same posterior, but float32 sums over more terms: not bit-identical
        to an unpadded fit with the same seed.

    Returns
    -------
    FitResult
        With ``checks``, the goodness of fit and warnings.

    Raises
    ------
    ValueError
        Bad input, a data error (V_RMS <= 0, too few bins) found before sampling, or
        ``forward = "jam"``.
    """
    from . import diagnostics
    from .samplers import Target, get_sampler

    backend = backend or cfg["sampler"]["backend"]
    timings, t0 = {}, time.perf_counter()
    forward = forward or cfg["forward"]["model"]
    if forward == "jam":
        raise ValueError("forward = 'jam': the JAM posterior is computed exactly, not sampled: call "
                         "fastjam.exact_fit.fit_exact(cfg) (fastjam fit --forward jam)")
    compile_seconds = _compile_clock(forward)
    c0 = compile_seconds()
    problem = build_problem(cfg, forward, emulator, buckets=buckets)
    timings["setup"] = time.perf_counter() - t0
    before = diagnostics.data_findings(problem)
    diagnostics.raise_on(before, strict)
    t1 = time.perf_counter()
    if cfg["likelihood"]["clip_sigma"] > 0:
        problem, theta0 = clip_outliers(cfg, problem, emulator)
    else:
        theta0 = find_map(problem, seed=cfg["sampler"]["seed"])
    timings["map"] = time.perf_counter() - t1
    s = cfg["sampler"]
    kw = dict(seed=s["seed"], progress=progress, target=Target(s["ess"], s["r_hat"]),
              monitor=lambda theta: np.stack([problem.posterior.to_physical(theta)[k] for k in PARAMETERS], -1))
    if backend == "emcee":
        kw.update(walkers=s["walkers"], steps=s["steps"], burn=s.get("burn"), vectorize=problem.posterior.is_jax)
    else:
        kw.update(chains=s["chains"], warmup=s["warmup"], samples=s["samples"])
    kw.update(sampler_kwargs or {})
    sampler = get_sampler(backend, **kw)
    t1 = time.perf_counter()
    result = sampler.run(problem.posterior, theta0)
    timings["sampling"] = time.perf_counter() - t1
    timings["compilation"] = compile_seconds() - c0
    log.info("%s sampled in %.1f s", backend, timings["sampling"])
    t1 = time.perf_counter()
    idata = posterior_idata(problem, result, backend)
    summary = summarize(idata)
    timings["summary"] = time.perf_counter() - t1
    flat = result.log_density.reshape(-1)
    best = result.theta.reshape(-1, 3)[int(np.argmax(flat))]
    truth = {k: float(v) for k, v in cfg.get("truth", {}).items()}
    out = FitResult(idata, summary, backend, result.seconds, result.n_evaluations, result.diagnostics,
                    problem, best, truth, timings)
    out.checks = diagnostics.diagnose_fit(out, seed=s["seed"])
    diagnostics.report(out, before, strict)
    return out


def _compile_clock(forward):
    """Enable JAX's persistent compilation cache and return the compile-time clock (JAX fits only)."""
    if forward != "emulator":
        return lambda: 0.0
    from .compilation import compile_seconds, enable_cache

    enable_cache()
    return compile_seconds


__all__ = ["FitResult", "PARAMETERS", "build_galaxy", "build_problem", "fit", "load_kinematics", "physical_idata",
           "summarize"]

"""Fit an observed V_RMS map: data + galaxy + priors + forward model -> posterior.

The Python API in five lines::

    from fastjam.config import load_config
    from fastjam.fit import fit
    result = fit(load_config("galaxy.toml"), backend="numpyro")
    print(result.table())
    result.save("out/")        # summary, NetCDF, corner plot, maps, traces
"""
import json
import logging
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .galaxy import FWHM_PER_SIGMA, Galaxy, Sersic
from .model import PARAMETERS, Likelihood, Priors, emulator_coherent_error, emulator_error_at, make_log_density
from .physics import grid
from .physics.mge import MGE
from .physics.geometry import qintr_from_inclination

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
    if d["format"] == "text":
        return io.read_text(d["path"], pa_deg=pa)
    if d["format"] == "fits":
        kw = {k: d[k] for k in ("vrms_ext", "err_ext") if k in d}
        return io.read_fits(d["path"], pa_deg=pa, **kw)
    return io.read_manga_maps(d["path"], pa_deg=pa)


@dataclass
class Problem:
    """Everything the samplers need, for one galaxy and one forward model."""

    galaxy: Galaxy
    x: np.ndarray
    y: np.ndarray
    vrms: np.ndarray
    vrms_err: np.ndarray
    priors: Priors
    likelihood: Likelihood
    vrms_fn: object
    log_density: object
    xp: object
    forward: str
    selected: np.ndarray
    n_input: int


def build_problem(cfg, forward=None, emulator=None, keep=None):
    """Set up data, priors, likelihood and forward model.

    Parameters
    ----------
    cfg : dict
        Validated configuration (:func:`fastjam.config.load_config`).
    forward : {"emulator", "jam"}, optional
        Forward model (default: the configuration's, "emulator").
    emulator : Emulator, optional
        Default: the shipped one.
    keep : ndarray of bool, optional
        Bins to use (after outlier clipping).

    Returns
    -------
    Problem
    """
    galaxy = build_galaxy(cfg)
    kin = load_kinematics(cfg)
    x, y, vrms, err = kin.x, kin.y, kin.vrms, kin.vrms_err
    forward = forward or cfg["forward"]["model"]
    if isinstance(galaxy.photometry, MGE):
        if forward == "emulator":
            raise ValueError("the emulator is trained on Sérsic photometry only: an MGE galaxy needs the JAM forward "
                             "model ([forward] model = \"jam\", sampled with emcee)")
        inside = np.ones(x.size, bool)
    else:
        r_e = galaxy.photometry.r_e
        inside = grid.inside_field(x / r_e, y / r_e)
    n_out = int(np.sum(~inside))
    if forward == "emulator" and n_out:
        if not cfg["data"]["drop_outside_field"]:
            raise ValueError(f"{n_out} of {x.size} bins lie beyond the emulated field |x|, |y| <= "
                             f"{grid.FIELD_HALF} R_e = {grid.FIELD_HALF * r_e:.3g} arcsec: set "
                             "[data] drop_outside_field = true to drop them, or use the JAM forward model")
        log.warning("dropping %d bins beyond the emulated field (|x|, |y| > %.3g arcsec)", n_out,
                    grid.FIELD_HALF * r_e)
    sel = inside if forward == "emulator" else np.ones(x.size, bool)
    if keep is not None:
        sel = sel & keep
    x, y, vrms, err = x[sel], y[sel], vrms[sel], err[sel]
    pr = cfg["priors"]
    priors = Priors(galaxy.q_obs, tuple(pr["ml"]), pr["ml_prior"] == "log-uniform", pr["beta_z_min"],
                    pr["q_intr_min"], pr["inclination"] == "isotropic")
    if forward == "emulator":
        import jax.numpy as jnp

        from .emulator.jax_model import make_vrms_function
        from .emulator.model import Emulator

        emulator = emulator or Emulator.load()
        priors = priors.within_emulator(emulator.space)
        vrms_fn = make_vrms_function(emulator, galaxy, x, y)
        frac = (emulator_error_at(emulator.card, np.hypot(x, y) / r_e) if cfg["likelihood"]["emulator_error"]
                else np.zeros(x.size))
        coherent = emulator_coherent_error(emulator.card) if cfg["likelihood"]["coherent_error"] else 0.0
        xp = jnp
    else:
        from .jam import JAMModel

        jam = JAMModel()

        def vrms_fn(inclination, beta_z, ml):
            return jam.vrms(galaxy, float(inclination), float(beta_z), float(ml), x, y)[0]

        frac = np.zeros(x.size)
        coherent = 0.0
        xp = np
    lik = Likelihood(xp.asarray(vrms), xp.asarray(err), xp.asarray(frac), cfg["likelihood"]["systematic"], coherent)
    return Problem(galaxy, x, y, vrms, err, priors, lik, vrms_fn, make_log_density(priors, lik, vrms_fn, xp), xp,
                   forward, np.flatnonzero(sel), int(sel.size))


def find_map(problem, n_starts=4, seed=0):
    """Maximum a posteriori theta by L-BFGS from a few starts (M/L started at its analytic best fit)."""
    from scipy.optimize import minimize

    pri = problem.priors
    rng = np.random.default_rng(seed)
    if problem.xp is np:
        fun = lambda t: -float(problem.log_density(t))  # noqa: E731
        jac = None
    else:
        import jax

        vg = jax.jit(jax.value_and_grad(lambda t: -problem.log_density(t)))

        def fun(t):
            v, g = vg(t)
            return float(v), np.asarray(g, dtype=float)

        jac = True
    best = None
    i0 = pri.inclination_min
    for k in range(n_starts):
        inc = i0 + (90 - i0) * (0.5 if k == 0 else rng.uniform(0.1, 0.95))
        beta = 0.0 if k == 0 else rng.uniform(pri.beta_z_min, float(pri.beta_max(inc, np)))
        beta = min(max(beta, pri.beta_z_min + 1e-3), float(pri.beta_max(inc, np)) - 1e-3)
        m1 = np.asarray(problem.vrms_fn(inc, beta, 1.0), dtype=float)
        w = 1 / problem.vrms_err**2
        ml = float(np.clip((np.sum(w * problem.vrms * m1) / np.sum(w * m1**2)) ** 2, *np.array(pri.ml_range) *
                           [1.0001, 0.9999]))
        t0 = pri.inverse(inc, beta, ml)
        res = minimize(fun, t0, jac=jac, method="L-BFGS-B" if jac else "Nelder-Mead")
        if best is None or res.fun < best.fun:
            best = res
    return np.asarray(best.x, dtype=float)


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
        inc, beta, ml, _ = problem.priors.transform(theta)
        model = np.asarray(problem.vrms_fn(inc, beta, ml), dtype=float)
        sigma = np.sqrt(problem.vrms_err**2 + problem.likelihood.systematic**2)
        good = np.abs(problem.vrms - model) <= k * sigma
        if np.all(good):
            break
        log.info("clipping %d outlier bins at %.1f sigma", int(np.sum(~good)), k)
        keep = np.zeros(problem.n_input, bool)
        keep[problem.selected[good]] = True
        problem = build_problem(cfg, problem.forward, emulator, keep=keep)
        theta = find_map(problem, seed=cfg["sampler"]["seed"])
    return problem, theta


@dataclass
class FitResult:
    """Posterior of one fit.

    Attributes
    ----------
    idata : arviz.InferenceData
        Posterior of inclination [deg], beta_z, ml [Msun/Lsun] and derived q_intr and
        log10 dynamical mass [Msun]; ``sample_stats.lp``.
    summary : dict
        Per variable: median, p16, p84, mean, sd, r_hat, ess_bulk, ess_tail.
    backend : str
    seconds : float
        Sampling wall time.
    n_evaluations : int
        Log-density (or gradient) evaluations.
    diagnostics : dict
    problem : Problem
    best_theta : ndarray
        Highest-posterior sample (unconstrained).
    truth : dict
    """

    idata: object
    summary: dict
    backend: str
    seconds: float
    n_evaluations: int
    diagnostics: dict
    problem: Problem = field(repr=False)
    best_theta: np.ndarray = field(repr=False)
    truth: dict = field(default_factory=dict)

    @property
    def best_params(self):
        inc, beta, ml, _ = self.problem.priors.transform(self.best_theta)
        return dict(inclination=float(inc), beta_z=float(beta), ml=float(ml))

    def best_model(self):
        """Model V_RMS (km/s) at the data bins for the highest-posterior sample."""
        p = self.best_params
        return np.asarray(self.problem.vrms_fn(p["inclination"], p["beta_z"], p["ml"]), dtype=float)

    def table(self):
        """Plain-text summary: median, 16th/84th percentiles, R-hat, ESS."""
        lines = [f"{'parameter':<16s}{'median':>11s}{'p16':>11s}{'p84':>11s}{'r_hat':>8s}{'ess_bulk':>10s}"
                 + ("{:>10s}".format("truth") if self.truth else "")]
        for name, s in self.summary.items():
            row = (f"{name:<16s}{s['median']:>11.4g}{s['p16']:>11.4g}{s['p84']:>11.4g}{s['r_hat']:>8.3f}"
                   f"{s['ess_bulk']:>10.0f}")
            if self.truth:
                row += f"{self.truth[name]:>10.4g}" if name in self.truth else f"{'':>10s}"
            lines.append(row)
        lines.append(f"backend {self.backend}: {self.seconds:.1f} s sampling, {self.n_evaluations} evaluations "
                     f"({self.n_evaluations / max(self.seconds, 1e-9):.3g}/s); {self.problem.x.size} bins, "
                     f"forward model {self.problem.forward}")
        lines.append("log10_mass = log10(M/L x L_tot) [Msun]: M/L and the mass scale as 1/D and D for L_tot from "
                     "an apparent magnitude; as D and D^2 with L_tot held fixed")
        return "\n".join(lines)

    def save(self, out):
        """Write summary (txt + json), posterior (NetCDF), best-fit model, corner, maps and trace plots.

        Every file is written to a temporary name and renamed, so an interrupted save never
        leaves a truncated file.
        """
        from . import plots

        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        _atomic_text(out / "summary.txt", self.table() + "\n")
        _atomic_text(out / "summary.json", json.dumps(dict(
            backend=self.backend, seconds=self.seconds, n_evaluations=self.n_evaluations,
            diagnostics=self.diagnostics, summary=self.summary, best=self.best_params, truth=self.truth,
            forward=self.problem.forward, n_bins=int(self.problem.x.size)), indent=2))
        tmp = out / f"posterior.nc.tmp{os.getpid()}"
        self.idata.to_netcdf(str(tmp))
        os.replace(tmp, out / "posterior.nc")
        model = self.best_model()
        table = np.column_stack([self.problem.x, self.problem.y, self.problem.vrms, self.problem.vrms_err, model])
        tmpm = out / f"best_model.txt.tmp{os.getpid()}"
        np.savetxt(tmpm, table, header="x[arcsec] y[arcsec] Vrms[km/s] eVrms[km/s] model[km/s]", fmt="%.6g")
        os.replace(tmpm, out / "best_model.txt")
        plots.save(plots.corner_plot(self.idata, self.truth), out / "corner.png")
        plots.save(plots.maps_plot(self.problem.x, self.problem.y, self.problem.vrms, model, self.problem.vrms_err),
                   out / "maps.png")
        plots.save(plots.trace_plot(self.idata), out / "trace.png")


def _atomic_text(path, text):
    tmp = Path(f"{path}.tmp{os.getpid()}")
    tmp.write_text(text)
    os.replace(tmp, path)


def _arviz():
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # the import announces arviz's refactor
        import arviz

    return arviz


def posterior_idata(problem, result, backend):
    """arviz InferenceData of the physical and derived parameters."""
    az = _arviz()

    inc, beta, ml, _ = problem.priors.transform(result.theta)
    q_obs = problem.galaxy.q_obs
    posterior = dict(inclination=inc, beta_z=beta, ml=ml, q_intr=qintr_from_inclination(q_obs, inc),
                     log10_mass=np.log10(ml * problem.galaxy.total_luminosity))
    return az.from_dict(posterior=posterior, sample_stats=dict(lp=result.log_density),
                        attrs=dict(backend=backend, forward=problem.forward))


def summarize(idata):
    """Median, 16/84 percentiles, mean, sd, R-hat and ESS of every posterior variable."""
    az = _arviz()

    diag = az.summary(idata, kind="diagnostics")
    out = {}
    for name, da in idata.posterior.data_vars.items():
        v = np.asarray(da).ravel()
        p16, med, p84 = np.percentile(v, [16, 50, 84])
        out[name] = dict(median=float(med), p16=float(p16), p84=float(p84), mean=float(v.mean()),
                         sd=float(v.std()), r_hat=float(diag.loc[name, "r_hat"]),
                         ess_bulk=float(diag.loc[name, "ess_bulk"]), ess_tail=float(diag.loc[name, "ess_tail"]))
    return out


def fit(cfg, backend=None, emulator=None, forward=None, progress=True, sampler_kwargs=None):
    """Sample the posterior of (inclination, beta_z, M/L) for one galaxy.

    Parameters
    ----------
    cfg : dict
        Validated configuration (:func:`fastjam.config.load_config`).
    backend : {"emcee", "numpyro"}, optional
        Overrides ``[sampler] backend``.
    emulator : Emulator, optional
        Default: the shipped emulator.
    forward : {"emulator", "jam"}, optional
        Forward model; "jam" runs jampy in the likelihood (slow; emcee only, not vectorised).
    progress : bool
    sampler_kwargs : dict, optional
        Extra backend options (e.g. ``pool``, ``checkpoint`` for emcee).

    Returns
    -------
    FitResult
    """
    from samplers import get_sampler

    backend = backend or cfg["sampler"]["backend"]
    problem = build_problem(cfg, forward, emulator)
    if cfg["likelihood"]["clip_sigma"] > 0:
        problem, theta0 = clip_outliers(cfg, problem, emulator)
    else:
        theta0 = find_map(problem, seed=cfg["sampler"]["seed"])
    s = cfg["sampler"]
    kw = dict(seed=s["seed"], progress=progress)
    if backend == "emcee":
        kw.update(walkers=s["walkers"], steps=s["steps"], burn=s.get("burn"),
                  vectorize=problem.xp is not np)
    else:
        if problem.xp is np:
            raise ValueError("the numpyro backend needs a JAX forward model (the emulator), not jampy")
        kw.update(chains=s["chains"], warmup=s["warmup"], samples=s["samples"])
    kw.update(sampler_kwargs or {})
    sampler = get_sampler(backend, **kw)
    t0 = time.perf_counter()
    result = sampler.run(problem.log_density, theta0)
    log.info("%s sampled in %.1f s", backend, time.perf_counter() - t0)
    idata = posterior_idata(problem, result, backend)
    flat = result.log_density.reshape(-1)
    best = result.theta.reshape(-1, 3)[int(np.argmax(flat))]
    truth = {k: float(v) for k, v in cfg.get("truth", {}).items()}
    return FitResult(idata, summarize(idata), backend, result.seconds, result.n_evaluations, result.diagnostics,
                     problem, best, truth)


__all__ = ["FitResult", "PARAMETERS", "build_galaxy", "build_problem", "fit", "load_kinematics"]

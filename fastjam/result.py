"""The result of a fit: the posterior as arviz InferenceData, its summary, and saving.

:class:`FitResult` is what :func:`fastjam.fit.fit` returns (and the exact JAM posterior of
:mod:`fastjam.exact_fit`); :func:`physical_idata` turns posterior samples of (inclination,
beta_z, M/L) into InferenceData with the derived q_intr and log10 mass, and :func:`summarize`
gives the medians, percentiles, R-hat and ESS of every variable.
"""
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .atomic import atomic_path, write_json, write_text
from .model import PARAMETERS
from .samplers.base import walkers_as_chains

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
    problem : fastjam.fit.Problem
    best_theta : ndarray
        Highest-posterior sample (unconstrained).
    truth : dict
    timings : dict
        Wall seconds of the stages: ``setup``, ``map``, ``sampling``, ``summary`` (arviz
        tables), ``compilation`` (JAX tracing and compiling, inside the other stages),
        ``writing`` (after :meth:`save`).
    checks : FitChecks
        Goodness of fit, predictive check and warnings (:mod:`fastjam.diagnostics`).
    """

    idata: object
    summary: dict
    backend: str
    seconds: float
    n_evaluations: int
    diagnostics: dict
    problem: object = field(repr=False)
    best_theta: np.ndarray = field(repr=False)
    truth: dict = field(default_factory=dict)
    timings: dict = field(default_factory=dict)
    checks: object = None

    @property
    def posterior(self):
        return self.problem.posterior

    @property
    def best_params(self):
        p = self.posterior.to_physical(self.best_theta)
        return {k: float(p[k]) for k in PARAMETERS}

    @property
    def forward_model(self):
        """"jam", "emulator (sersic)" or "emulator (general)": which model gave the posterior."""
        kind = getattr(self.problem.vrms_fn, "kind", None)
        return f"{self.problem.forward} ({kind})" if kind else self.problem.forward

    def best_model(self):
        """Model V_RMS (km/s) at the data bins for the highest-posterior sample."""
        return self.posterior.model_vrms(self.best_theta)

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
                     f"forward model {self.forward_model}")
        lines.append("log10_mass = log10(M/L x L_tot) [Msun]: M/L and the mass scale as 1/D and D for L_tot from "
                     "an apparent magnitude; as D and D^2 with L_tot held fixed")
        if self.checks is not None:
            lines += self.checks.lines()
        return "\n".join(lines)

    def save(self, out, plots=True):
        """Write summary (txt + json), posterior (NetCDF), best-fit model, corner, maps and trace plots.

        Every file is written to a temporary name and renamed, so an interrupted save never
        leaves a truncated file, and a ``SAVING`` marker stays in ``out`` if the save is killed
        half-way (old and new files may then be mixed). ``plots=False`` skips the three figures
        (the slowest part).
        """
        from .rundir import saving

        t0 = time.perf_counter()
        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        with saving(out):
            self._write(out, plots, t0)

    def _write(self, out, plots, t0):
        from . import plots as figures

        write_text(out / "summary.txt", self.table() + "\n")
        with atomic_path(out / "posterior.nc") as tmp:
            self.idata.to_netcdf(str(tmp))
        model = self.best_model()
        table = np.column_stack([self.problem.x, self.problem.y, self.problem.vrms, self.problem.vrms_err, model])
        with atomic_path(out / "best_model.txt") as tmp:
            np.savetxt(tmp, table, header="x[arcsec] y[arcsec] Vrms[km/s] eVrms[km/s] model[km/s]", fmt="%.6g")
        if plots:
            figures.save(figures.corner_plot(self.idata, self.truth), out / "corner.png")
            sigma = np.sqrt(np.asarray(self.problem.likelihood.variance(model), dtype=float))
            figures.save(figures.maps_plot(self.problem.x, self.problem.y, self.problem.vrms, model, sigma),
                         out / "maps.png")
            figures.save(figures.trace_plot(self.idata), out / "trace.png")
        self.timings["writing"] = time.perf_counter() - t0  # all but summary.json itself
        write_json(out / "summary.json", dict(
            backend=self.backend, seconds=self.seconds, n_evaluations=self.n_evaluations,
            diagnostics=self.diagnostics, summary=self.summary, best=self.best_params, truth=self.truth,
            forward=self.problem.forward, forward_model=self.forward_model, n_bins=int(self.problem.x.size),
            timings=self.timings, emulator_error_band=self.problem.error_percentiles,
            **(self.checks.to_dict() if self.checks is not None else {})))


def _arviz():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # the import announces arviz's refactor
        import arviz

    return arviz


def physical_idata(galaxy, inclination, beta_z, ml, lp=None, **attrs):
    """arviz InferenceData of posterior samples in the physical parameters, with the derived
    q_intr and log10 dynamical mass [Msun].

    Parameters
    ----------
    galaxy : Galaxy
    inclination, beta_z, ml : ndarray, shape (chains, draws) or (draws,)
        Degrees, anisotropy, Msun/Lsun.
    lp : ndarray, optional
        Log posterior density of each sample (``sample_stats.lp``).
    **attrs
        Attributes of the InferenceData (e.g. ``backend``, ``forward``).
    """
    from .posterior import physical_parameters

    az = _arviz()
    inc, beta, ml = (np.atleast_2d(np.asarray(v, dtype=float)) for v in (inclination, beta_z, ml))
    posterior = physical_parameters(galaxy.q_obs, galaxy.total_luminosity, inc, beta, ml)
    stats = dict(lp=np.atleast_2d(lp)) if lp is not None else None
    with walkers_as_chains():
        return az.from_dict(posterior=posterior, sample_stats=stats, attrs=attrs)


def posterior_idata(problem, result, backend):
    """arviz InferenceData of the physical and derived parameters; for an ensemble sampler the
    attribute ``r_hat_walker_groups`` says how many groups of walkers R-hat compares."""
    post = problem.posterior.to_physical(result.theta)
    groups = result.diagnostics.get("r_hat_groups")
    attrs = dict(backend=backend, forward=problem.forward) | ({"r_hat_walker_groups": int(groups)} if groups else {})
    return physical_idata(problem.galaxy, post["inclination"], post["beta_z"], post["ml"], result.log_density,
                          **attrs)


def summarize(idata):
    """Median, 16/84 percentiles, mean, sd, R-hat and ESS of every posterior variable.

    ESS is arviz's over the chains as stored. R-hat is arviz's over the chains, or, when
    ``idata.attrs["r_hat_walker_groups"]`` is set (emcee), over that many groups of walkers
    pooled (:func:`fastjam.samplers.emcee_backend.group_walkers`), as the sampler's stopping
    rule measures it: single walkers are too short and too correlated with each other.
    """
    from .samplers.emcee_backend import group_walkers

    az = _arviz()
    diag = az.summary(idata, kind="diagnostics")
    groups = idata.attrs.get("r_hat_walker_groups")
    out = {}
    for name, da in idata.posterior.data_vars.items():
        v = np.asarray(da).ravel()
        p16, med, p84 = np.percentile(v, [16, 50, 84])
        r_hat = diag.loc[name, "r_hat"] if not groups else az.rhat(group_walkers(np.asarray(da), int(groups)))
        out[name] = dict(median=float(med), p16=float(p16), p84=float(p84), mean=float(v.mean()),
                         sd=float(v.std()), r_hat=float(r_hat),
                         ess_bulk=float(diag.loc[name, "ess_bulk"]), ess_tail=float(diag.loc[name, "ess_tail"]))
    return out


__all__ = ["FitResult", "physical_idata", "posterior_idata", "summarize"]

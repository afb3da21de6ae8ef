"""One side of the comparison: a posterior with its effective sample size and its cost.

The emulator side is a normal :func:`fastjam.fit.fit`; the JAM side is made by
:mod:`fastjam.compare.reference`.
"""
import time
from dataclasses import dataclass, field

import numpy as np

from ..model import PARAMETERS, Likelihood


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


def samples_of(idata):
    """Posterior samples of :data:`~fastjam.model.PARAMETERS` as an array of shape (N, 3)."""
    return np.column_stack([np.asarray(idata.posterior[p]).ravel() for p in PARAMETERS])


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
    from ..fit import fit

    t0 = time.perf_counter()
    res = fit(cfg, backend=backend, emulator=emulator, forward="emulator", progress=progress)
    wall = time.perf_counter() - t0
    ess = {p: res.summary[p]["ess_bulk"] for p in PARAMETERS}
    side = Side(samples_of(res.idata), res.idata, ess, time_emulator_call(res.problem, res.best_theta),
                res.n_evaluations, res.seconds, wall, res.best_params, res.best_model(),
                dict(backend=res.backend, **res.diagnostics))
    return side, res


def jam_likelihood(problem):
    """The likelihood of ``problem``'s bins without the emulator's model-error term (NumPy),
    as the JAM reference uses it."""
    p = problem.x.size
    return Likelihood(np.asarray(problem.vrms, dtype=float), np.asarray(problem.vrms_err, dtype=float), np.zeros(p),
                      float(problem.likelihood.systematic))


__all__ = ["Side", "jam_likelihood", "run_emulator", "samples_of", "time_emulator_call"]

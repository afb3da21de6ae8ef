"""Base class of the sampler backends and the stopping rule they share."""
import warnings
from abc import ABC, abstractmethod
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np


@dataclass
class SamplerResult:
    """Samples of the unconstrained parameters and what the backend measured.

    Attributes
    ----------
    theta : ndarray, shape (chains, draws, 3)
        Unconstrained samples after warm-up / burn-in.
    log_density : ndarray, shape (chains, draws)
    n_evaluations : int
        Calls of the log-density (gradient evaluations for NUTS).
    seconds : float
        Wall time of the sampling.
    diagnostics : dict
        Backend-specific: autocorrelation times, acceptance, divergences, the stopping rule's
        last ESS and R-hat, ...
    """

    theta: np.ndarray
    log_density: np.ndarray
    n_evaluations: int
    seconds: float
    diagnostics: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Target:
    """Stop sampling when every monitored quantity has bulk ESS >= ``ess`` and R-hat < ``r_hat``.

    ``ess = 0`` turns the rule off (the backend runs to its cap). ESS and R-hat are arviz's
    rank-normalised estimates (Vehtari et al. 2021, Bayesian Analysis 16, 667).
    """

    ess: float = 1000.0
    r_hat: float = 1.01

    def __post_init__(self):
        if self.ess < 0 or not self.r_hat > 1:
            raise ValueError(f"target ESS must be >= 0 and R-hat > 1, got {self.ess}, {self.r_hat}")

    @property
    def active(self):
        return self.ess > 0

    def measure(self, chains, ess_chains=None):
        """Minimum bulk ESS and maximum R-hat of samples.

        Parameters
        ----------
        chains : ndarray, shape (chains, draws, k)
            For R-hat.
        ess_chains : ndarray, shape (chains', draws', k), optional
            For the ESS (default: ``chains``).
        """
        import arviz as az

        ess_chains = chains if ess_chains is None else ess_chains
        with walkers_as_chains():
            ess = min(float(az.ess(ess_chains[..., j], method="bulk")) for j in range(chains.shape[-1]))
            r_hat = max(float(az.rhat(chains[..., j])) for j in range(chains.shape[-1]))
        return ess, r_hat

    def met(self, ess, r_hat):
        return self.active and ess >= self.ess and r_hat < self.r_hat


class Sampler(ABC):
    """A posterior sampler.

    Parameters
    ----------
    seed : int
        Seed of every random choice of the backend.
    progress : bool
        Show a progress bar.
    target : Target
        When to stop before the cap on iterations.
    monitor : callable, optional
        ``monitor(theta (..., 3)) -> (..., k)`` numpy quantities whose ESS and R-hat are
        watched (e.g. the physical parameters); default: theta itself.
    """

    name = "base"

    def __init__(self, seed=0, progress=True, target=Target(), monitor=None):
        self.seed = int(seed)
        self.progress = bool(progress)
        self.target = target
        self.monitor = monitor or (lambda theta: np.asarray(theta))

    @abstractmethod
    def run(self, posterior, theta0):
        """Sample ``posterior`` starting near ``theta0`` (3,).

        ``posterior`` is a :class:`fastjam.posterior.Posterior`, or any log-density function
        of theta (a JAX function for NUTS and the vectorised emcee; a picklable callable for
        emcee with a pool).

        Returns
        -------
        SamplerResult
        """

    @staticmethod
    def _log_density(posterior):
        return getattr(posterior, "log_density", posterior)

    def _initial_ball(self, theta0, n, scale=1e-2):
        rng = np.random.default_rng(self.seed)
        return np.asarray(theta0, dtype=float) + scale * rng.standard_normal((n, np.size(theta0)))


@contextmanager
def walkers_as_chains():
    """Silence arviz's guess that arrays with more chains than draws are transposed: an ensemble
    sampler's many walkers with few draws each are stored the right way round."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="More chains", category=UserWarning)
        yield

"""Base class of the sampler backends."""
from abc import ABC, abstractmethod
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
        Backend-specific: autocorrelation times, acceptance, divergences, ...
    """

    theta: np.ndarray
    log_density: np.ndarray
    n_evaluations: int
    seconds: float
    diagnostics: dict = field(default_factory=dict)


class Sampler(ABC):
    """A posterior sampler.

    Parameters
    ----------
    seed : int
        Seed of every random choice of the backend.
    progress : bool
        Show a progress bar.
    """

    name = "base"

    def __init__(self, seed=0, progress=True):
        self.seed = int(seed)
        self.progress = bool(progress)

    @abstractmethod
    def run(self, log_density, theta0):
        """Sample ``log_density`` (a JAX function of theta, shape (3,)) starting near ``theta0``.

        Returns
        -------
        SamplerResult
        """

    def _initial_ball(self, theta0, n, scale=1e-2):
        rng = np.random.default_rng(self.seed)
        return np.asarray(theta0, dtype=float) + scale * rng.standard_normal((n, np.size(theta0)))

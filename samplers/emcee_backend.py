"""emcee (Foreman-Mackey et al. 2013) backend: affine-invariant ensemble, all walkers in one
batched (``jax.vmap``, jit-compiled) log-density call per step."""
import logging
import time

import numpy as np

from .base import Sampler, SamplerResult

log = logging.getLogger(__name__)


class EmceeSampler(Sampler):
    """emcee's ensemble sampler.

    Parameters
    ----------
    walkers : int
        Number of walkers (>= 2 x 3 parameters).
    steps : int
        Steps per walker, burn-in included.
    burn : int
        Steps discarded as burn-in (default: steps // 3).
    thin : int
        Keep every ``thin``-th step.
    vectorize : bool
        Evaluate all walkers in one call (JAX ``vmap``); False calls the density per walker,
        optionally through ``pool``.
    pool : object, optional
        A ``map``-providing pool (multiprocessing, schwimmbad) for a non-vectorised density.
    checkpoint : str, optional
        emcee HDF5 backend file: the chain is saved as it grows and a run resumes from it.
    seed, progress : see :class:`Sampler`.
    """

    name = "emcee"

    def __init__(self, walkers=32, steps=3000, burn=None, thin=1, vectorize=True, pool=None, checkpoint=None,
                 seed=0, progress=True):
        super().__init__(seed, progress)
        if walkers < 6 or walkers % 2:
            raise ValueError(f"emcee needs an even number of walkers >= 6, got {walkers}")
        if steps < 2:
            raise ValueError(f"steps must be >= 2, got {steps}")
        self.walkers, self.steps, self.thin = int(walkers), int(steps), int(thin)
        self.burn = int(steps // 3 if burn is None else burn)
        if not 0 <= self.burn < self.steps:
            raise ValueError(f"burn must be in [0, steps), got {self.burn}")
        self.vectorize, self.pool, self.checkpoint = vectorize, pool, checkpoint

    def run(self, log_density, theta0):
        import emcee

        if self.vectorize:
            import jax

            batched = jax.jit(jax.vmap(log_density))

            def log_prob(theta):
                return np.asarray(batched(theta), dtype=float)
        else:
            log_prob = log_density
        backend = None
        start = self._initial_ball(theta0, self.walkers)
        steps = self.steps
        if self.checkpoint is not None:
            backend = emcee.backends.HDFBackend(str(self.checkpoint))
            if backend.initialized and backend.iteration > 0:
                if backend.shape != start.shape:
                    raise ValueError(f"checkpoint {self.checkpoint} holds {backend.shape[0]} walkers in "
                                     f"{backend.shape[1]} dimensions, not {start.shape[0]} in {start.shape[1]}")
                start = None  # emcee continues from the last sample and its saved random state
                steps = max(self.steps - backend.iteration, 0)
                log.info("resuming the emcee chain at step %d of %d", backend.iteration, self.steps)
            else:
                backend.reset(self.walkers, start.shape[1])
        sampler = emcee.EnsembleSampler(self.walkers, np.size(theta0), log_prob, vectorize=self.vectorize,
                                        pool=None if self.vectorize else self.pool, backend=backend)
        sampler.random_state = np.random.RandomState(self.seed).get_state()
        sampler.log_prob_fn = log_prob  # emcee's own wrapper prints a traceback on every exception, Ctrl-C included
        t0 = time.perf_counter()
        if steps:
            sampler.run_mcmc(start, steps, progress=self.progress)
        seconds = time.perf_counter() - t0
        chain = sampler.get_chain(discard=self.burn, thin=self.thin)  # (draws, walkers, 3)
        lp = sampler.get_log_prob(discard=self.burn, thin=self.thin)
        tau = sampler.get_autocorr_time(discard=self.burn, tol=0)
        kept = self.steps - self.burn
        diagnostics = dict(
            autocorr_time=tau.tolist(),
            converged=bool(np.all(kept > 50 * tau)),
            acceptance_fraction=float(np.mean(sampler.acceptance_fraction)),
            walkers=self.walkers, steps=self.steps, burn=self.burn,
        )
        if not diagnostics["converged"]:
            log.warning("emcee: the kept chain (%d steps) is shorter than 50 autocorrelation times (tau = %s)",
                        kept, np.round(tau, 1))
        return SamplerResult(np.swapaxes(chain, 0, 1), lp.T, int(self.walkers * steps), seconds, diagnostics)

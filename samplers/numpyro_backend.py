"""NumPyro backend: the No-U-Turn Sampler (Hoffman & Gelman 2014) on the same potential,
several chains, jit-compiled, gradients by JAX."""
import logging
import time

import numpy as np

from .base import Sampler, SamplerResult
from .checkpoint import load_checkpoint, save_checkpoint

log = logging.getLogger(__name__)


class NumPyroSampler(Sampler):
    """NUTS with NumPyro.

    Parameters
    ----------
    chains : int
        Number of chains (run vectorised on one device).
    warmup, samples : int
        Warm-up (adaptation) and kept iterations per chain.
    target_accept : float
        Target acceptance probability of the step-size adaptation.
    checkpoint : str, optional
        File holding the sampler state and the draws so far, rewritten every ``chunk`` kept
        iterations; a run resumes from it (:mod:`samplers.checkpoint`).
    chunk : int, optional
        Kept iterations between checkpoints (default: samples // 4, at least 1). Each chunk
        recompiles NumPyro's sampling loop (seconds), hence few chunks.
    seed, progress : see :class:`Sampler`.
    """

    name = "numpyro"

    def __init__(self, chains=4, warmup=1000, samples=1000, target_accept=0.8, checkpoint=None, chunk=None, seed=0,
                 progress=True):
        super().__init__(seed, progress)
        if chains < 1 or warmup < 1 or samples < 1:
            raise ValueError(f"chains, warmup and samples must be >= 1, got {chains}, {warmup}, {samples}")
        self.chains, self.warmup, self.samples = int(chains), int(warmup), int(samples)
        self.target_accept = float(target_accept)
        self.checkpoint = checkpoint
        self.chunk = int(chunk or max(self.samples // 4, 1)) if checkpoint else self.samples

    def run(self, log_density, theta0):
        import jax
        import jax.numpy as jnp
        from numpyro.infer import MCMC, NUTS

        def potential(theta):
            return -log_density(theta)

        kernel = NUTS(potential_fn=potential, target_accept_prob=self.target_accept)
        mcmc = MCMC(kernel, num_warmup=self.warmup, num_samples=self.chunk, num_chains=self.chains,
                    chain_method="vectorized", progress_bar=self.progress)
        init = jnp.asarray(self._initial_ball(theta0, self.chains, scale=0.1))
        fields = ("potential_energy", "diverging", "num_steps")
        t0 = time.perf_counter()
        draws = load_checkpoint(self.checkpoint)
        if draws is None:
            mcmc.run(jax.random.PRNGKey(self.seed), init_params=init if self.chains > 1 else init[0],
                     extra_fields=fields)
            draws, state = _collect(mcmc, {}), mcmc.last_state
        else:
            state = jax.tree_util.tree_map(jnp.asarray, draws.pop("state"))
            log.info("resuming NUTS after %d of %d kept iterations", draws["theta"].shape[1], self.samples)
        while draws["theta"].shape[1] < self.samples:
            save_checkpoint(self.checkpoint, dict(draws, state=jax.device_get(state)))
            mcmc.post_warmup_state = state
            mcmc.run(state.rng_key, init_params=state.z, extra_fields=fields)  # init_params sets up the kernel
            draws, state = _collect(mcmc, draws), mcmc.last_state
        draws = {k: v[:, :self.samples] for k, v in draws.items()}
        theta = draws["theta"]
        seconds = time.perf_counter() - t0
        extra = draws
        num_steps = np.asarray(extra["num_steps"])
        diagnostics = dict(
            divergences=int(np.sum(np.asarray(extra["diverging"]))),
            mean_tree_steps=float(np.mean(num_steps)),
            chains=self.chains, warmup=self.warmup, samples=self.samples,
        )
        # gradient evaluations: kept iterations counted exactly, warm-up assumed of the same mean cost
        n_eval = int(np.sum(num_steps) * (1 + self.warmup / self.samples))
        return SamplerResult(theta.reshape(self.chains, self.samples, -1),
                             -np.asarray(extra["potential_energy"], dtype=float).reshape(self.chains, self.samples),
                             n_eval, seconds, diagnostics)


def _collect(mcmc, draws):
    """Append the last run's draws (chains, iterations, ...) to ``draws`` (numpy arrays by name)."""
    new = dict(theta=mcmc.get_samples(group_by_chain=True), **mcmc.get_extra_fields(group_by_chain=True))
    new = {k: np.asarray(v) for k, v in new.items()}
    return {k: np.concatenate([draws[k], v], axis=1) if k in draws else v for k, v in new.items()}

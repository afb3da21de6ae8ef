"""NumPyro backend: the No-U-Turn Sampler (Hoffman & Gelman 2014) on the same potential,
several chains, jit-compiled, gradients by JAX."""
import time

import numpy as np

from .base import Sampler, SamplerResult


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
    seed, progress : see :class:`Sampler`.
    """

    name = "numpyro"

    def __init__(self, chains=4, warmup=1000, samples=1000, target_accept=0.8, seed=0, progress=True):
        super().__init__(seed, progress)
        if chains < 1 or warmup < 1 or samples < 1:
            raise ValueError(f"chains, warmup and samples must be >= 1, got {chains}, {warmup}, {samples}")
        self.chains, self.warmup, self.samples = int(chains), int(warmup), int(samples)
        self.target_accept = float(target_accept)

    def run(self, log_density, theta0):
        import jax
        import jax.numpy as jnp
        from numpyro.infer import MCMC, NUTS

        def potential(theta):
            return -log_density(theta)

        kernel = NUTS(potential_fn=potential, target_accept_prob=self.target_accept)
        mcmc = MCMC(kernel, num_warmup=self.warmup, num_samples=self.samples, num_chains=self.chains,
                    chain_method="vectorized", progress_bar=self.progress)
        init = jnp.asarray(self._initial_ball(theta0, self.chains, scale=0.1))
        t0 = time.perf_counter()
        mcmc.run(jax.random.PRNGKey(self.seed), init_params=init if self.chains > 1 else init[0],
                 extra_fields=("potential_energy", "diverging", "num_steps"))
        theta = np.asarray(mcmc.get_samples(group_by_chain=True), dtype=float)
        seconds = time.perf_counter() - t0
        extra = mcmc.get_extra_fields(group_by_chain=True)
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

"""NumPyro backend: the No-U-Turn Sampler (Hoffman & Gelman 2014) on the same potential,
several chains vectorised on one device, jit-compiled, gradients by JAX, a dense mass matrix
(the (inclination, beta_z) pair is strongly correlated), drawn in rounds until a target ESS
and R-hat are reached or up to a cap."""
import logging
import time

import numpy as np

from .base import Sampler, SamplerResult, Target

log = logging.getLogger(__name__)


class NumPyroSampler(Sampler):
    """NUTS with NumPyro.

    Parameters
    ----------
    chains : int
        Number of chains (run vectorised on one device).
    warmup : int
        Warm-up (adaptation) iterations per chain.
    samples : int
        Maximum kept iterations per chain.
    check_every : int
        Iterations per chain between two checks of the target (the first round is this long).
    dense_mass : bool
        Adapt a dense mass matrix (default) or a diagonal one.
    target_accept : float
        Target acceptance probability of the step-size adaptation.
    seed, progress, target, monitor : see :class:`~samplers.base.Sampler`.
    """

    name = "numpyro"

    def __init__(self, chains=4, warmup=500, samples=5000, check_every=250, dense_mass=True, target_accept=0.8,
                 seed=0, progress=True, target=Target(), monitor=None):
        super().__init__(seed, progress, target, monitor)
        if chains < 1 or warmup < 1 or samples < 1:
            raise ValueError(f"chains, warmup and samples must be >= 1, got {chains}, {warmup}, {samples}")
        self.chains, self.warmup, self.samples = int(chains), int(warmup), int(samples)
        self.check_every = max(int(check_every), 1)
        self.dense_mass, self.target_accept = bool(dense_mass), float(target_accept)

    def run(self, posterior, theta0):
        import jax
        import jax.numpy as jnp
        from numpyro.infer import MCMC, NUTS

        log_density = self._log_density(posterior)

        def potential(theta):
            return -log_density(theta)

        kernel = NUTS(potential_fn=potential, target_accept_prob=self.target_accept, dense_mass=self.dense_mass)
        rounds = self.check_every if self.target.active else self.samples
        mcmc = MCMC(kernel, num_warmup=self.warmup, num_samples=min(rounds, self.samples), num_chains=self.chains,
                    chain_method="vectorized", progress_bar=self.progress)
        init = jnp.asarray(self._initial_ball(theta0, self.chains, scale=0.1))
        t0 = time.perf_counter()
        mcmc.run(jax.random.PRNGKey(self.seed), init_params=init if self.chains > 1 else init[0],
                 extra_fields=("potential_energy", "diverging", "num_steps"))
        parts, ess, r_hat = [self._collect(mcmc)], float("nan"), float("nan")
        while True:
            theta = np.concatenate([p[0] for p in parts], axis=1)
            if self.target.active:
                ess, r_hat = self.target.measure(self.monitor(theta))
            left = self.samples - theta.shape[1]
            if left <= 0 or self.target.met(ess, r_hat):
                break
            mcmc.post_warmup_state = mcmc.last_state  # continue the chains: same step size and mass matrix
            mcmc.run(mcmc.post_warmup_state.rng_key, extra_fields=("potential_energy", "diverging", "num_steps"))
            parts.append(self._collect(mcmc))
        seconds = time.perf_counter() - t0
        theta = theta[:, : self.samples]  # the last round may pass the cap
        lp = np.concatenate([p[1] for p in parts], axis=1)[:, : self.samples]
        num_steps = np.concatenate([p[2] for p in parts], axis=1)
        divergences = int(sum(p[3] for p in parts))
        n_draws = theta.shape[1]
        diagnostics = dict(divergences=divergences, mean_tree_steps=float(np.mean(num_steps)), chains=self.chains,
                           warmup=self.warmup, samples=n_draws, max_samples=self.samples, dense_mass=self.dense_mass,
                           target=dict(ess=self.target.ess, r_hat=self.target.r_hat), ess_bulk_min=ess,
                           r_hat_max=r_hat, converged=bool(self.target.met(ess, r_hat)))
        if self.target.active and not diagnostics["converged"]:
            log.warning("NUTS stopped at the cap of %d samples per chain before the target (ESS %.0f >= %.0f, R-hat "
                        "%.3f < %.3f): raise [sampler] samples", n_draws, ess, self.target.ess, r_hat,
                        self.target.r_hat)
        # gradient evaluations: kept iterations counted exactly, warm-up assumed of the same mean cost
        n_eval = int(np.sum(num_steps) * (1 + self.warmup / n_draws))
        return SamplerResult(theta, lp, n_eval, seconds, diagnostics)

    def _collect(self, mcmc):
        theta = np.asarray(mcmc.get_samples(group_by_chain=True), dtype=float).reshape(self.chains, -1, 3)
        extra = mcmc.get_extra_fields(group_by_chain=True)
        lp = -np.asarray(extra["potential_energy"], dtype=float).reshape(self.chains, -1)
        steps = np.asarray(extra["num_steps"]).reshape(self.chains, -1)
        return theta, lp, steps, int(np.sum(np.asarray(extra["diverging"])))

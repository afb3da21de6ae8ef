"""NumPyro backend: the No-U-Turn Sampler (Hoffman & Gelman 2014) on the same potential,
several chains vectorised on one device, gradients by JAX, a dense mass matrix (the
(inclination, beta_z) pair is strongly correlated), drawn in rounds until a target ESS and
R-hat are reached or up to a cap.

NumPyro's NUTS kernel is driven by one jit-compiled ``lax.scan`` over ``check_every``
iterations, the same program for every round of warm-up and sampling (``numpyro.infer.MCMC``
compiles again for each continued run). The posterior is an argument of the compiled
programs, not a constant in them, so a process compiles them once per sampler settings and
posterior shapes: every later galaxy of the same (padded) number of bins reuses them."""
import functools
import logging
import math
import time

import numpy as np

from .base import Sampler, SamplerResult, Target
from .checkpoint import load_checkpoint, save_checkpoint

log = logging.getLogger(__name__)


class NumPyroSampler(Sampler):
    """NUTS with NumPyro.

    Parameters
    ----------
    chains : int
        Number of chains (run vectorised on one device).
    warmup : int
        Warm-up (adaptation) iterations per chain, rounded up to a multiple of ``check_every``.
    samples : int
        Maximum kept iterations per chain.
    check_every : int
        Iterations per chain in one round (the target is checked after each round).
    dense_mass : bool
        Adapt a dense mass matrix (default) or a diagonal one.
    target_accept : float
        Target acceptance probability of the step-size adaptation.
    checkpoint : str, optional
        File holding the sampler state and the draws so far, rewritten after every round; a run
        resumes from it (:mod:`fastjam.samplers.checkpoint`) and continues exactly as an
        uninterrupted run with the same seed.
    seed, progress, target, monitor : see :class:`~samplers.base.Sampler`.
    """

    name = "numpyro"

    def __init__(self, chains=4, warmup=500, samples=5000, check_every=250, dense_mass=True, target_accept=0.8,
                 checkpoint=None, seed=0, progress=True, target=Target(), monitor=None):
        super().__init__(seed, progress, target, monitor)
        if chains < 1 or warmup < 1 or samples < 1:
            raise ValueError(f"chains, warmup and samples must be >= 1, got {chains}, {warmup}, {samples}")
        self.chains, self.samples = int(chains), int(samples)
        self.check_every = min(max(int(check_every), 1), self.samples)
        self.warmup = self.check_every * math.ceil(int(warmup) / self.check_every)
        self.dense_mass, self.target_accept = bool(dense_mass), float(target_accept)
        self.checkpoint = checkpoint

    def _kernel(self, posterior):
        """(init, advance) of this sampler's settings, and ``posterior`` as their first argument."""
        import jax

        if not hasattr(posterior, "log_density"):  # a plain log-density function: a static pytree
            posterior = jax.tree_util.Partial(posterior)
        return _programs(max(self.chains, 2), self.warmup, self.dense_mass, self.target_accept), posterior

    def _measure(self, parts):
        """(bulk ESS, R-hat) of the kept draws so far (NaN before the first round or without a target)."""
        if not parts or not self.target.active:
            return float("nan"), float("nan")
        theta = np.concatenate([p[0] for p in parts], axis=1)
        return self.target.measure(self.monitor(np.asarray(theta, dtype=float)))

    def run(self, posterior, theta0):
        import jax
        from tqdm.auto import tqdm

        import jax.numpy as jnp

        (init, advance), target = self._kernel(posterior)
        t0 = time.perf_counter()
        start = jnp.asarray(self._initial_ball(theta0, max(self.chains, 2), scale=0.1))
        state, warm, parts = init(target, jax.random.PRNGKey(self.seed), start), 0, []
        saved = load_checkpoint(self.checkpoint)
        if saved is not None:
            state, warm, parts = jax.tree_util.tree_map(jnp.asarray, saved["state"]), saved["warmup"], saved["parts"]
            log.info("resuming NUTS after %d warm-up and %d kept iterations", warm, len(parts) * self.check_every)
        n_draws = len(parts) * self.check_every
        bar = tqdm(total=self.warmup + self.samples, initial=warm + n_draws, disable=not self.progress, unit="it",
                   desc="NUTS")
        while warm < self.warmup:
            state, _ = advance(target, state, self.check_every)
            warm += self.check_every
            save_checkpoint(self.checkpoint, dict(state=jax.device_get(state), warmup=warm, parts=parts))
            bar.update(self.check_every)
        ess, r_hat = self._measure(parts)
        while n_draws < self.samples and not self.target.met(ess, r_hat):
            state, out = advance(target, state, self.check_every)
            parts.append([np.swapaxes(np.asarray(a), 0, 1)[: self.chains] for a in out])  # (chains, draws, ...)
            n_draws += self.check_every
            save_checkpoint(self.checkpoint, dict(state=jax.device_get(state), warmup=warm, parts=parts))
            bar.update(self.check_every)
            ess, r_hat = self._measure(parts)
            bar.set_postfix(ess=f"{ess:.0f}", r_hat=f"{r_hat:.3f}")
        bar.close()
        seconds = time.perf_counter() - t0
        theta, energy, num_steps, diverging = (np.concatenate([p[k] for p in parts], axis=1)[:, : self.samples]
                                               for k in range(4))
        n_draws = theta.shape[1]
        diagnostics = dict(divergences=int(np.sum(diverging)), mean_tree_steps=float(np.mean(num_steps)),
                           chains=self.chains, warmup=self.warmup, samples=n_draws, max_samples=self.samples,
                           dense_mass=self.dense_mass, target=dict(ess=self.target.ess, r_hat=self.target.r_hat),
                           ess_bulk_min=ess, r_hat_max=r_hat, converged=bool(self.target.met(ess, r_hat)))
        if self.target.active and not diagnostics["converged"]:
            log.warning("NUTS stopped at the cap of %d samples per chain before the target (ESS %.0f >= %.0f, R-hat "
                        "%.3f < %.3f): raise [sampler] samples", n_draws, ess, self.target.ess, r_hat,
                        self.target.r_hat)
        # gradient evaluations: kept iterations counted exactly, warm-up assumed of the same mean cost
        n_eval = int(np.sum(num_steps) * (1 + self.warmup / n_draws))
        return SamplerResult(np.asarray(theta, dtype=float), -np.asarray(energy, dtype=float), n_eval, seconds,
                             diagnostics)


def _potential(posterior):
    """NumPyro's potential energy, minus the log density of ``posterior`` (a traced pytree)."""
    log_density = getattr(posterior, "log_density", posterior)
    return lambda theta: -log_density(theta)


@functools.lru_cache(maxsize=None)
def _programs(chains, warmup, dense_mass, target_accept):
    """``init(posterior, key, theta)`` and ``advance(posterior, state, n)``, jit-compiled once per
    process and settings.

    The posterior (a JAX pytree: its data, priors and bound model are leaves) is an argument of
    the compiled programs, not a constant of them (NumPyro's ``potential_fn_gen``), so every
    posterior of the same shapes reuses them. ``init`` sets up NumPyro's kernel (its warm-up
    schedule) and must be called first; ``advance`` runs ``n`` NUTS iterations of every chain
    in one ``lax.scan``. The keys are split as ``numpyro.infer.NUTS.init`` splits them.
    """
    import jax
    import jax.numpy as jnp
    from numpyro.infer.hmc import hmc

    init_kernel, sample_kernel = hmc(potential_fn_gen=_potential, algo="NUTS")
    sample = jax.vmap(sample_kernel, in_axes=(0, None, None))

    @jax.jit
    def init(posterior, key, theta):
        keys = jnp.swapaxes(jax.vmap(jax.random.split)(jax.random.split(key, chains)), 0, 1)[0]
        return jax.vmap(lambda z, k: init_kernel(z, warmup, dense_mass=dense_mass, target_accept_prob=target_accept,
                                                 trajectory_length=None, model_args=(posterior,), model_kwargs={},
                                                 rng_key=k))(theta, keys)

    @functools.partial(jax.jit, static_argnums=2)
    def advance(posterior, state, n):
        def step(s, _):
            s = sample(s, (posterior,), {})
            return s, (s.z, s.potential_energy, s.num_steps, s.diverging)

        return jax.lax.scan(step, state, None, length=n)

    return init, advance

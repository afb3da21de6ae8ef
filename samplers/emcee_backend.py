"""emcee (Foreman-Mackey et al. 2013) backend: an ensemble of walkers moved by differential
evolution (or emcee's affine-invariant stretch), each half of the walkers in one batched
(``jax.vmap``, jit-compiled) log-density call per step, run until a target ESS and R-hat are
reached or up to a cap on steps."""
import logging
import time

import numpy as np

from .base import Sampler, SamplerResult, Target
from .checkpoint import load_checkpoint, save_checkpoint

log = logging.getLogger(__name__)

#: Walkers are not independent chains: R-hat compares this many groups of walkers.
RHAT_GROUPS = 4
#: Named ensemble moves: differential evolution (ter Braak 2006) and emcee's default stretch move.
MOVES = ("de", "stretch")


class EmceeSampler(Sampler):
    """emcee's ensemble sampler.

    Parameters
    ----------
    walkers : int
        Number of walkers (even, >= 2 x 3 parameters; >= 8 for R-hat over 4 groups). A batched
        call of 64 walkers costs little more than one of 16, so many walkers and few steps
        are the cheaper way to a given ESS.
    steps : int
        Maximum steps per walker, burn-in included.
    burn : int, optional
        Steps discarded as burn-in (default: a third of the steps run).
    thin : int
        Keep every ``thin``-th step.
    check_every : int
        Fewest steps between two checks of the target (the first check is at ``2 *
        check_every``); the next check is where the ESS, growing in proportion to the steps,
        is predicted to reach the target, at most twice the steps run so far.
    vectorize : bool
        Evaluate all walkers in one call (``posterior.batched_log_density()``); False calls
        ``posterior(theta)`` per walker, optionally through ``pool``.
    pool : object, optional
        A ``map``-providing pool (multiprocessing, Dask) for a non-vectorised density.
    checkpoint : str, optional
        File holding the chain so far and the random state (:mod:`fastjam.samplers.checkpoint`),
        rewritten every ``checkpoint_every`` steps; a run resumes from it exactly as an
        uninterrupted run with the same seed would have continued.
    checkpoint_every : int
        Steps between two checkpoints (1 for slow densities such as jampy's; writing a file
        every step of a fast emulator would cost more than the step).
    moves : {"de", "stretch"} or emcee move(s)
        ``"de"``: differential evolution, emcee's ``DEMove`` (ter Braak 2006, Statistics and
        Computing 16, 239; Nelson et al. 2014, ApJS 210, 11); ``"stretch"``: emcee's
        affine-invariant stretch move (Goodman & Weare 2010); or anything emcee's ``moves``
        accepts. On the example galaxy's correlated (inclination, beta_z) posterior DE needs
        about a third of the stretch move's evaluations per effective sample (bench/emcee_moves.py).
        emcee 3.1's ``DESnookerMove`` is not offered: on a 3-D Gaussian it gives variances
        about 10 % too small.
    seed, progress, target, monitor : see :class:`~samplers.base.Sampler`.

    Notes
    -----
    The stopping rule (:class:`~samplers.base.Target`) takes the bulk ESS over all walkers
    and R-hat over ``RHAT_GROUPS`` groups of walkers (each group's draws pooled), since
    single walkers are too short and too correlated with each other for R-hat.
    """

    name = "emcee"

    def __init__(self, walkers=128, steps=20000, burn=None, thin=1, check_every=25, vectorize=True, pool=None,
                 checkpoint=None, checkpoint_every=250, seed=0, progress=True, target=Target(), monitor=None,
                 moves="de"):
        super().__init__(seed, progress, target, monitor)
        if walkers < 6 or walkers % 2:
            raise ValueError(f"emcee needs an even number of walkers >= 6, got {walkers}")
        if steps < 2:
            raise ValueError(f"steps must be >= 2, got {steps}")
        if burn is not None and not 0 <= burn < steps:
            raise ValueError(f"burn must be in [0, steps), got {burn}")
        if isinstance(moves, str) and moves not in MOVES:
            raise ValueError(f"unknown emcee moves {moves!r}: choose one of {', '.join(MOVES)} or pass emcee moves")
        self.walkers, self.steps, self.thin, self.burn = int(walkers), int(steps), int(thin), burn
        self.check_every = max(int(check_every), 1)
        self.vectorize, self.pool, self.checkpoint = vectorize, pool, checkpoint
        self.checkpoint_every = max(int(checkpoint_every), 1)
        self.moves = moves

    def _burn(self, done):
        return int(done // 3 if self.burn is None else min(self.burn, done - 1))

    def _check(self, sampler, done):
        chain = np.swapaxes(sampler.get_chain(discard=self._burn(done)), 0, 1)  # (walkers, draws, 3)
        watched = self.monitor(chain)
        return self.target.measure(group_walkers(watched), watched)

    def _next_check(self, done, ess):
        """Step of the next check of the target after one at step ``done`` measured ``ess``."""
        growth = self.target.ess / ess if ess > 0 else 2.0
        return max(done + self.check_every, int(done * min(growth, 2.0)))

    def run(self, posterior, theta0):
        import emcee
        from tqdm.auto import tqdm

        log_prob = _batched(posterior) if self.vectorize else posterior
        start, done = self._initial_ball(theta0, self.walkers), 0
        backend, random_state, next_check = self._restore(start.shape)
        if backend is not None:
            start, done = None, backend.iteration
            log.info("resuming the emcee chain at step %d of at most %d", done, self.steps)
        if self.vectorize:
            log_prob = _halves(log_prob, self.walkers // 2)
            log_prob(self._initial_ball(theta0, self.walkers // 2))  # compile before the clock starts
        sampler = emcee.EnsembleSampler(self.walkers, np.size(theta0), log_prob, vectorize=self.vectorize,
                                        pool=None if self.vectorize else self.pool, backend=backend,
                                        moves=_moves(self.moves))
        sampler.log_prob_fn = log_prob  # emcee's own wrapper prints a traceback on every exception, Ctrl-C included
        sampler.random_state = random_state if done else np.random.RandomState(self.seed).get_state()
        t0, ess, r_hat, n_new = time.perf_counter(), float("nan"), float("nan"), 0
        bar = tqdm(total=self.steps, initial=done, disable=not self.progress, unit="step", desc="emcee")
        next_check = next_check or 2 * self.check_every
        if done and self.target.active and done >= next_check:
            ess, r_hat = self._check(sampler, done)
            next_check = self._next_check(done, ess)
        if not self.target.met(ess, r_hat):
            for _ in sampler.sample(start if start is not None else sampler.get_last_sample(),
                                    iterations=self.steps - done, store=True):
                done, n_new = done + 1, n_new + 1
                bar.update(1)
                if self.target.active and done >= next_check:
                    ess, r_hat = self._check(sampler, done)
                    next_check = self._next_check(done, ess)
                    bar.set_postfix(ess=f"{ess:.0f}", r_hat=f"{r_hat:.3f}")
                if self.checkpoint is not None and done % self.checkpoint_every == 0:
                    self._save(sampler, next_check)
                if self.target.met(ess, r_hat):
                    break
        bar.close()
        seconds = time.perf_counter() - t0
        burn = self._burn(done)
        chain = sampler.get_chain(discard=burn, thin=self.thin)  # (draws, walkers, 3)
        lp = sampler.get_log_prob(discard=burn, thin=self.thin)
        tau = sampler.get_autocorr_time(discard=burn, tol=0)
        if self.target.active and not np.isfinite(ess):
            ess, r_hat = self._check(sampler, done)
        diagnostics = dict(autocorr_time=tau.tolist(), acceptance_fraction=float(np.mean(sampler.acceptance_fraction)),
                           walkers=self.walkers, steps=done, max_steps=self.steps, burn=burn,
                           target=dict(ess=self.target.ess, r_hat=self.target.r_hat), ess_bulk_min=ess,
                           r_hat_max_groups=r_hat, r_hat_groups=RHAT_GROUPS,
                           converged=bool(self.target.met(ess, r_hat)))
        if self.target.active and not diagnostics["converged"]:
            log.warning("emcee stopped at the cap of %d steps before the target (ESS %.0f >= %.0f, R-hat %.3f < %.3f): "
                        "raise [sampler] steps", done, ess, self.target.ess, r_hat, self.target.r_hat)
        return SamplerResult(np.swapaxes(chain, 0, 1), lp.T, int(self.walkers * n_new), seconds, diagnostics)


    def _restore(self, shape):
        """(emcee backend, random state, step of the next check) of the checkpoint, or Nones
        without one."""
        import emcee

        saved = load_checkpoint(self.checkpoint)
        if saved is None:
            return None, None, None
        chain = saved["chain"]
        if chain.shape[1:] != shape:
            raise ValueError(f"checkpoint {self.checkpoint} holds {chain.shape[1]} walkers in {chain.shape[2]} "
                             f"dimensions, not {shape[0]} in {shape[1]}")
        backend = emcee.backends.Backend()
        backend.reset(*shape)
        backend.grow(chain.shape[0], None)
        backend.chain[:], backend.log_prob[:] = chain, saved["log_prob"]
        backend.accepted[:], backend.iteration = saved["accepted"], chain.shape[0]
        return backend, saved["random_state"], saved.get("next_check", chain.shape[0])

    def _save(self, sampler, next_check):
        save_checkpoint(self.checkpoint, dict(chain=sampler.get_chain(), log_prob=sampler.get_log_prob(),
                                              accepted=np.asarray(sampler.backend.accepted),
                                              random_state=sampler.random_state, next_check=next_check))


def _batched(posterior):
    """All walkers in one call: the posterior's own batched density, or a jit-compiled vmap."""
    if hasattr(posterior, "batched_log_density"):
        return posterior.batched_log_density()
    import jax

    return jax.jit(jax.vmap(posterior))


def group_walkers(chains, groups=RHAT_GROUPS):
    """Draws of walkers pooled into ``groups`` chains for R-hat.

    Parameters
    ----------
    chains : ndarray, shape (walkers, draws, ...)

    Returns
    -------
    ndarray, shape (groups, draws x (walkers // groups), ...)
        Group g holds walkers g x per ... (g + 1) x per - 1, per = walkers // groups (the last
        walkers % groups walkers are left out).
    """
    w, n = chains.shape[:2]
    per = w // groups
    grouped = chains[: per * groups].reshape(groups, per, n, *chains.shape[2:]).swapaxes(1, 2)
    return grouped.reshape(groups, n * per, *chains.shape[2:])


def _halves(batched, half):
    """``batched`` called on at most ``half`` walkers at a time, as numpy: emcee moves one half
    of the ensemble per call, and the first call (all walkers) then needs no second compilation."""

    def log_prob(theta):
        return np.concatenate([np.asarray(batched(theta[i:i + half]), dtype=float)
                               for i in range(0, len(theta), half)])

    return log_prob


def _moves(moves):
    """emcee's ``moves`` argument for a name of :data:`MOVES` (else ``moves`` itself)."""
    import emcee

    if moves == "de":
        return emcee.moves.DEMove()
    if moves == "stretch":
        return emcee.moves.StretchMove()
    return moves

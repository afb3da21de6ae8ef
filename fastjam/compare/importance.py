"""The JAM reference by importance sampling: a proposal posterior proposes, jampy decides.

Draws :math:`\\theta_k` (the unconstrained sampling space of :class:`fastjam.model.Priors`) come
from a heavy-tailed proposal :math:`q`: a multivariate Student t (``df`` degrees of freedom)
with the mean and the covariance, inflated by ``inflate`` squared, of a proposal posterior's
samples (the emulator's, or an exact JAM posterior to be checked). Each draw costs one direct
jampy call at its (inclination, beta_z) and M/L = 1 (V_RMS scales as sqrt(M/L)); nothing of
JAM's linear decomposition or of an emulator enters the weights

.. math:: \\log w_k = \\log p(\\theta_k) + \\log L(\\theta_k) - \\log q(\\theta_k),

so the weighted draws estimate the JAM posterior whatever the proposal, as long as the
proposal's tails are heavier than the posterior's. The weights are Pareto-smoothed (PSIS,
Vehtari et al. 2024, JMLR 25, 72; ``arviz.psislw``); its shape estimate :math:`\\hat k` is
reported, and above 0.7 the estimate is unreliable (the proposal misses part of the
posterior: inflate it). The effective sample size is Kish's, :math:`(\\sum w)^2/\\sum w^2`.

The jampy calls run on :class:`fastjam.parallel.WorkerPool` and are cached one per draw in
``out/jam_importance/`` (:class:`~fastjam.compare.reference.GridCache`), so an interrupted run
resumes with no call lost. Draws come in blocks of :data:`BLOCK`, each from its own seeded
stream, so the first n draws do not depend on how many are asked for: a rerun with more draws
extends the cached ones.
"""
import hashlib
import logging
import time
from pathlib import Path

import numpy as np

from ..fit import physical_idata
from ..jam import JAMModel
from ..model import PARAMETERS
from ..posterior import Posterior
from .reference import GridCache, run_grid
from .side import Side, jam_likelihood

log = logging.getLogger(__name__)

#: Draws per seeded block (see the module docstring).
BLOCK = 100

#: PSIS shape above which an importance-sampling estimate is unreliable (Vehtari et al. 2024).
MAX_KHAT = 0.7


def student_t_proposal(theta, df=4.0, inflate=1.3):
    """The multivariate Student-t proposal fitted to samples ``theta`` (N, 3): their mean, their
    covariance times ``inflate**2`` (a ``scipy.stats.multivariate_t``)."""
    from scipy.stats import multivariate_t

    theta = np.asarray(theta, dtype=float).reshape(-1, 3)
    if theta.shape[0] < 10 or not np.all(np.isfinite(theta)):
        raise ValueError(f"the proposal needs at least 10 finite samples, got {theta.shape[0]}")
    if not (df > 2 and inflate >= 1):
        raise ValueError(f"need df > 2 and inflate >= 1, got df = {df}, inflate = {inflate}")
    cov = np.cov(theta, rowvar=False) * inflate**2
    return multivariate_t(loc=theta.mean(0), shape=cov, df=df)


def run_jam_importance(problem, settings, proposal_theta, n_draws=1500, out=None, workers=2, scheduler=None,
                       progress=True, seed=0, df=4.0, inflate=1.3, n_resample=20000):
    """The JAM reference posterior by importance sampling (module docstring) as a :class:`Side`.

    Parameters
    ----------
    problem : Problem
        Priors, bins and errors (the emulator fit's, or :func:`fastjam.fit.build_problem`'s).
    settings : JAMSettings
    proposal_theta : ndarray, shape (N, 3)
        Samples of the proposal posterior in the sampling space theta
        (:meth:`fastjam.posterior.Posterior.from_physical`).
    n_draws : int
        Draws, i.e. jampy calls.
    out : str or Path, optional
        jampy results cached in ``out/jam_importance/``.
    workers, scheduler, progress
        As :func:`~fastjam.compare.reference.run_grid`.
    seed : int
        Seed of the draws and of the resampling.
    df, inflate : float
        Proposal (:func:`student_t_proposal`).
    n_resample : int
        Draws resampled by weight into the returned samples.

    Returns
    -------
    Side
        ``ess``: Kish's effective sample size per parameter; ``diagnostics``: ``khat``,
        ``n_draws``, ``n_failed``, ``efficiency`` (ESS / draws) and the jampy counts.
    """
    import arviz as az

    if int(n_draws) < 100:
        raise ValueError(f"importance sampling needs n_draws >= 100, got {n_draws}")
    t0 = time.perf_counter()
    rng = np.random.default_rng(seed)
    q = student_t_proposal(proposal_theta, df, inflate)
    n_blocks = -(-int(n_draws) // BLOCK)
    theta = np.concatenate([q.rvs(size=BLOCK, random_state=np.random.default_rng([seed, b]))
                            for b in range(n_blocks)])[:int(n_draws)]
    log_q = q.logpdf(theta)
    forward = JAMModel(settings).bind(problem.galaxy, problem.x, problem.y)
    density = Posterior(problem.priors, jam_likelihood(problem), forward, problem.galaxy.total_luminosity)
    physical = problem.priors.transform(theta)
    inc, beta, ml, _ = physical
    cache = None
    if out is not None:
        spec = dict(forward=forward.fingerprint(), jam_settings=settings.as_dict(), seed=int(seed),
                    proposal=hashlib.sha256(np.round(np.concatenate([q.loc, q.shape.ravel(), [q.df]]), 9)
                                            .tobytes()).hexdigest())
        cache = GridCache(Path(out) / "jam_importance", spec)
    m1, info = run_grid(forward, inc, beta, cache, workers, scheduler, progress, desc="JAM importance sampling")
    model = np.sqrt(ml)[:, None] * m1
    log_w = density.log_density_at(physical, model) - log_q
    ok = np.isfinite(log_w)
    smoothed, khat = az.psislw(log_w[ok])
    w = np.exp(smoothed - smoothed.max())
    w /= w.sum()
    kish = float(1.0 / np.sum(w**2))
    if khat > MAX_KHAT:
        log.warning("importance sampling: PSIS k-hat = %.2f > %.1f: the proposal misses part of the JAM posterior "
                    "(inflate it or draw more)", khat, MAX_KHAT)
    pick = rng.choice(np.flatnonzero(ok), size=int(n_resample), p=w)
    idata = physical_idata(problem.galaxy, inc[pick], beta[pick], ml[pick], method="importance", forward="jam")
    samples = np.column_stack([inc[pick], beta[pick], ml[pick]])
    best_k = np.flatnonzero(ok)[np.argmax(log_w[ok] + log_q[ok])]
    best = dict(zip(PARAMETERS, (float(inc[best_k]), float(beta[best_k]), float(ml[best_k]))))
    seconds = info.pop("seconds")
    diagnostics = dict(info, khat=float(khat), n_draws=int(n_draws), kish_ess=kish, efficiency=kish / int(n_draws),
                       df=float(df), inflate=float(inflate))
    return Side(samples, idata, {p: kish for p in PARAMETERS}, float(np.nanmedian(seconds)), int(n_draws),
                float(np.nansum(seconds)), time.perf_counter() - t0, best, model[best_k], diagnostics)


__all__ = ["MAX_KHAT", "run_jam_importance", "student_t_proposal"]

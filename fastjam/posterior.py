"""The posterior of one galaxy: priors, likelihood and a bound forward model, on one space.

The samplers work on an unconstrained vector :math:`\\theta \\in \\mathbb{R}^3`; the map
:math:`\\theta \\to (i, \\beta_z, M/L)` and its Jacobian are :meth:`fastjam.model.Priors.transform`
(logistic maps onto the prior support, with :math:`\\beta_{\\max}(i)`):

.. math::

    \\ln p(\\theta \\mid d) = \\ln \\pi(i, \\beta_z, M/L) + \\ln |J(\\theta)|
        + \\ln \\mathcal{L}(d \\mid V_{\\rm rms}(i, \\beta_z, M/L)) + {\\rm const}.

:meth:`Posterior.to_physical` is the one way back from samples to the physical and derived
parameters (NumPyro's ``postprocess_fn``, the arviz tables, the best-fit model).

With a JAX forward model the posterior is a JAX pytree (its priors' numbers, the data and
the bound model are leaves) and an *argument* of module-level compiled functions
(:meth:`~Posterior.batched_log_density`, :meth:`~Posterior.value_and_grad`,
:meth:`~Posterior.vrms`, :meth:`~Posterior.vrms_draws`, and the NUTS programs of
:mod:`fastjam.samplers.numpyro_backend`), so each is compiled once per process for all
galaxies with the same number of bins and prior flags; pad galaxies to a few bucket sizes
(:meth:`Posterior.padded`, :func:`fastjam.emulator.jax_model.bucket_size`,
``fastjam.fit.fit(..., buckets=...)``).
"""
import functools
import logging

import numpy as np

from .model import PARAMETERS, Priors
from .physics.geometry import q_intr

log = logging.getLogger(__name__)


class Posterior:
    """Log posterior density of (inclination, beta_z, M/L) on the unconstrained theta.

    Parameters
    ----------
    priors : Priors
    likelihood : Likelihood
        Arrays of the model's namespace (numpy or jax.numpy).
    model : callable
        Bound forward model (:meth:`fastjam.forward.ForwardModel.bind`):
        ``model(inclination, beta_z, ml) -> (p,)`` km/s, with attribute ``xp``.
    total_luminosity : float
        L_tot in Lsun, for the derived log10 mass.

    Notes
    -----
    With jampy (numpy) a failed or non-finite evaluation is logged and gives ``-inf`` (the
    proposal is rejected); traced JAX code maps non-finite values to ``-inf`` as well.
    """

    def __init__(self, priors, likelihood, model, total_luminosity):
        self.priors, self.likelihood, self.model = priors, likelihood, model
        self.total_luminosity = float(total_luminosity)
        if getattr(model, "xp", np) is not np:  # a JAX model: the posterior is a pytree (jit argument)
            _register()

    @property
    def xp(self):
        """Array namespace of the forward model."""
        return self.model.xp

    @property
    def is_jax(self):
        return self.xp is not np

    @property
    def n_bins(self):
        """Number of data bins (padding left out; :meth:`padded` adds bins at the end)."""
        mask = self.likelihood.mask
        return int(np.shape(self.likelihood.vrms)[0] if mask is None else np.sum(np.asarray(mask) > 0))

    def log_density(self, theta):
        """Log posterior (up to a constant) at theta, shape (3,)."""
        xp = self.xp
        if not self.is_jax:
            return self._numpy_log_density(np.asarray(theta, dtype=float))
        value = self.log_density_at(self.priors.transform(theta, xp), self.model, xp)
        return xp.where(xp.isfinite(value), value, -xp.inf)

    __call__ = log_density

    def log_density_at(self, physical, model, xp=np):
        """Log posterior from the transform of theta and the model already computed there.

        Parameters
        ----------
        physical : tuple
            ``(inclination, beta_z, ml, log_jacobian)`` of :meth:`fastjam.model.Priors.transform`,
            each of shape (...).
        model : array, shape (..., p), or callable
            Model V_RMS [km/s] at those parameters, or the bound forward model, called after
            the prior terms (the order in which a compiled log density evaluates them).

        Returns
        -------
        array, shape (...)
            log prior + log|Jacobian| + log likelihood (NaN or -inf where undefined).
        """
        inc, beta, ml, log_jac = physical
        prior = self.priors.log_prob(inc, beta, ml, xp) + log_jac
        return prior + self.likelihood.log_like(model(inc, beta, ml) if callable(model) else model, xp)

    def _numpy_log_density(self, theta):
        if not np.all(np.isfinite(theta)):
            return -np.inf
        physical = self.priors.transform(theta)
        inc, beta, ml, _ = physical
        try:
            model = self.model(float(inc), float(beta), float(ml))
        except Exception as exc:  # a failed jampy call rejects the proposal
            log.warning("forward model failed at i = %.4g, beta_z = %.4g, M/L = %.4g: %s", inc, beta, ml, exc)
            return -np.inf
        value = float(self.log_density_at(physical, model))
        return value if np.isfinite(value) else -np.inf

    def to_physical(self, theta):
        """Physical and derived parameters of samples theta (..., 3), as numpy arrays.

        Returns
        -------
        dict
            ``inclination`` [deg], ``beta_z``, ``ml`` [Msun/Lsun], ``q_intr`` and ``log10_mass``
            (log10 of M/L x L_tot [Msun]), each of shape ``theta.shape[:-1]``.
        """
        inc, beta, ml, _ = self.priors.transform(np.asarray(theta, dtype=float))
        return physical_parameters(self.priors.q_obs, self.total_luminosity, inc, beta, ml)

    def from_physical(self, inclination, beta_z, ml):
        """Unconstrained theta (..., 3) of physical parameters (inverse of :meth:`to_physical`)."""
        return self.priors.inverse(inclination, beta_z, ml)

    def model_vrms(self, theta):
        """Model V_RMS [km/s] (p,) at one theta (3,), as numpy."""
        p = self.to_physical(theta)
        return self.vrms(*(float(p[k]) for k in PARAMETERS))

    def vrms(self, inclination, beta_z, ml):
        """The bound model's V_RMS [km/s] (p,) at the data bins, as numpy (jit-compiled for JAX models)."""
        if not self.is_jax:
            return np.asarray(self.model(inclination, beta_z, ml), dtype=float)
        return np.asarray(_model_call()(self.model, inclination, beta_z, ml), dtype=float)[: self.n_bins]

    def vrms_draws(self, inclination, beta_z, ml):
        """V_RMS [km/s] (s, p) at the data bins for ``s`` parameter sets, each of shape (s,)."""
        if not self.is_jax:
            return np.array([self.vrms(*p) for p in zip(inclination, beta_z, ml)])
        out = _model_draws()(self.model, *(np.asarray(v, dtype=np.float32) for v in (inclination, beta_z, ml)))
        return np.asarray(out, dtype=float)[:, : self.n_bins]

    def padded(self, size):
        """The same posterior on ``size`` bins (padding masked out, same log density), for shared
        compilations; :meth:`vrms` and :meth:`vrms_draws` still return the data bins only."""
        import dataclasses

        import jax

        if not self.is_jax:
            raise ValueError("padding is for JAX forward models (shared compilations)")
        lik = self.likelihood.padded(size)
        arrays = jax.device_put(dict(vrms=lik.vrms, vrms_err=lik.vrms_err, frac_model_err=lik.frac_model_err))
        # on the device once, not converted at every call; the priors' numbers stay Python floats
        return Posterior(self.priors, dataclasses.replace(lik, **arrays), jax.device_put(self.model.padded(size)),
                         self.total_luminosity)

    def batched_log_density(self):
        """``f(theta) -> (n,)`` for theta (n, 3): jit-compiled and vmapped (JAX) or a loop (numpy)."""
        if not self.is_jax:
            return lambda theta: np.array([self.log_density(t) for t in np.asarray(theta)])
        fn = _batched()
        placed = self.on_device()
        return lambda theta: fn(placed, theta)

    def value_and_grad(self):
        """``f(theta) -> (log density, gradient)``, jit-compiled (JAX forward models only)."""
        fn = _value_and_grad()
        placed = self.on_device()
        return lambda theta: fn(placed, theta)

    def on_device(self):
        """The same posterior with its arrays on the JAX device, so that a compiled call does not
        copy them from numpy at every call (JAX forward models only)."""
        import jax

        _register()
        return jax.device_put(self)

    def find_map(self, vrms, vrms_err, n_starts=4, seed=0):
        """Maximum a posteriori theta (3,) by L-BFGS (Nelder-Mead for numpy) from a few starts.

        The first start is the middle of the inclination range at beta_z = 0; the others are
        random. M/L starts at its weighted least-squares value given the other two
        (:math:`V \\propto \\sqrt{M/L}`).

        Parameters
        ----------
        vrms, vrms_err : ndarray, shape (p,)
            The data (numpy), for the M/L start.
        n_starts : int
        seed : int
        """
        from scipy.optimize import minimize

        pri, rng = self.priors, np.random.default_rng(seed)
        if self.is_jax:
            vg = self.value_and_grad()

            def fun(t):
                v, g = vg(t)
                return -float(v), -np.asarray(g, dtype=float)
        else:
            def fun(t):
                return -float(self.log_density(t))
        best, i0 = None, pri.inclination_min
        w = 1 / np.asarray(vrms_err) ** 2
        for k in range(n_starts):
            inc = i0 + (90 - i0) * (0.5 if k == 0 else rng.uniform(0.1, 0.95))
            b_max = float(pri.beta_max(inc))
            beta = 0.0 if k == 0 else rng.uniform(pri.beta_z_min, b_max)
            beta = min(max(beta, pri.beta_z_min + 1e-3), b_max - 1e-3)
            m1 = self.vrms(inc, beta, 1.0)
            ml = float(np.clip((np.sum(w * vrms * m1) / np.sum(w * m1**2)) ** 2, *np.array(pri.ml_range)
                               * [1.0001, 0.9999]))
            res = minimize(fun, pri.inverse(inc, beta, ml), jac=self.is_jax,
                           method="L-BFGS-B" if self.is_jax else "Nelder-Mead")
            if best is None or res.fun < best.fun:
                best = res
        return np.asarray(best.x, dtype=float)

    # JAX pytree: the priors' numbers, the likelihood arrays and the bound model are leaves
    def tree_flatten(self):
        p, lik = self.priors, self.likelihood
        leaves = ((p.q_obs, p.ml_range[0], p.ml_range[1], p.beta_z_min, p.q_intr_min, p.q_obs_beta),
                  (lik.vrms, lik.vrms_err, lik.frac_model_err, lik.systematic, lik.mask), self.model,
                  self.total_luminosity)
        return leaves, (p.ml_log_uniform, p.isotropic, float(lik.coherent_sigma))

    @classmethod
    def tree_unflatten(cls, flags, leaves):
        from .model import Likelihood

        (q_obs, lo, hi, beta_min, q_min, q_beta), lik, model, lum = leaves
        priors = object.__new__(Priors)  # traced values: skip the checks of __init__
        for name, value in zip(("q_obs", "ml_range", "beta_z_min", "q_intr_min", "q_obs_beta", "ml_log_uniform",
                                "isotropic"), (q_obs, (lo, hi), beta_min, q_min, q_beta, *flags[:2])):
            object.__setattr__(priors, name, value)
        out = object.__new__(cls)
        out.priors, out.likelihood, out.model, out.total_luminosity = priors, Likelihood(*lik, coherent_sigma=flags[2]), model, lum
        return out


def physical_parameters(q_obs, total_luminosity, inclination, beta_z, ml):
    """The sampled and derived parameters of a self-consistent JAM model.

    Parameters
    ----------
    q_obs : float
        Observed axis ratio (the flattest Gaussian's for an MGE).
    total_luminosity : float
        L_tot in Lsun.
    inclination, beta_z, ml : ndarray
        Degrees, anisotropy, Msun/Lsun (same shape).

    Returns
    -------
    dict
        ``inclination``, ``beta_z``, ``ml``, ``q_intr`` (:func:`fastjam.physics.geometry.q_intr`)
        and ``log10_mass`` = log10(M/L x L_tot) [Msun].
    """
    return dict(inclination=inclination, beta_z=beta_z, ml=ml, q_intr=q_intr(q_obs, inclination),
                log10_mass=np.log10(ml * total_luminosity))


@functools.lru_cache(maxsize=None)
def _register():
    import jax

    jax.tree_util.register_pytree_node_class(Posterior)


@functools.lru_cache(maxsize=None)
def _batched():
    import jax

    _register()
    return jax.jit(jax.vmap(Posterior.log_density, in_axes=(None, 0)))


@functools.lru_cache(maxsize=None)
def _model_call():
    import jax

    return jax.jit(lambda model, inclination, beta_z, ml: model(inclination, beta_z, ml))


@functools.lru_cache(maxsize=None)
def _model_draws():
    import jax

    return jax.jit(jax.vmap(lambda model, inclination, beta_z, ml: model(inclination, beta_z, ml),
                            in_axes=(None, 0, 0, 0)))


@functools.lru_cache(maxsize=None)
def _value_and_grad():
    import jax

    _register()
    return jax.jit(jax.value_and_grad(Posterior.log_density, argnums=1))


__all__ = ["Posterior"]

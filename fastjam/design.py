"""The training-set parameter space and its space-filling design.

All parameters are dimensionless (lengths in units of R_e). Ranges:

========================  =====================================  =========================
parameter                 range                                  sampling
========================  =====================================  =========================
``n`` (Sérsic index)      [1, 8]                                 uniform
``q_obs``                 [0.3, 0.99]                            uniform
``inclination`` [deg]     [i_min(q_obs), 90]                     uniform; i_min from q_intr >= 0.05
``beta_z``                [-0.2, 0.7 (1 - q_intr)]               uniform
``sigma_psf_re``          [0.02, 0.3]                            log-uniform
``pixsize_re``            [0.3, 1.5] x sigma_psf_re              uniform in the ratio
========================  =====================================  =========================

The design is a scrambled Sobol sequence (:class:`scipy.stats.qmc.Sobol`) in the
six-dimensional unit cube, mapped onto these ranges so that every point satisfies the
physical constraint; distinct seeds give independent designs (train, validation, test).
"""
from dataclasses import asdict, dataclass

import numpy as np

from .physics.geometry import QINTR_MIN, beta_z_max, min_inclination, qintr_from_inclination
from .validation import check_range

PARAM_NAMES = ("n", "q_obs", "inclination", "beta_z", "sigma_psf_re", "pixsize_re")


@dataclass(frozen=True)
class ParameterSpace:
    """Ranges of the dimensionless parameters (see the module docstring)."""

    n: tuple = (1.0, 8.0)
    q_obs: tuple = (0.3, 0.99)
    beta_z_min: float = -0.2
    sigma_psf_re: tuple = (0.02, 0.3)
    pixsize_ratio: tuple = (0.3, 1.5)
    q_intr_min: float = QINTR_MIN

    def as_dict(self):
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}

    @classmethod
    def from_dict(cls, d):
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in d.items()})

    def from_unit(self, u):
        """Map points of the unit cube, shape (N, 6), to parameters, shape (N, 6) in PARAM_NAMES order."""
        u = np.asarray(u, dtype=float)
        if u.ndim != 2 or u.shape[1] != 6:
            raise ValueError(f"unit-cube points must have shape (N, 6), got {u.shape}")
        n = self.n[0] + u[:, 0] * (self.n[1] - self.n[0])
        q_obs = self.q_obs[0] + u[:, 1] * (self.q_obs[1] - self.q_obs[0])
        i_min = min_inclination(q_obs, self.q_intr_min)
        inc = i_min + u[:, 2] * (90.0 - i_min)
        q_intr = qintr_from_inclination(q_obs, inc)
        b_max = beta_z_max(q_intr)
        beta = self.beta_z_min + u[:, 3] * (b_max - self.beta_z_min)
        lo, hi = np.log(self.sigma_psf_re)
        sig = np.exp(lo + u[:, 4] * (hi - lo))
        pix = sig * (self.pixsize_ratio[0] + u[:, 5] * (self.pixsize_ratio[1] - self.pixsize_ratio[0]))
        return np.column_stack([n, q_obs, inc, beta, sig, pix])

    def check(self, params, tol=1e-6):
        """Raise ``ValueError`` if any parameter set, shape (N, 6), lies outside the space."""
        params = np.atleast_2d(np.asarray(params, dtype=float))
        n, q_obs, inc, beta, sig, pix = params.T
        check_range("sersic n", n, self.n[0] - tol, self.n[1] + tol)
        check_range("q_obs", q_obs, self.q_obs[0] - tol, self.q_obs[1] + tol)
        i_min = min_inclination(q_obs, self.q_intr_min)
        if np.any(inc < i_min - tol) or np.any(inc > 90 + tol):
            k = int(np.argmax((inc < i_min - tol) | (inc > 90 + tol)))
            raise ValueError(f"inclination = {inc[k]:g} deg is outside [{i_min[k]:.4g}, 90] for q_obs = {q_obs[k]:.3g}")
        b_max = beta_z_max(qintr_from_inclination(q_obs, np.clip(inc, i_min, 90)))
        if np.any(beta < self.beta_z_min - tol) or np.any(beta > b_max + tol):
            k = int(np.argmax((beta < self.beta_z_min - tol) | (beta > b_max + tol)))
            raise ValueError(
                f"beta_z = {beta[k]:g} is outside [{self.beta_z_min:g}, {b_max[k]:.4g}] "
                f"(upper bound 0.7 (1 - q_intr))"
            )
        check_range("sigma_psf / R_e", sig, self.sigma_psf_re[0] * (1 - tol), self.sigma_psf_re[1] * (1 + tol))
        check_range("pixsize / sigma_psf", pix / sig, self.pixsize_ratio[0] - tol, self.pixsize_ratio[1] + tol)


def sobol_design(n_points, seed, space=ParameterSpace()):
    """A reproducible space-filling design.

    Parameters
    ----------
    n_points : int
        Number of parameter sets.
    seed : int
        Seed of the Sobol scramble; different seeds give independent designs.
    space : ParameterSpace

    Returns
    -------
    ndarray, shape (n_points, 6)
        Columns in :data:`PARAM_NAMES` order.
    """
    from scipy.stats import qmc

    if int(n_points) < 1:
        raise ValueError(f"number of maps must be >= 1, got {n_points}")
    sampler = qmc.Sobol(d=6, scramble=True, rng=np.random.default_rng(seed))
    m = int(np.ceil(np.log2(max(int(n_points), 2))))
    u = sampler.random_base2(m)[: int(n_points)]
    return space.from_unit(u)

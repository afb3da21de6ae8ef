"""Multi-Gaussian Expansions (Emsellem et al. 1994; Cappellari 2002, MNRAS 333, 400).

An MGE writes the surface brightness as a sum of elliptical Gaussians,

.. math:: \\Sigma(x, y) = \\sum_j S_j \\exp\\left[-\\frac{1}{2\\sigma_j^2}
          \\left(x^2 + \\frac{y^2}{q_j^2}\\right)\\right],

with total light :math:`L_j = 2\\pi S_j q_j \\sigma_j^2`. A Sérsic profile is fitted once per
index ``n`` in units of R_e with :func:`mgefit.fit_1d` and cached: the MGE in units of R_e
depends on n alone.
"""
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from ..validation import check_positive, check_range
from .scaling import PC_PER_ARCSEC_PER_MPC
from .sersic import sersic_b, sersic_profile, sersic_total_luminosity

#: Settings of the Sérsic MGE fit, chosen so that the MGE matches the profile to < 1%
#: over 0.01-10 R_e for 1 <= n <= 8 (see ``bench/mge_fidelity.py``).
MGE_NGAUSS = 20
MGE_LOG_RMIN = -2.3  # log10(R/R_e) of the innermost fitted radius
MGE_DYNAMIC_RANGE = 1e10  # fit out to where the profile dropped by this factor (or 100 R_e)
MGE_NSAMPLE = 200


@dataclass(frozen=True)
class MGE:
    """A Multi-Gaussian Expansion as JAM takes it.

    Attributes
    ----------
    surf : ndarray, shape (k,)
        Peak surface brightness of each Gaussian in Lsun/pc^2.
    sigma : ndarray, shape (k,)
        Dispersion of each Gaussian along the major axis in arcsec.
    qobs : ndarray, shape (k,)
        Observed axis ratio of each Gaussian, in (0, 1].
    """

    surf: np.ndarray
    sigma: np.ndarray
    qobs: np.ndarray

    def __post_init__(self):
        surf, sigma, qobs = (np.atleast_1d(np.asarray(a, dtype=float)) for a in (self.surf, self.sigma, self.qobs))
        if not (surf.ndim == sigma.ndim == qobs.ndim == 1):
            raise ValueError("MGE surf, sigma and qobs must be one-dimensional")
        if not (surf.size == sigma.size == qobs.size):
            raise ValueError(
                f"MGE arrays have mismatched lengths: surf {surf.size}, sigma {sigma.size}, qobs {qobs.size}"
            )
        if surf.size == 0:
            raise ValueError("MGE must have at least one Gaussian")
        check_positive("MGE surf [Lsun/pc^2]", surf)
        check_positive("MGE sigma [arcsec]", sigma)
        check_range("MGE qobs", qobs, 0, 1, low_open=True)
        object.__setattr__(self, "surf", surf)
        object.__setattr__(self, "sigma", sigma)
        object.__setattr__(self, "qobs", qobs)

    def total_luminosity(self, distance):
        """Total light in Lsun, :math:`\\sum_j 2\\pi S_j q_j (\\sigma_j d)^2`, for a distance in Mpc."""
        sigma_pc = self.sigma * check_positive("distance [Mpc]", distance) * PC_PER_ARCSEC_PER_MPC
        return float(np.sum(2 * np.pi * self.surf * self.qobs * sigma_pc**2))

    def surface_brightness(self, x, y):
        """Surface brightness in Lsun/pc^2 at (x, y) in arcsec (x along the major axis)."""
        x = np.asarray(x, dtype=float)[..., None]
        y = np.asarray(y, dtype=float)[..., None]
        return np.sum(self.surf * np.exp(-0.5 * (x**2 + (y / self.qobs) ** 2) / self.sigma**2), axis=-1)


@lru_cache(maxsize=4096)
def unit_sersic_mge(n, ngauss=MGE_NGAUSS, r_max=None):
    """(surf, sigma) of the Sérsic MGE in units of R_e, normalised to unit analytic total light
    for q = 1.

    Parameters
    ----------
    n : float
        Sérsic index.
    ngauss : int
        Number of Gaussians (20 matches the profile to < 1% over 0.01-10 R_e for 1 <= n <= 8).
    r_max : float, optional
        Fit the profile only out to this radius [R_e], as ``mgefit`` fits an image that covers the
        galaxy out to there (no Gaussian wider than it; the light beyond is lost). Default: out to
        where the profile has dropped by ``MGE_DYNAMIC_RANGE`` (at most 100 R_e).

    Returns
    -------
    surf, sigma : ndarray, shape (ngauss,) or fewer
        Read-only; units of L_tot / R_e^2 and R_e.
    """
    import mgefit

    b = sersic_b(n)
    r_out = min(100.0, (np.log(MGE_DYNAMIC_RANGE) / b) ** n)
    if r_max is not None:
        if not 10**MGE_LOG_RMIN < r_max:
            raise ValueError(f"r_max = {r_max:g} R_e must exceed the innermost fitted radius {10**MGE_LOG_RMIN:g} R_e")
        r_out = min(r_out, float(r_max))
    radius = np.geomspace(10**MGE_LOG_RMIN, r_out, MGE_NSAMPLE)
    fit = mgefit.fit_1d(
        radius,
        sersic_profile(n, radius),
        ngauss=int(ngauss),
        plot=False,
        quiet=True,
        rbounds=[radius[0] / 2, radius[-1]],
    )
    total_counts, sigma = fit.sol
    surf = total_counts / (np.sqrt(2 * np.pi) * sigma)
    surf = surf / sersic_total_luminosity(n)  # unit analytic total light
    surf.setflags(write=False)
    sigma.setflags(write=False)
    return surf, sigma


def sersic_mge(n, q_obs, r_e=1.0, l_tot=1.0, distance=1.0):
    """MGE of a Sérsic galaxy in JAM's units.

    The MGE is fitted to the profile normalised so that the *analytic* Sérsic total light
    is ``l_tot``; the MGE's own total is slightly less when light lies beyond its outermost
    Gaussian (see :func:`mge_fidelity`).

    Parameters
    ----------
    n : float
        Sérsic index in [1, 8] (the tuned range; [0.5, 10] is accepted).
    q_obs : float
        Observed axis ratio in (0, 1].
    r_e : float
        Major-axis effective radius in arcsec.
    l_tot : float
        Analytic total luminosity in Lsun.
    distance : float
        Distance in Mpc (converts arcsec to pc for the surface brightness).

    Returns
    -------
    MGE
    """
    n = float(check_range("sersic n", n, 0.5, 10))
    q_obs = float(check_range("q_obs", q_obs, 0, 1, low_open=True))
    r_e = float(check_positive("R_e [arcsec]", r_e))
    l_tot = float(check_positive("L_tot [Lsun]", l_tot))
    distance = float(check_positive("distance [Mpc]", distance))
    surf_unit, sigma_unit = unit_sersic_mge(n)
    r_e_pc = r_e * distance * PC_PER_ARCSEC_PER_MPC
    surf = surf_unit * l_tot / (q_obs * r_e_pc**2)
    return MGE(surf=surf, sigma=sigma_unit * r_e, qobs=np.full(sigma_unit.size, q_obs))


@dataclass(frozen=True)
class MGEFidelity:
    """How well the Sérsic MGE matches the analytic profile.

    Attributes
    ----------
    n : float
        Sérsic index.
    max_rel_error : float
        Maximum of :math:`|\\Sigma_{\\rm MGE}/\\Sigma - 1|` over 0.01-10 R_e.
    light_fraction : float
        MGE total light over the analytic Sérsic total.
    """

    n: float
    max_rel_error: float
    light_fraction: float


def mge_fidelity(n, rmin=0.01, rmax=10.0, npts=500):
    """Measure the Sérsic MGE against the analytic profile over ``rmin``-``rmax`` R_e.

    Returns
    -------
    MGEFidelity
    """
    surf, sigma = unit_sersic_mge(float(n))
    radius = np.geomspace(rmin, rmax, npts)
    model = np.sum(surf * np.exp(-0.5 * (radius[:, None] / sigma) ** 2), axis=1)
    truth = sersic_profile(n, radius) / sersic_total_luminosity(n)
    light = np.sum(2 * np.pi * surf * sigma**2)
    return MGEFidelity(float(n), float(np.max(np.abs(model / truth - 1))), float(light))

"""Sérsic (1968) surface-brightness profile.

The profile along the major axis, in units of the effective radius, is

.. math:: \\Sigma(R) = \\Sigma_e \\exp\\{-b_n [(R/R_e)^{1/n} - 1]\\},

with :math:`b_n` such that the ellipse of semi-major axis :math:`R_e` holds half of the
light: :math:`\\gamma(2n, b_n) = \\Gamma(2n)/2` (Ciotti & Bertin 1999, A&A 352, 447).
"""
import numpy as np
from scipy.special import gamma, gammainccinv

from ..validation import check_range

N_MIN, N_MAX = 0.5, 10.0


def sersic_b(n):
    """Exact :math:`b_n` of the Sérsic profile, from the incomplete gamma function.

    Parameters
    ----------
    n : float or array_like
        Sérsic index, in [0.5, 10].

    Returns
    -------
    b : float or ndarray
        Solution of :math:`\\gamma(2n, b_n) = \\Gamma(2n)/2`.
    """
    n = np.asarray(n, dtype=float)
    check_range("sersic n", n, N_MIN, N_MAX)
    return gammainccinv(2 * n, 0.5)


def sersic_profile(n, radius):
    """Sérsic profile normalised to one at the centre.

    Parameters
    ----------
    n : float
        Sérsic index.
    radius : array_like
        Elliptical radius in units of R_e (dimensionless).

    Returns
    -------
    ndarray
        :math:`\\exp[-b_n (R/R_e)^{1/n}]`, same shape as ``radius``.
    """
    return np.exp(-sersic_b(n) * np.asarray(radius, dtype=float) ** (1.0 / n))


def sersic_total_luminosity(n, q_obs=1.0, r_e=1.0, surf_centre=1.0):
    """Analytic total light of a Sérsic profile with central surface brightness ``surf_centre``.

    .. math:: L = 2\\pi\\, n\\, q\\, R_e^2\\, \\Sigma_0\\, \\Gamma(2n) / b_n^{2n}

    Parameters
    ----------
    n : float
        Sérsic index.
    q_obs : float
        Observed axis ratio of the isophotes.
    r_e : float
        Major-axis effective radius (any length unit; L is in surface-brightness units
        times that unit squared).
    surf_centre : float
        Central surface brightness :math:`\\Sigma_0`.

    Returns
    -------
    float
    """
    b = sersic_b(n)
    return 2 * np.pi * n * q_obs * r_e**2 * surf_centre * gamma(2 * n) / b ** (2 * n)

"""The scaling law of a self-consistent JAM model.

For a mass-follows-light model, the second moment scales as

.. math::

    V_{\\rm rms}(x, y) = \\sqrt{\\frac{G\\,(M/L)\\,L_{\\rm tot}}{R_e\\,D}}\\;
    f\\!\\left(\\frac{x}{R_e}, \\frac{y}{R_e};\\; n, q_{\\rm obs}, i, \\beta_z,
    \\frac{\\sigma_{\\rm psf}}{R_e}, \\frac{\\rm pixsize}{R_e}\\right),

where :math:`R_e` is in radians on the sky when multiplied by :math:`D`, i.e.
:math:`R_e D` is the physical effective radius. The law is exact when the PSF, pixel
size and positions all scale with :math:`R_e` (Cappellari 2008, MNRAS 390, 71: the Jeans
solution depends on lengths only through their ratios, and on mass linearly).
"""
import numpy as np

from ..validation import check_positive

#: Gravitational constant in pc (km/s)^2 / Msun (IAU 2015 nominal values).
G_PC_KMS2_MSUN = 4.300917270e-3
#: Parsec per arcsec per Mpc of distance (small-angle approximation, as jampy: pi/0.648).
PC_PER_ARCSEC_PER_MPC = np.pi / 0.648


def velocity_scale(ml, l_tot, r_e, distance):
    """Physical velocity scale :math:`\\sqrt{G (M/L) L_{\\rm tot} / (R_e D)}` in km/s.

    Parameters
    ----------
    ml : float or array_like
        Mass-to-light ratio in Msun/Lsun.
    l_tot : float
        Total luminosity of the Sérsic model in Lsun.
    r_e : float
        Major-axis effective radius in arcsec.
    distance : float
        Distance in Mpc (angular-diameter distance).

    Returns
    -------
    float or ndarray
        km/s.
    """
    ml = check_positive("M/L", ml)
    l_tot = check_positive("L_tot [Lsun]", l_tot)
    r_e = check_positive("R_e [arcsec]", r_e)
    distance = check_positive("distance [Mpc]", distance)
    r_e_pc = r_e * distance * PC_PER_ARCSEC_PER_MPC
    return np.sqrt(G_PC_KMS2_MSUN * ml * l_tot / r_e_pc)


def to_physical(f, ml, l_tot, r_e, distance):
    """Dimensionless map ``f`` to V_RMS in km/s (``ml`` may broadcast against ``f``'s leading axis)."""
    scale = velocity_scale(ml, l_tot, r_e, distance)
    return np.asarray(f) * np.reshape(scale, np.shape(scale) + (1,) * (np.ndim(f) - np.ndim(scale)))


def to_dimensionless(vrms, ml, l_tot, r_e, distance):
    """V_RMS in km/s to the dimensionless map ``f`` (inverse of :func:`to_physical`)."""
    scale = velocity_scale(ml, l_tot, r_e, distance)
    return np.asarray(vrms) / np.reshape(scale, np.shape(scale) + (1,) * (np.ndim(vrms) - np.ndim(scale)))

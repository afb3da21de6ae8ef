"""A galaxy as the forward models take it: photometry, distance and the observing setup."""
from dataclasses import dataclass
from typing import Union

import numpy as np

from .physics.mge import MGE, sersic_mge
from .validation import check_positive, check_range

#: Conversion between a Gaussian PSF's FWHM and its dispersion.
FWHM_PER_SIGMA = 2 * np.sqrt(2 * np.log(2))


@dataclass(frozen=True)
class Sersic:
    """Sérsic photometry.

    Attributes
    ----------
    n : float
        Sérsic index (the emulator is trained for 1 <= n <= 8).
    r_e : float
        Major-axis effective radius in arcsec.
    q_obs : float
        Observed axis ratio in (0, 1].
    l_tot : float
        Analytic total luminosity in Lsun.
    """

    n: float
    r_e: float
    q_obs: float
    l_tot: float

    def __post_init__(self):
        check_range("sersic n", self.n, 0.5, 10)
        check_positive("R_e [arcsec]", self.r_e)
        check_range("q_obs", self.q_obs, 0, 1, low_open=True)
        check_positive("L_tot [Lsun]", self.l_tot)

    def mge(self, distance):
        """The MGE of this profile at ``distance`` Mpc (:func:`fastjam.physics.sersic_mge`)."""
        return sersic_mge(self.n, self.q_obs, self.r_e, self.l_tot, distance)

    @staticmethod
    def luminosity_from_magnitude(m_tot, distance, m_sun, extinction=0.0):
        """Total luminosity in Lsun from an apparent total magnitude.

        .. math:: \\log_{10} L = 0.4\\,(M_\\odot - m + A + 5\\log_{10} D_{\\rm pc} - 5)

        Parameters
        ----------
        m_tot : float
            Apparent total magnitude.
        distance : float
            Luminosity distance in Mpc.
        m_sun : float
            Absolute magnitude of the Sun in the same band.
        extinction : float
            Galactic extinction in magnitudes.
        """
        distance = check_positive("distance [Mpc]", distance)
        abs_mag = m_tot - extinction - 5 * np.log10(distance * 1e6) + 5
        return float(10 ** (0.4 * (m_sun - abs_mag)))


Photometry = Union[Sersic, MGE]


@dataclass(frozen=True)
class Galaxy:
    """A galaxy and how it was observed.

    Attributes
    ----------
    photometry : Sersic or MGE
        The tracer (= mass, self-consistent) distribution. An MGE's ``surf`` is in Lsun/pc^2
        and ``sigma`` in arcsec.
    distance : float
        Distance in Mpc.
    sigma_psf : float
        Dispersion of the Gaussian PSF in arcsec (FWHM / 2.355).
    pixsize : float
        Side of the square spaxel or bin aperture in arcsec.
    """

    photometry: Photometry
    distance: float
    sigma_psf: float
    pixsize: float

    def __post_init__(self):
        if not isinstance(self.photometry, (Sersic, MGE)):
            raise ValueError(f"photometry must be a Sersic or an MGE, got {type(self.photometry).__name__}")
        check_positive("distance [Mpc]", self.distance)
        check_positive("sigma_psf [arcsec] (jampy skips the PSF when it is 0)", self.sigma_psf)
        check_positive("pixsize [arcsec] (jampy skips the PSF when it is 0)", self.pixsize)

    @property
    def mge(self):
        """The photometry as an :class:`~fastjam.physics.MGE` (Lsun/pc^2, arcsec)."""
        if isinstance(self.photometry, MGE):
            return self.photometry
        return self.photometry.mge(self.distance)

    @property
    def q_obs(self):
        """Observed axis ratio (the flattest Gaussian's for an MGE)."""
        if isinstance(self.photometry, MGE):
            return float(np.min(self.photometry.qobs))
        return float(self.photometry.q_obs)

    @property
    def total_luminosity(self):
        """Total light in Lsun (analytic for a Sérsic, the sum of Gaussians for an MGE)."""
        if isinstance(self.photometry, Sersic):
            return float(self.photometry.l_tot)
        return self.photometry.total_luminosity(self.distance)



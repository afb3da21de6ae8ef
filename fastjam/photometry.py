"""A user's MGE as the general-photometry emulator sees it, and the emulator's domain.

The MGE is expressed in units of its own half-light radius R_e and total light L_tot
(:func:`fastjam.family.unit_mge`), so that the analytic scaling law

.. math:: V_{\\rm rms} = \\sqrt{G (M/L) L_{\\rm tot} / (R_e D)}\\; f(x/R_e, y/R_e; \\ldots)

sets the physical units. The domain is the training family of :mod:`fastjam.family` with the
observing ranges of :mod:`fastjam.emulator.general_features`; its ranges are justified in
``docs/parameter_space.md``. :func:`domain_violations` names every feature outside it.
"""
from dataclasses import dataclass

import numpy as np

from .emulator.general_features import BETA_LO, PIXSIZE_RATIO, SIGMA_PSF_RE, beta_hi
from .family import MAX_GAUSSIANS, unit_mge
from .physics.geometry import QINTR_MIN


@dataclass(frozen=True)
class UnitPhotometry:
    """An MGE in units of its own R_e and L_tot.

    Attributes
    ----------
    surf : ndarray, shape (k,)
        Peak surface brightness in L_tot / R_e^2.
    sigma : ndarray, shape (k,)
        Dispersions in R_e.
    qobs : ndarray, shape (k,)
        Observed axis ratios.
    r_e : float
        Major axis of the half-light isophote in arcsec.
    l_tot : float
        Total light in Lsun.
    """

    surf: np.ndarray
    sigma: np.ndarray
    qobs: np.ndarray
    r_e: float
    l_tot: float

    @property
    def weight(self):
        """Light fraction of each Gaussian, :math:`2\\pi S_j q_j \\sigma_j^2` (sums to 1)."""
        return 2 * np.pi * self.surf * self.qobs * self.sigma**2


def unit_photometry(mge, distance):
    """R_e [arcsec], L_tot [Lsun] and the unit MGE of an :class:`~fastjam.physics.MGE`.

    Parameters
    ----------
    mge : fastjam.physics.MGE
        surf in Lsun/pc^2, sigma in arcsec.
    distance : float
        Mpc (sets L_tot only).

    Returns
    -------
    UnitPhotometry
    """
    surf, sigma, qobs, r_e, _ = unit_mge(mge.surf, mge.sigma, mge.qobs)
    return UnitPhotometry(surf, sigma, qobs, r_e, mge.total_luminosity(distance))


def effective_radius(galaxy):
    """Effective radius in arcsec: the Sérsic R_e, or the MGE's circularised half-light radius."""
    phot = galaxy.photometry
    if hasattr(phot, "r_e"):
        return float(phot.r_e)
    from jampy.mge.mge_half_light_isophote import mge_half_light_isophote

    return float(mge_half_light_isophote(phot.surf, phot.sigma, phot.qobs)[0])


@dataclass(frozen=True)
class GeneralDomain:
    """Ranges of the general-photometry emulator (see ``docs/parameter_space.md``).

    ``sigma_re`` bounds the dispersions (in R_e) of the Gaussians that carry at least
    ``light_floor`` of the light: the range spanned by the training family's Gaussians
    (0.00094-68 R_e over 1,024 design points, ``bench/general_jam.py ranges``). Its upper end
    takes the outermost Gaussian of every single-Sérsic MGE (up to 65 R_e near n = 4.8),
    emulated there as well as elsewhere (``bench/general_sersic.py``).
    """

    max_gaussians: int = MAX_GAUSSIANS
    light_floor: float = 1e-3
    sigma_re: tuple = (1e-3, 70.0)
    inclination: tuple = (10.0, 90.0)
    sigma_psf_re: tuple = SIGMA_PSF_RE
    pixsize_ratio: tuple = (0.0, PIXSIZE_RATIO[1])


def domain_violations(unit, inclination=None, beta_z=None, sigma_psf_re=None, pixsize_re=None,
                      domain=GeneralDomain()):
    """Features of a galaxy outside the emulator's domain, as one-line messages (empty if inside).

    Parameters
    ----------
    unit : UnitPhotometry
    inclination : float, optional
        Degrees; also checked against q_intr >= 0.05 of every Gaussian.
    beta_z : float, optional
        Checked against [-0.2, 0.7 (1 - max_j q_intr,j)] (needs the inclination).
    sigma_psf_re, pixsize_re : float, optional
        PSF dispersion and pixel size in units of R_e.

    Returns
    -------
    list of str
    """
    out = []
    k = unit.sigma.size
    if k > domain.max_gaussians:
        out.append(f"number of Gaussians = {k} exceeds {domain.max_gaussians}")
    bright = unit.weight >= domain.light_floor
    lo, hi = domain.sigma_re
    for j in np.flatnonzero(bright & ((unit.sigma < lo) | (unit.sigma > hi))):
        out.append(f"sigma/R_e of Gaussian {j} = {unit.sigma[j]:.4g} (light fraction {unit.weight[j]:.3g}) "
                   f"is outside [{lo:g}, {hi:g}]")
    if sigma_psf_re is not None and not domain.sigma_psf_re[0] <= sigma_psf_re <= domain.sigma_psf_re[1]:
        out.append(f"sigma_psf/R_e = {sigma_psf_re:.4g} is outside [{domain.sigma_psf_re[0]:g}, "
                   f"{domain.sigma_psf_re[1]:g}]")
    if sigma_psf_re is not None and pixsize_re is not None:
        ratio = pixsize_re / sigma_psf_re
        if not domain.pixsize_ratio[0] <= ratio <= domain.pixsize_ratio[1]:
            out.append(f"pixsize/sigma_psf = {ratio:.4g} is outside [{domain.pixsize_ratio[0]:g}, "
                       f"{domain.pixsize_ratio[1]:g}]")
    if inclination is not None:
        out += _inclination_violations(unit, float(inclination), beta_z, domain)
    return out


def _inclination_violations(unit, inclination, beta_z, domain):
    lo, hi = domain.inclination
    if not lo <= inclination <= hi:
        return [f"inclination = {inclination:.4g} deg is outside [{lo:g}, {hi:g}]"]
    cos_i = np.cos(np.radians(inclination))
    q_min = float(np.min(unit.qobs))
    if q_min**2 - cos_i**2 < QINTR_MIN**2 * (1 - cos_i**2) - 1e-12:
        i_min = float(np.degrees(np.arccos(np.sqrt((q_min**2 - QINTR_MIN**2) / (1 - QINTR_MIN**2)))))
        return [f"inclination = {inclination:.4g} deg is below {i_min:.4g} deg, where the flattest Gaussian "
                f"(q_obs = {q_min:.3g}) has q_intr = {QINTR_MIN}"]
    if beta_z is None:
        return []
    b_hi = float(beta_hi(unit.qobs, unit.weight, np.asarray(cos_i)))
    if not BETA_LO <= beta_z <= b_hi + 1e-12:
        return [f"beta_z = {beta_z:.4g} is outside [{BETA_LO:g}, {b_hi:.4g}] (0.7 (1 - q_intr) of the roundest "
                f"Gaussian at inclination {inclination:.4g} deg)"]
    return []


def check_domain(unit, inclination=None, beta_z=None, sigma_psf_re=None, pixsize_re=None, domain=GeneralDomain()):
    """Raise ``ValueError`` naming every feature outside the domain (see :func:`domain_violations`)."""
    bad = domain_violations(unit, inclination, beta_z, sigma_psf_re, pixsize_re, domain)
    if bad:
        raise ValueError("outside the general emulator's domain: " + "; ".join(bad))

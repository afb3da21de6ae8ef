"""The general-photometry emulator as a forward model, behind :class:`fastjam.forward.ForwardModel`.

:meth:`fastjam.emulator.Emulator.load` returns a :class:`GeneralEmulator` when the model card
is of the general kind (:func:`fastjam.emulator.features.card_kind`). It takes any galaxy,
Sérsic or MGE, through the galaxy's MGE in units of its own R_e and L_tot
(:func:`fastjam.photometry.unit_photometry`); :meth:`GeneralEmulator.bind` checks the
galaxy's features against the domain (:func:`fastjam.photometry.check_domain`) and returns a
pure-JAX :class:`~fastjam.emulator.general_jax.BoundGeneralEmulator` (no torch).
"""
import dataclasses

import numpy as np

from ..forward import ForwardModel, check_positions
from ..photometry import GeneralDomain, check_domain, unit_photometry
from ..physics.geometry import QINTR_MIN, q_intr
from .features import check_feature_definition
from .general_features import BETA_LO


class GeneralEmulator(ForwardModel):
    """Neural emulator of self-consistent JAM V_RMS maps for any MGE.

    Parameters
    ----------
    arrays : dict
        Network weights (:mod:`fastjam.emulator.store`).
    card : dict
        The model card: ``network`` (a :class:`~fastjam.emulator.general.GeneralConfig` as a
        dict), ``features`` (:func:`fastjam.emulator.general_features.feature_definition`)
        and, for the likelihood, ``error_model`` and ``metrics``
        (:func:`fastjam.emulator.general_evaluate.error_card`).
    allow_extrapolation : bool
        Bind galaxies outside the domain or positions beyond the field instead of raising
        ``ValueError`` (explicit opt-in; accuracy is then unknown).
    device : str
        Unused (the general emulator's forward model is JAX only); accepted as by
        :class:`~fastjam.emulator.Emulator`.
    path : Path, optional
        Where the emulator was loaded from.
    """

    kind = "general"
    domain = GeneralDomain()
    from_default = False  #: loaded as the default of a photometry (no path given)

    def __init__(self, arrays, card, allow_extrapolation=False, device="cpu", path=None):
        check_feature_definition(card)
        self.arrays = {k: np.asarray(v, dtype=np.float32) for k, v in arrays.items()}
        self.card, self.path = card, path
        self.allow_extrapolation = bool(allow_extrapolation)

    def check_photometry(self, galaxy):
        """Every photometry (Sérsic or MGE) is accepted; its domain is checked by :meth:`bind`."""

    def effective_radius(self, galaxy):
        """R_e [arcsec] the emulator scales by: the major axis of the MGE's half-light isophote."""
        return unit_photometry(galaxy.mge, galaxy.distance).r_e

    def bind(self, galaxy, x, y):
        """The emulator for one galaxy at positions ``x, y`` [arcsec], in pure JAX.

        The galaxy's features (number and sizes of the Gaussians, sigma_psf/R_e,
        pixsize/sigma_psf) and the positions are checked here, once; inclination and beta_z
        are kept inside the domain by the priors (:meth:`priors_within`).

        Raises
        ------
        ValueError
            Naming each feature outside the domain, its value and the range.
        """
        from .general_jax import bind

        x, y = check_positions(x, y)
        return bind(self.arrays, self.card, galaxy, x, y, check=not self.allow_extrapolation)

    def novelty(self, galaxy, n_inclinations=9):
        """How far ``galaxy`` lies from the training maps (:mod:`fastjam.emulator.novelty`), at
        ``n_inclinations`` from the lowest its flattest Gaussian allows to 90 deg.

        Returns
        -------
        NoveltyCurve or None
            None when the card has no novelty calibration.
        """
        entry = self.card.get("novelty")
        if not entry or "novelty.points" not in self.arrays:
            return None
        from .general_jax import unit_coefficients
        from .novelty import NoveltyCurve, distance, prior_inclinations

        unit = unit_photometry(galaxy.mge, galaxy.distance)
        inclinations = prior_inclinations(np.min(unit.qobs), self.domain.inclination[0], n_inclinations)
        coeff = unit_coefficients(self.arrays, self.card["network"], unit, galaxy.sigma_psf / unit.r_e,
                                  galaxy.pixsize / unit.r_e, np.cos(np.radians(inclinations)))
        return NoveltyCurve(inclinations, distance(self.arrays, coeff), entry)

    def priors_within(self, priors, galaxy):
        """``priors`` restricted to the domain for ``galaxy`` (a :class:`fastjam.model.Priors`).

        beta_z >= ``BETA_LO``; beta_z <= 0.7 (1 - q_intr) of the *roundest* Gaussian (the upper
        anchor of the network); q_intr >= 0.05 for the flattest one; inclination >= the
        domain's lowest.
        """
        qobs = unit_photometry(galaxy.mge, galaxy.distance).qobs
        i_low = self.domain.inclination[0]
        q_min = max(priors.q_intr_min, QINTR_MIN, float(q_intr(priors.q_obs, i_low)))
        return dataclasses.replace(priors, beta_z_min=max(priors.beta_z_min, BETA_LO), q_intr_min=q_min,
                                   q_obs_beta=max(priors.q_obs_beta, float(np.max(qobs))))

    def _vrms(self, galaxy, params, x, y):
        bound = self.bind(galaxy, x, y)
        if not self.allow_extrapolation:
            unit = unit_photometry(galaxy.mge, galaxy.distance)
            for inc, beta in zip(params.inclination, params.beta_z):
                check_domain(unit, inclination=inc, beta_z=beta)
        return np.array([np.asarray(bound(i, b, m), dtype=float)
                         for i, b, m in zip(params.inclination, params.beta_z, params.ml)])

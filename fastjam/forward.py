"""One forward-model interface for JAM and the emulator.

A forward model maps a :class:`~fastjam.galaxy.Galaxy`, a batch of ``m`` parameter sets
(inclination, beta_z, ml) and ``p`` sky positions to V_RMS in km/s, shape ``(m, p)``
(:meth:`ForwardModel.vrms`). For a likelihood, :meth:`ForwardModel.bind` fixes the galaxy and
the positions, validated once, and returns a *bound forward model*: a picklable callable
``model(inclination, beta_z, ml) -> (p,)`` V_RMS in km/s with an attribute ``xp``, its array
namespace (``numpy`` for jampy, ``jax.numpy`` for the emulator).
"""
from abc import ABC, abstractmethod
from dataclasses import dataclass

import numpy as np

from .physics.geometry import min_inclination
from .validation import check_finite, check_positive, check_range


@dataclass(frozen=True)
class Parameters:
    """A validated batch of JAM parameters, each of shape (m,).

    Attributes
    ----------
    inclination : ndarray
        Degrees, 90 = edge-on.
    beta_z : ndarray
        Anisotropy :math:`1 - \\sigma_z^2/\\sigma_R^2`.
    ml : ndarray
        Mass-to-light ratio in Msun/Lsun.
    """

    inclination: np.ndarray
    beta_z: np.ndarray
    ml: np.ndarray

    @classmethod
    def validate(cls, q_obs, inclination, beta_z, ml):
        """Broadcast to 1-D and check ranges; raise ``ValueError`` naming the bad value."""
        inc, beta, ml = np.broadcast_arrays(
            *(np.atleast_1d(np.asarray(v, dtype=float)) for v in (inclination, beta_z, ml))
        )
        if inc.ndim != 1:
            raise ValueError(f"parameters must be scalars or 1-D arrays, got shape {inc.shape}")
        i_min = float(min_inclination(q_obs))
        check_range(f"inclination [deg] (q_obs = {q_obs:.3g})", inc, i_min, 90.0)
        check_range("beta_z", beta, -np.inf, 1.0, high_open=True)
        check_positive("M/L", ml)
        return cls(inc.copy(), beta.copy(), ml.copy())


def check_positions(x, y):
    """Return x, y as equal-length 1-D float arrays (arcsec) or raise ``ValueError``."""
    x = np.atleast_1d(check_finite("x [arcsec]", x)).ravel()
    y = np.atleast_1d(check_finite("y [arcsec]", y)).ravel()
    if x.size != y.size:
        raise ValueError(f"x and y have mismatched lengths: {x.size} and {y.size}")
    if x.size == 0:
        raise ValueError("no positions given")
    return x, y


class ForwardModel(ABC):
    """Base class: V_RMS in km/s of a self-consistent JAM model.

    Subclasses implement :meth:`_vrms`; :meth:`vrms` validates the inputs first.
    """

    def vrms(self, galaxy, inclination, beta_z, ml, x, y):
        """Second velocity moment :math:`V_{\\rm rms} = \\sqrt{V^2 + \\sigma^2}`.

        Parameters
        ----------
        galaxy : Galaxy
            Photometry, distance [Mpc], PSF sigma and pixel size [arcsec].
        inclination, beta_z, ml : float or array_like, shape (m,)
            Inclination [deg], anisotropy, mass-to-light ratio [Msun/Lsun].
        x, y : array_like, shape (p,)
            Positions in arcsec, x along the projected major axis.

        Returns
        -------
        ndarray, shape (m, p)
            V_RMS in km/s.
        """
        params = Parameters.validate(galaxy.q_obs, inclination, beta_z, ml)
        x, y = check_positions(x, y)
        return self._vrms(galaxy, params, x, y)

    @abstractmethod
    def bind(self, galaxy, x, y):
        """The bound forward model of ``galaxy`` at positions ``x, y`` [arcsec] (see the module docstring).

        Raises
        ------
        ValueError
            If the galaxy or the positions cannot be modelled (checked here, once).
        """

    @abstractmethod
    def _vrms(self, galaxy, params, x, y):
        """Compute V_RMS (km/s, shape (m, p)) for validated inputs."""

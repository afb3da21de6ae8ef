"""Deprojection geometry of an oblate axisymmetric galaxy and the anisotropy constraint.

An oblate spheroid of intrinsic axis ratio :math:`q` seen at inclination :math:`i`
(90 deg edge-on) has observed axis ratio

.. math:: q_{\\rm obs}^2 = q^2 \\sin^2 i + \\cos^2 i ,

so that :math:`i \\ge \\arccos q_{\\rm obs}`. As jampy, fastjam requires
:math:`q \\ge 0.05` (``QINTR_MIN``), which sets the minimum inclination.
The training set and the priors enforce :math:`\\beta_z \\le 0.7\\,\\epsilon_{\\rm intr}`,
:math:`\\epsilon_{\\rm intr} = 1 - q` (Cappellari et al. 2007, MNRAS 379, 418, fig. 13).
"""
import numpy as np

from ..validation import check_range

QINTR_MIN = 0.05
BETA_EPS_SLOPE = 0.7


def q_intr(q_obs, inclination, xp=np):
    """Intrinsic axis ratio, array-generic and unchecked (for traced code: numpy, JAX, torch).

    .. math:: q_{\\rm intr} = \\sqrt{\\max(q_{\\rm obs}^2 - \\cos^2 i,\\, 0)} / \\sin i

    Parameters
    ----------
    q_obs : float or array
        Observed axis ratio.
    inclination : float or array
        Degrees (90 = edge-on); broadcasts against ``q_obs``.
    xp : module
        Array namespace (``numpy``, ``jax.numpy``, ``torch``).

    Returns
    -------
    array
        Below the minimum inclination the result is 0 (no checks: use
        :func:`qintr_from_inclination` for validated input).
    """
    rad = inclination * (np.pi / 180)
    return xp.sqrt(xp.clip(q_obs**2 - xp.cos(rad) ** 2, 0.0, None)) / xp.sin(rad)


def qintr_from_inclination(q_obs, inclination):
    """Intrinsic axis ratio from the observed one and the inclination.

    Parameters
    ----------
    q_obs : float or array_like
        Observed axis ratio, in (0, 1].
    inclination : float or array_like
        Inclination in degrees (90 = edge-on), above :func:`min_inclination`.

    Returns
    -------
    q_intr : float or ndarray
        :math:`\\sqrt{q_{\\rm obs}^2 - \\cos^2 i} / \\sin i`.

    Raises
    ------
    ValueError
        If the inclination is below the minimum allowed by ``q_obs``.
    """
    q_obs = check_range("q_obs", q_obs, 0, 1, low_open=True)
    inc = check_range("inclination [deg]", inclination, 0, 90, low_open=True)
    i_min = min_inclination(q_obs)
    if np.any(inc < i_min - 1e-9):
        bad = np.broadcast_to(inc, np.broadcast(inc, i_min).shape)
        low = np.broadcast_to(i_min, bad.shape)
        k = np.argmax(bad < low - 1e-9)
        raise ValueError(
            f"inclination = {bad.flat[k]:g} deg is below the minimum {low.flat[k]:.4g} deg "
            f"allowed by q_obs (q_intr >= {QINTR_MIN})"
        )
    return q_intr(q_obs, inc)


def inclination_from_qintr(q_obs, q_intr):
    """Inclination in degrees from observed and intrinsic axis ratios.

    .. math:: \\tan i = \\sqrt{1 - q_{\\rm obs}^2} / \\sqrt{q_{\\rm obs}^2 - q^2}

    Parameters
    ----------
    q_obs : float or array_like
        Observed axis ratio, in (0, 1].
    q_intr : float or array_like
        Intrinsic axis ratio, in [0.05, q_obs].

    Returns
    -------
    float or ndarray
        Inclination in degrees.
    """
    q_obs = check_range("q_obs", q_obs, 0, 1, low_open=True)
    q_intr = check_range("q_intr", q_intr, QINTR_MIN, 1)
    if np.any(q_intr > q_obs + 1e-12):
        raise ValueError("q_intr must be <= q_obs for an oblate galaxy, got q_intr > q_obs")
    return np.degrees(np.arctan2(np.sqrt(1 - q_obs**2), np.sqrt(np.clip(q_obs**2 - q_intr**2, 0, None))))


def min_inclination(q_obs, q_intr_min=QINTR_MIN, xp=np):
    """Smallest inclination in degrees for which ``q_intr >= q_intr_min``.

    Parameters
    ----------
    q_obs : float or array_like
        Observed axis ratio in (0, 1] (checked when ``xp`` is numpy).
    q_intr_min : float
        Floor on the intrinsic axis ratio (jampy's 0.05 by default).
    xp : module
        Array namespace (``jax.numpy`` inside traced code: no checks then).

    Returns
    -------
    float or ndarray
        :math:`i_{\\min} = \\arctan[\\sqrt{1 - q_{\\rm obs}^2} / \\sqrt{q_{\\rm obs}^2 - q_{\\min}^2}]` in degrees
        (90 when ``q_obs <= q_intr_min``).
    """
    if xp is np:
        q_obs = check_range("q_obs", q_obs, 0, 1, low_open=True)
    q_obs = xp.maximum(q_obs, q_intr_min)
    return xp.arctan2(xp.sqrt(1 - q_obs**2), xp.sqrt(q_obs**2 - q_intr_min**2)) * (180 / np.pi)


def beta_z_max(q_intr_value):
    """Upper bound of the anisotropy, :math:`\\beta_z \\le 0.7 (1 - q_{\\rm intr})` (``BETA_EPS_SLOPE``).

    Parameters
    ----------
    q_intr_value : float or array
        Intrinsic axis ratio (numpy, JAX or torch array).

    Returns
    -------
    float or array
    """
    return BETA_EPS_SLOPE * (1 - q_intr_value)

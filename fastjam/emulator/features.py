"""Inputs of the emulator network, computed the same way for torch, JAX and numpy.

The network sees

* the photometry image, :math:`\\log_{10}[\\Sigma/(L_{\\rm tot}/R_e^2)]` on the 64 x 64 field
  (:func:`fastjam.physics.grid.photometry_image`), clipped at ``IMAGE_FLOOR`` and scaled to
  order unity;
* five dimensionless JAM parameters mapped to about [-1, 1]:
  :math:`\\cos i`, :math:`q_{\\rm intr}`, :math:`\\beta_z`, :math:`\\ln(\\sigma_{\\rm psf}/R_e)`,
  :math:`{\\rm pixsize}/\\sigma_{\\rm psf}`;
* for the MLP-only baseline, (n, q_obs) instead of the image.

The functions take the array namespace ``xp`` (numpy, torch or jax.numpy).
"""
import numpy as np

IMAGE_FLOOR = -6.0  #: log10 surface-brightness floor of the image
IMAGE_OFFSET = -1.5
IMAGE_SCALE = 2.0
N_PARAM_FEATURES = 5


def image_features(image, xp=np):
    """Scale a log10 photometry image (..., 64, 64) to order unity."""
    return (xp.clip(image, IMAGE_FLOOR, None) - IMAGE_OFFSET) / IMAGE_SCALE


def _unit(value, low, high):
    return 2 * (value - low) / (high - low) - 1


def param_features(q_obs, inclination, beta_z, sigma_psf_re, pixsize_re, space, xp=np):
    """Map dimensionless JAM parameters to the network's parameter inputs.

    Parameters
    ----------
    q_obs, inclination, beta_z, sigma_psf_re, pixsize_re : array, shape (m,)
        Observed axis ratio, inclination [deg], anisotropy, PSF sigma and pixel size [R_e].
    space : dict
        The training :class:`~fastjam.design.ParameterSpace` as a dict.

    Returns
    -------
    array, shape (m, 5)
    """
    rad = inclination * (np.pi / 180)
    cos_i = xp.cos(rad)
    sin_i = xp.sin(rad)
    q_intr = xp.sqrt(xp.clip(q_obs**2 - cos_i**2, 0.0, None)) / sin_i
    lo, hi = np.log(space["sigma_psf_re"][0]), np.log(space["sigma_psf_re"][1])
    feats = [
        _unit(cos_i, 0.0, 1.0),
        _unit(q_intr, 0.0, 1.0),
        _unit(beta_z, space["beta_z_min"], 0.7),
        _unit(xp.log(sigma_psf_re), lo, hi),
        _unit(pixsize_re / sigma_psf_re, *space["pixsize_ratio"]),
    ]
    return xp.stack(feats, -1)


def sersic_features(n, q_obs, space, xp=np):
    """(n, q_obs) mapped to [-1, 1], for the MLP-only baseline; shape (m, 2)."""
    return xp.stack([_unit(n, *space["n"]), _unit(q_obs, *space["q_obs"])], -1)

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

from ..physics.geometry import BETA_EPS_SLOPE, q_intr

IMAGE_FLOOR = -6.0  #: log10 surface-brightness floor of the image
IMAGE_OFFSET = -1.5
IMAGE_SCALE = 2.0
N_PARAM_FEATURES = 5
#: Names of the parameter features, in the network's input order.
PARAM_FEATURES = ("cos_i", "q_intr", "beta_z", "ln_sigma_psf_re", "pixsize_over_sigma_psf")


def feature_definition(space):
    """The feature constants as stored in an emulator's card (and compared on loading).

    Parameters
    ----------
    space : dict
        The training parameter space (:meth:`fastjam.design.ParameterSpace.as_dict`).

    Returns
    -------
    dict
        Image floor, offset and scale; parameter feature names and the (low, high) range
        each is mapped from onto [-1, 1].
    """
    lo, hi = space["sigma_psf_re"]
    ranges = [(0.0, 1.0), (0.0, 1.0), (space["beta_z_min"], BETA_EPS_SLOPE), (float(np.log(lo)), float(np.log(hi))),
              tuple(space["pixsize_ratio"])]
    return dict(image=dict(floor=IMAGE_FLOOR, offset=IMAGE_OFFSET, scale=IMAGE_SCALE),
                params=[dict(name=n, range=[float(a), float(b)]) for n, (a, b) in zip(PARAM_FEATURES, ranges)])


def card_kind(card):
    """``"general"`` for a general-photometry emulator's card (any MGE), else ``"sersic"``."""
    kinds = {(card.get(key) or {}).get("kind") for key in ("features", "space")}
    return "general" if "general" in kinds else "sersic"


def check_feature_definition(card):
    """Raise ``ValueError`` unless ``card`` stores the feature definition of this code (of its kind).

    Weights trained on other features would load silently and give wrong maps.
    """
    stored = card.get("features")
    if stored is None:
        raise ValueError("the emulator card stores no feature definition (\"features\"): it was saved by an older "
                         "fastjam; add it with fastjam.emulator.store.update_card(path, features=...) after checking "
                         "the features it was trained on")
    if card_kind(card) == "general":
        from .general_features import feature_definition as general_definition

        expected = general_definition()
    else:
        expected = feature_definition(card["space"])
    if _rounded(stored) != _rounded(expected):
        raise ValueError(f"the emulator was trained on other input features than this code computes: stored "
                         f"{stored}, expected {expected}")


def _rounded(d):
    if isinstance(d, dict):
        return {k: _rounded(v) for k, v in d.items()}
    if isinstance(d, (list, tuple)):
        return [_rounded(v) for v in d]
    return round(d, 12) if isinstance(d, float) else d


def image_features(image, xp=np):
    """Scale a log10 photometry image (..., 64, 64) to order unity."""
    return (xp.clip(image, IMAGE_FLOOR, None) - IMAGE_OFFSET) / IMAGE_SCALE


def unit_interval(value, low, high):
    """Map ``value`` from [low, high] onto [-1, 1] (broadcasting; any array namespace)."""
    return 2 * (value - low) / (high - low) - 1


def param_values(q_obs, inclination, beta_z, sigma_psf_re, pixsize_re, xp=np):
    """The parameter features before scaling, shape (m, 5), in ``PARAM_FEATURES`` order."""
    return xp.stack([xp.cos(inclination * (np.pi / 180)), q_intr(q_obs, inclination, xp), beta_z,
                     xp.log(sigma_psf_re), pixsize_re / sigma_psf_re], -1)


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
    ranges = np.array([p["range"] for p in feature_definition(space)["params"]])
    return unit_interval(param_values(q_obs, inclination, beta_z, sigma_psf_re, pixsize_re, xp), ranges[:, 0],
                         ranges[:, 1])


def sersic_features(n, q_obs, space, xp=np):
    """(n, q_obs) mapped to [-1, 1], for the MLP-only baseline; shape (m, 2)."""
    return xp.stack([unit_interval(n, *space["n"]), unit_interval(q_obs, *space["q_obs"])], -1)

"""The emulator forward model in JAX, loading the same weights as the PyTorch network.

Pure functions: ``jax.jit``-, ``jax.grad``- and ``jax.vmap``-able. For a fixed galaxy and
fixed data positions the photometry encoding and the bilinear interpolation of the linear
output layer are computed once (:func:`make_vrms_function`), so each call costs one small
MLP and a (p x K) matrix product.
"""
import numpy as np

from ..physics import grid
from ..physics.scaling import velocity_scale
from .features import image_features, param_features, sersic_features


def _linear(params, prefix, x):
    return x @ params[f"{prefix}.weight"].T + params[f"{prefix}.bias"]


def to_jax(arrays):
    """Weights as a dict of jax arrays (float32)."""
    import jax.numpy as jnp

    return {k: jnp.asarray(v, dtype=jnp.float32) for k, v in arrays.items()}


def encode(params, image_feat, config):
    """Photometry latent vector: (B, 1, 64, 64) -> (B, latent), as ``PhotometryEncoder``."""
    import jax
    from jax import lax

    x = image_feat
    for k in range(len(config["image_channels"])):
        w, b = params[f"encoder.conv.{2 * k}.weight"], params[f"encoder.conv.{2 * k}.bias"]
        x = lax.conv_general_dilated(x, w, window_strides=(2, 2), padding=((1, 1), (1, 1)),
                                     dimension_numbers=("NCHW", "OIHW", "NCHW"))
        x = jax.nn.silu(x + b[None, :, None, None])
    return jax.nn.silu(_linear(params, "encoder.fc", x.reshape(x.shape[0], -1)))


def hidden(params, first, params_feat, config):
    """Last hidden layer of the MLP, as ``EmulatorNetwork.hidden``."""
    import jax
    import jax.numpy as jnp

    x = jnp.concatenate([first, params_feat], -1)
    for k in range(len(config["hidden"])):
        x = jax.nn.silu(_linear(params, f"mlp.{2 * k}", x))
    return x


def log_maps(params, first, params_feat, config):
    """ln f on the map grid, (B, NTHETA*NR), from latent (or (n, q_obs)) and parameter features."""
    return _linear(params, "basis", _linear(params, "coeff", hidden(params, first, params_feat, config)))


def interpolation_weights(x_re, y_re, ntheta=grid.NTHETA, nr=grid.NR):
    """Sparse bilinear interpolation of the map grid at positions in R_e, as a dense (p, NTHETA*NR) matrix."""
    it, ir = grid.polar_coordinates(x_re, y_re, nr, ntheta)
    t0 = np.clip(np.floor(it).astype(int), 0, ntheta - 2)
    r0 = np.clip(np.floor(ir).astype(int), 0, nr - 2)
    wt, wr = it - t0, ir - r0
    mat = np.zeros((np.size(x_re), ntheta * nr))
    rows = np.arange(np.size(x_re))
    for dt, dr, w in [(0, 0, (1 - wt) * (1 - wr)), (0, 1, (1 - wt) * wr), (1, 0, wt * (1 - wr)), (1, 1, wt * wr)]:
        np.add.at(mat, (rows, (t0 + dt) * nr + r0 + dr), w)
    return mat


def make_vrms_function(emulator, galaxy, x, y):
    """A JAX function ``vrms(inclination, beta_z, ml)`` for one galaxy at fixed positions.

    Parameters
    ----------
    emulator : Emulator
        A loaded emulator (its weights and card are used; torch is not called).
    galaxy : Galaxy
        Sérsic galaxy inside the training domain (n, q_obs, sigma_psf/R_e, pixsize/R_e).
    x, y : array_like, shape (p,)
        Positions in arcsec (inside the emulated field).

    Returns
    -------
    callable
        ``vrms(inclination [deg], beta_z, ml) -> (p,)`` km/s; scalar arguments, so use
        ``jax.vmap`` for batches. Inclination and beta_z must stay inside the training domain
        (the priors of :mod:`fastjam.model` ensure it; nothing is checked inside traced code).
    """
    import jax.numpy as jnp

    from ..galaxy import Sersic
    from .model import sersic_image

    ph = galaxy.photometry
    if not isinstance(ph, Sersic):
        raise ValueError("the emulator is trained on Sérsic photometry only: use the JAM forward model for an MGE")
    card, config = emulator.card, emulator.card["network"]
    sig_re, pix_re = galaxy.sigma_psf / ph.r_e, galaxy.pixsize / ph.r_e
    # galaxy-level domain check at a valid interior inclination / beta_z
    from ..physics.geometry import min_inclination

    emulator.check_domain(np.array([[ph.n, ph.q_obs, 0.5 * (min_inclination(ph.q_obs) + 90), 0.0, sig_re, pix_re]]))
    x_re, y_re = np.asarray(x, float) / ph.r_e, np.asarray(y, float) / ph.r_e
    emulator.check_field(x_re, y_re)
    params = to_jax({k: v.detach().cpu().numpy() for k, v in emulator.net.state_dict().items()})
    if config["use_image"]:
        img = image_features(sersic_image(ph.n, ph.q_obs))[None, None].astype(np.float32)
        first = encode(params, jnp.asarray(img), config)[0]
    else:
        first = jnp.asarray(sersic_features(np.array([ph.n]), np.array([ph.q_obs]), card["space"])[0],
                            dtype=jnp.float32)
    interp = interpolation_weights(x_re, y_re)
    basis_w = np.asarray(params["basis.weight"], dtype=np.float64)  # (NTHETA*NR, K)
    data_w = jnp.asarray(interp @ basis_w, dtype=jnp.float32)  # (p, K)
    data_b = jnp.asarray(interp @ np.asarray(params["basis.bias"], dtype=np.float64), dtype=jnp.float32)
    unit_scale = float(velocity_scale(1.0, ph.l_tot, ph.r_e, galaxy.distance))
    space, q_obs = card["space"], float(ph.q_obs)

    def vrms(inclination, beta_z, ml):
        pf = param_features(jnp.asarray(q_obs), jnp.asarray(inclination), jnp.asarray(beta_z),
                            jnp.asarray(sig_re), jnp.asarray(pix_re), space, xp=jnp)
        h = hidden(params, first[None], pf[None].astype(jnp.float32), config)[0]
        coeff = _linear(params, "coeff", h)
        return jnp.exp(data_w @ coeff + data_b) * (unit_scale * jnp.sqrt(ml))

    return vrms

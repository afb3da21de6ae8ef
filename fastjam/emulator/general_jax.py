"""The general-photometry emulator in pure JAX, from the stored arrays (no torch import).

Mirrors :class:`fastjam.emulator.general.GeneralEmulatorNetwork` layer by layer; the weights
are the ``emulator.npz`` arrays and the architecture is the card's ``network`` entry.
"""
import numpy as np

from ..physics.scaling import velocity_scale
from .general_features import anchor_weight, beta_hi, f_from_anchors, global_features, token_features
from .jax_model import _linear, interpolation_weights, to_jax


def _mlp(params, prefix, n_layers, x):
    import jax

    for k in range(n_layers):
        x = jax.nn.silu(_linear(params, f"{prefix}.{2 * k}", x))
    return x


def encode(params, config, ln_sigma, qobs, weight, cos_i):
    """Latent vector (B, latent) as ``GeneralEmulatorNetwork.encode``; inputs (B, k) and (B,)."""
    import jax.numpy as jnp

    n_phi = len(config["token_hidden"]) + 1
    tok = token_features(ln_sigma, qobs, cos_i, jnp)
    if config["encoder"] == "singles":
        return jnp.einsum("bj,bjl->bl", weight, _mlp(params, "phi", n_phi, tok))
    k = tok.shape[1]
    pairs = jnp.concatenate([jnp.broadcast_to(tok[:, :, None], tok.shape[:2] + (k, tok.shape[2])),
                             jnp.broadcast_to(tok[:, None], (tok.shape[0], k) + tok.shape[1:])], -1)
    return jnp.einsum("bj,bk,bjkl->bl", weight, weight, _mlp(params, "phi", n_phi, pairs))


def coefficients(params, config, latent, glob):
    """Basis coefficients (B, n_basis) from the latent vector and the observing features."""
    import jax.numpy as jnp

    h = _mlp(params, "mlp", len(config["hidden"]), jnp.concatenate([latent, glob], -1))
    return _linear(params, "coeff", h)


def forward(params, config, ln_sigma, qobs, weight, cos_i, glob):
    """Network outputs (B, n_out), as ``GeneralEmulatorNetwork.forward``."""
    return _linear(params, "basis", coefficients(params, config, encode(params, config, ln_sigma, qobs, weight,
                                                                        cos_i), glob))


def make_vrms_function(arrays, card, galaxy, x, y):
    """A JAX function ``vrms(inclination, beta_z, ml)`` for one galaxy (Sérsic or MGE) at fixed positions.

    Parameters
    ----------
    arrays, card : dict
        Stored weights and card (:func:`fastjam.emulator.store.load_arrays`) of an
        ``output = "anchors"`` network.
    galaxy : fastjam.galaxy.Galaxy
    x, y : array_like, shape (p,)
        Positions in arcsec, inside |x|, |y| <= 2.5 R_e.

    Returns
    -------
    callable
        ``vrms(inclination [deg], beta_z, ml) -> (p,)`` km/s, exact in beta_z and M/L between
        the anchors. Inclination and beta_z are not checked inside traced code: check them
        with :func:`fastjam.photometry.check_domain`.
    """
    import jax.numpy as jnp

    from ..photometry import check_domain, unit_photometry
    from ..physics import grid

    config = card["network"]
    if config["output"] != "anchors":
        raise ValueError(f"make_vrms_function needs an 'anchors' network, got output = {config['output']!r}")
    unit = unit_photometry(galaxy.mge, galaxy.distance)
    sig_re, pix_re = galaxy.sigma_psf / unit.r_e, galaxy.pixsize / unit.r_e
    check_domain(unit, sigma_psf_re=sig_re, pixsize_re=pix_re)
    x_re, y_re = np.asarray(x, float) / unit.r_e, np.asarray(y, float) / unit.r_e
    if not np.all(grid.inside_field(x_re, y_re)):
        raise ValueError(f"positions reach {np.max(np.maximum(abs(x_re), abs(y_re))):.3g} R_e, outside the "
                         f"emulated field |x|, |y| <= {grid.FIELD_HALF} R_e (R_e = {unit.r_e:.4g} arcsec)")
    params = to_jax(arrays)
    interp = interpolation_weights(x_re, y_re)
    half = params["basis.bias"].shape[0] // 2
    w64, b64 = np.asarray(arrays["basis.weight"], np.float64), np.asarray(arrays["basis.bias"], np.float64)
    data_w = [jnp.asarray(interp @ w64[s], dtype=jnp.float32) for s in (slice(0, half), slice(half, None))]
    data_b = [jnp.asarray(interp @ b64[s], dtype=jnp.float32) for s in (slice(0, half), slice(half, None))]
    toks = [jnp.asarray(v[None], dtype=jnp.float32) for v in (np.log(unit.sigma), unit.qobs, unit.weight)]
    unit_scale = float(velocity_scale(1.0, unit.l_tot, unit.r_e, galaxy.distance))

    def vrms(inclination, beta_z, ml):
        cos_i = jnp.cos(jnp.radians(jnp.asarray(inclination, dtype=jnp.float32)))[None]
        b_hi = beta_hi(toks[1], toks[2], cos_i, jnp)
        glob = global_features(cos_i, jnp.full(1, sig_re, jnp.float32), jnp.full(1, pix_re, jnp.float32), b_hi, jnp)
        c = coefficients(params, config, encode(params, config, *toks, cos_i), glob)[0]
        f = f_from_anchors(data_w[0] @ c + data_b[0], data_w[1] @ c + data_b[1], anchor_weight(beta_z, b_hi[0]), jnp)
        return f * (unit_scale * jnp.sqrt(ml))

    return vrms

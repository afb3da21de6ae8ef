"""The general-photometry emulator in pure JAX, from the stored arrays (no torch import).

Mirrors :class:`fastjam.emulator.general.GeneralEmulatorNetwork` layer by layer; the weights
are the ``emulator.npz`` arrays and the architecture is the card's ``network`` entry. For a
fixed galaxy and fixed data positions the unit MGE, the velocity scale and the basis of the
two anchors interpolated to the data are computed once (:func:`bind`); each call then costs
the encoder over the Gaussians, the MLP and a (p x K) product per anchor, plus, for a network
with a per-position decoder, the decoder at the p positions.
"""
import functools

import numpy as np

from ..physics.scaling import velocity_scale
from .general_features import (PROFILE_ENCODERS, TOKEN_ENCODERS, anchor_weight, beta_hi, f_from_anchors,
                               global_features, profile_input, smoothing_width, token_features)
from .general_decoder import decode_jax, local_features, node_positions
from .jax_model import BoundEmulator, _linear, interpolation_weights, register_pytrees


def _mlp(params, prefix, n_layers, x):
    import jax

    for k in range(n_layers):
        x = jax.nn.silu(_linear(params, f"{prefix}.{2 * k}", x))
    return x


def encode(params, config, ln_sigma, qobs, weight, cos_i, smoothing=None):
    """Latent vector (B, latent) as ``GeneralEmulatorNetwork.encode``; inputs (B, k) and (B,); ``smoothing``
    (B,) [R_e], the width of the PSF and pixels (:func:`~fastjam.emulator.general_features.smoothing_width`),
    for a network with ``profile_psf``."""
    import jax.numpy as jnp

    n_phi, parts = len(config["token_hidden"]) + 1, []
    if config["encoder"] in TOKEN_ENCODERS:
        tok = token_features(ln_sigma, qobs, cos_i, jnp)
        if config["encoder"] == "pairs":
            k = tok.shape[1]
            pairs = jnp.concatenate([jnp.broadcast_to(tok[:, :, None], tok.shape[:2] + (k, tok.shape[2])),
                                     jnp.broadcast_to(tok[:, None], (tok.shape[0], k) + tok.shape[1:])], -1)
            parts.append(jnp.einsum("bj,bk,bjkl->bl", weight, weight, _mlp(params, "phi", n_phi, pairs)))
        else:
            parts.append(jnp.einsum("bj,bjl->bl", weight, _mlp(params, "phi", n_phi, tok)))
    if config["encoder"] in PROFILE_ENCODERS:
        parts.append(_mlp(params, "prof", n_phi, profile_input(config["encoder"], ln_sigma, qobs, weight, cos_i, jnp,
                                                               outer=config.get("profile_outer", ()),
                                                               angles=config.get("profile_angles", ()),
                                                               smoothed=config.get("profile_psf", False),
                                                               smoothing=smoothing)))
    return jnp.concatenate(parts, -1)


def hidden(params, config, latent, glob):
    """The MLP's last hidden layer (B, hidden[-1]) from the latent vector and the observing features."""
    import jax.numpy as jnp

    return _mlp(params, "mlp", len(config["hidden"]), jnp.concatenate([latent, glob], -1))


def forward(params, config, ln_sigma, qobs, weight, cos_i, glob, smoothing=None):
    """Network outputs (B, n_out) on the map grid, as ``GeneralEmulatorNetwork.forward`` (``smoothing``: see
    :func:`encode`)."""
    h = hidden(params, config, encode(params, config, ln_sigma, qobs, weight, cos_i, smoothing), glob)
    out = _linear(params, "basis", _linear(params, "coeff", h))
    if not config.get("decoder"):
        return out
    x, y = node_positions()
    return out + decoded(params, config, h, (ln_sigma, qobs, weight), cos_i, x, y).reshape(len(out), -1)


def decoded(params, config, h, toks, cos_i, x, y):
    """The per-position decoder's correction of ln f at both anchors (B, 2, P) at positions x, y (P,) [R_e]
    (:mod:`fastjam.emulator.general_decoder`)."""
    import jax.numpy as jnp

    local = local_features(*toks, cos_i, x, y, jnp)
    return decode_jax(params, tuple(config["decoder"]), h, local)


def mge_hidden(weights, config, toks, cos_i, sigma_psf_re, pixsize_re):
    """The MLP's last hidden layer (m, hidden[-1]) and upper anchors beta_hi (m,) of unit MGEs ``toks``
    (ln sigma, q_obs, weight; each (m, k)) at inclination cosines ``cos_i`` (m,) and the observing set-up."""
    import jax.numpy as jnp

    b_hi = beta_hi(toks[1], toks[2], cos_i, jnp)
    sig, pix = (jnp.broadcast_to(jnp.asarray(v, dtype=jnp.float32), cos_i.shape) for v in (sigma_psf_re, pixsize_re))
    glob = global_features(cos_i, sig, pix, b_hi, jnp)
    latent = encode(weights, config, *toks, cos_i, smoothing_width(sig, pix, jnp))
    return hidden(weights, config, latent, glob), b_hi


def mge_coefficients(weights, config, toks, cos_i, sigma_psf_re, pixsize_re):
    """Basis coefficients (m, n_basis) and upper anchors beta_hi (m,) of :func:`mge_hidden`."""
    h, b_hi = mge_hidden(weights, config, toks, cos_i, sigma_psf_re, pixsize_re)
    return _linear(weights, "coeff", h), b_hi


def padded_tokens(unit):
    """ln sigma_j, q_obs,j and w_j (float32) of a unit MGE, padded with weightless Gaussians (ln sigma 0,
    q_obs 1, w 0) to ``MAX_GAUSSIANS`` so that every galaxy gives the compiled functions the same shapes
    (the encoders ignore a Gaussian of zero weight)."""
    from ..family import MAX_GAUSSIANS

    pad = max(MAX_GAUSSIANS - unit.sigma.size, 0)
    return [np.pad(np.asarray(v, dtype=np.float32), (0, pad), constant_values=c)
            for v, c in ((np.log(unit.sigma), 0.0), (unit.qobs, 1.0), (unit.weight, 0.0))]


def unit_coefficients(weights, config, unit, sigma_psf_re, pixsize_re, cos_i):
    """Basis coefficients (m, n_basis) of a unit MGE (:class:`fastjam.photometry.UnitPhotometry`) at
    inclination cosines ``cos_i`` (m,), for the novelty of :mod:`fastjam.emulator.novelty`."""
    import jax.numpy as jnp

    ci = jnp.asarray(cos_i, dtype=jnp.float32)
    toks = [jnp.broadcast_to(jnp.asarray(v), (ci.size, v.size)) for v in padded_tokens(unit)]
    return np.asarray(mge_coefficients(weights, config, toks, ci, sigma_psf_re, pixsize_re)[0], dtype=float)


def galaxy_inputs(arrays, galaxy, x, y, check=True):
    """The galaxy-specific arrays of :func:`general_vrms` (numpy float32), domain checked.

    Parameters
    ----------
    arrays : dict
        Stored weights (the basis is interpolated to the positions here).
    galaxy : fastjam.galaxy.Galaxy
        Sérsic or MGE photometry.
    x, y : array_like, shape (p,)
        Positions in arcsec.
    check : bool
        Raise ``ValueError`` naming the feature outside the domain
        (:func:`fastjam.photometry.domain_violations`) or the positions beyond the field.

    Returns
    -------
    dict
        ``ln_sigma``, ``qobs``, ``weight`` (max(k, MAX_GAUSSIANS),) of the unit MGE
        (:func:`padded_tokens`); ``sigma_psf_re``, ``pixsize_re`` (scalars); ``data_w`` (p, 2, K),
        ``data_b`` (p, 2) (the basis of the two anchors at the positions); ``data_xy`` (p, 2), the
        positions [R_e] (for a per-position decoder); ``unit_scale`` (km/s at M/L = 1).
    """
    from ..photometry import domain_violations, unit_photometry
    from ..physics import grid

    unit = unit_photometry(galaxy.mge, galaxy.distance)
    sig_re, pix_re = galaxy.sigma_psf / unit.r_e, galaxy.pixsize / unit.r_e
    x_re, y_re = np.asarray(x, float) / unit.r_e, np.asarray(y, float) / unit.r_e
    if check:
        bad = domain_violations(unit, sigma_psf_re=sig_re, pixsize_re=pix_re)
        if bad:
            raise ValueError("outside the emulator's training domain (general photometry): " + "; ".join(bad)
                             + ": use the JAM forward model (--forward jam)")
        if not np.all(grid.inside_field(x_re, y_re)):
            raise ValueError(f"positions reach {np.max(np.maximum(abs(x_re), abs(y_re))):.3g} R_e, outside the "
                             f"emulated field |x|, |y| <= {grid.FIELD_HALF} R_e (R_e = {unit.r_e:.4g} arcsec): drop "
                             "them or use the JAM forward model")
    interp = interpolation_weights(x_re, y_re)
    w64, b64 = np.asarray(arrays["basis.weight"], np.float64), np.asarray(arrays["basis.bias"], np.float64)
    half = b64.size // 2
    f32 = functools.partial(np.asarray, dtype=np.float32)
    ln_sigma, qobs, weight = padded_tokens(unit)
    return dict(ln_sigma=ln_sigma, qobs=qobs, weight=weight, sigma_psf_re=f32(sig_re), pixsize_re=f32(pix_re),
                data_w=f32(np.stack([interp @ w64[:half], interp @ w64[half:]], 1)),
                data_b=f32(np.stack([interp @ b64[:half], interp @ b64[half:]], 1)),
                data_xy=f32(np.stack([x_re, y_re], 1)),
                unit_scale=f32(velocity_scale(1.0, unit.l_tot, unit.r_e, galaxy.distance)))


def general_vrms(weights, config, inputs, inclination, beta_z, ml):
    """V_RMS in km/s at the bound positions: a pure function of weights and galaxy inputs.

    .. math:: V_{\\rm rms} = s\\,\\sqrt{M/L}\\,\\sqrt{(1 - t) f_{\\rm lo}^2 + t f_{\\rm hi}^2},

    with :math:`s` the velocity scale at M/L = 1, :math:`\\ln f` at the two anchors from the
    network and t the anchor weight of ``beta_z``
    (:mod:`fastjam.emulator.general_features`).

    Parameters
    ----------
    weights : dict
        ``phi.*``, ``mlp.*`` and ``coeff.*`` weights (jax or numpy float32).
    config : dict
        The card's ``network`` entry.
    inputs : dict
        :func:`galaxy_inputs`.
    inclination, beta_z, ml : scalar
        Degrees, anisotropy, Msun/Lsun (inside the domain; not checked in traced code).

    Returns
    -------
    jax.Array, shape (p,)
    """
    import jax.numpy as jnp

    toks = [jnp.asarray(inputs[k])[None] for k in ("ln_sigma", "qobs", "weight")]
    cos_i = jnp.cos(jnp.radians(jnp.asarray(inclination, dtype=jnp.float32)))[None]
    h, b_hi = mge_hidden(weights, config, toks, cos_i, inputs["sigma_psf_re"], inputs["pixsize_re"])
    ln_f = jnp.einsum("pak,k->pa", inputs["data_w"], _linear(weights, "coeff", h)[0]) + inputs["data_b"]
    if config.get("decoder"):
        xy = inputs["data_xy"]
        ln_f = ln_f + decoded(weights, config, h, toks, cos_i, xy[:, 0], xy[:, 1])[0].T
    f = f_from_anchors(ln_f[:, 0], ln_f[:, 1], anchor_weight(beta_z, b_hi[0]), jnp)
    return f * (inputs["unit_scale"] * jnp.sqrt(ml))


class BoundGeneralEmulator(BoundEmulator):
    """The general emulator bound to one galaxy and its data positions: ``model(inclination, beta_z, ml)``.

    A JAX pytree (weights and galaxy inputs are leaves; the architecture is static) and
    picklable, padded like :class:`~fastjam.emulator.jax_model.BoundEmulator`.
    """

    kind = "general"

    def __init__(self, weights, inputs, config):
        super().__init__(weights, inputs)
        self.config = dict(config)

    def __call__(self, inclination, beta_z, ml):
        """V_RMS [km/s], shape (p,), for scalar inclination [deg], beta_z and M/L [Msun/Lsun]."""
        return general_vrms(self.weights, self.config, self.inputs, inclination, beta_z, ml)

    def _with_inputs(self, inputs):
        return BoundGeneralEmulator(self.weights, inputs, self.config)

    def tree_flatten(self):
        return (self.weights, self.inputs), tuple(sorted((k, _hashable(v)) for k, v in self.config.items()))

    @classmethod
    def tree_unflatten(cls, aux, children):
        return cls(*children, {k: list(v) if isinstance(v, tuple) else v for k, v in aux})


def _hashable(value):
    return tuple(value) if isinstance(value, list) else value


@functools.lru_cache(maxsize=None)
def register_pytree():
    """Register :class:`BoundGeneralEmulator` with JAX (once)."""
    import jax

    jax.tree_util.register_pytree_node_class(BoundGeneralEmulator)


def bind(arrays, card, galaxy, x, y, check=True):
    """A :class:`BoundGeneralEmulator` for one galaxy (Sérsic or MGE) at fixed positions, without torch.

    Parameters
    ----------
    arrays, card : dict
        Stored weights and card (:func:`fastjam.emulator.store.load_arrays`) of an
        ``output = "anchors"`` network.
    galaxy : fastjam.galaxy.Galaxy
    x, y : array_like, shape (p,)
        Positions in arcsec, inside |x|, |y| <= 2.5 R_e.
    check : bool
        Check the galaxy's features and the positions (:func:`galaxy_inputs`).

    Returns
    -------
    BoundGeneralEmulator
        ``model(inclination [deg], beta_z, ml) -> (p,)`` km/s, exact in beta_z and M/L between
        the anchors. Inclination and beta_z are not checked inside traced code: the priors keep
        them in the domain (:meth:`fastjam.emulator.general_model.GeneralEmulator.priors_within`).
    """
    config = card["network"]
    if config["output"] != "anchors":
        raise ValueError(f"a fit needs an 'anchors' general network, got output = {config['output']!r}")
    register_pytrees()
    register_pytree()
    kept = {k: np.asarray(v, dtype=np.float32) for k, v in arrays.items() if not k.startswith(("basis.", "novelty."))}
    return BoundGeneralEmulator(kept, galaxy_inputs(arrays, galaxy, x, y, check), config)


make_vrms_function = bind

"""The emulator forward model in pure JAX, straight from the stored weights (no torch).

Pure functions: ``jax.jit``-, ``jax.grad``- and ``jax.vmap``-able. For a fixed galaxy and
fixed data positions the photometry encoding and the bilinear interpolation of the linear
output layer are computed once (:func:`bind`), so each call costs one small MLP and a
(p x K) matrix product:

.. math:: V_{\\rm rms} = s\\,\\sqrt{M/L}\\,\\exp(W_{\\rm data}\\, c(h) + b_{\\rm data}),

with :math:`s` the velocity scale at M/L = 1 (:func:`fastjam.physics.scaling.velocity_scale`),
:math:`h` the network's last hidden layer and :math:`W_{\\rm data} = P W_{\\rm basis}` the
basis interpolated to the data (P, (p, NTHETA*NR)).

Survey throughput: every galaxy-specific quantity (photometry features, velocity scale,
interpolation matrix, feature ranges) is an *argument* of :func:`emulator_vrms`, and a
:class:`BoundEmulator` is a JAX pytree, so ``jax.jit(f)(bound, ...)`` compiles once for
all galaxies with the same number of bins. Pad the bins to a few bucket sizes
(:func:`bucket_size`, :meth:`BoundEmulator.padded`, :meth:`fastjam.posterior.Posterior.padded`)
to bound the number of compilations.
"""
import functools

import numpy as np

from ..physics import grid
from ..physics.scaling import velocity_scale
from .features import feature_definition, image_features, param_values, sersic_features, unit_interval

#: Default bucket sizes (bins) to which a survey pads its galaxies.
BUCKETS = (64, 128, 256, 512, 1024, 2048, 4096)


def _linear(params, prefix, x):
    """``x @ W.T + b`` for a torch-layout weight W (out, in), contracting x's last axis with W's
    second directly: written as ``W.T``, XLA copies each transposed weight at every call when the
    weights are arguments (not constants), which made a gradient call ten times slower."""
    import jax

    w = params[f"{prefix}.weight"]
    return jax.lax.dot_general(x, w, (((x.ndim - 1,), (1,)), ((), ()))) + params[f"{prefix}.bias"]


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


def hidden(params, first, params_feat, config=None):
    """Last hidden layer of the MLP, as ``EmulatorNetwork.hidden`` (depth from the weights)."""
    import jax
    import jax.numpy as jnp

    x = jnp.concatenate([first, params_feat], -1)
    for k in range(sum(1 for name in params if name.startswith("mlp.") and name.endswith(".weight"))):
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


def _galaxy_inputs(weights, card, galaxy, x, y, check):
    """The galaxy-specific arrays of :func:`emulator_vrms` (numpy float32)."""
    from .model import sersic_image

    ph = galaxy.photometry
    config = card["network"]
    sig_re, pix_re = galaxy.sigma_psf / ph.r_e, galaxy.pixsize / ph.r_e
    x_re, y_re = np.asarray(x, float) / ph.r_e, np.asarray(y, float) / ph.r_e
    check(ph, sig_re, pix_re, x_re, y_re)
    if config["use_image"]:
        img = image_features(sersic_image(ph.n, ph.q_obs))[None, None].astype(np.float32)
        first = np.asarray(encode(to_jax(weights), img, config)[0])
    else:
        first = sersic_features(np.array([ph.n]), np.array([ph.q_obs]), card["space"])[0]
    interp = interpolation_weights(x_re, y_re)
    ranges = np.array([p["range"] for p in feature_definition(card["space"])["params"]])
    f32 = functools.partial(np.asarray, dtype=np.float32)
    return dict(first=f32(first), galaxy=f32([ph.q_obs, sig_re, pix_re]), feature_low=f32(ranges[:, 0]),
                feature_high=f32(ranges[:, 1]), data_w=f32(interp @ weights["basis.weight"].astype(np.float64)),
                data_b=f32(interp @ weights["basis.bias"].astype(np.float64)),
                unit_scale=f32(velocity_scale(1.0, ph.l_tot, ph.r_e, galaxy.distance)))


def emulator_vrms(weights, inputs, inclination, beta_z, ml):
    """V_RMS in km/s at the bound positions: a pure function of weights and galaxy inputs.

    Parameters
    ----------
    weights : dict
        Network weights (``mlp.*``, ``coeff.*``; the basis enters through ``inputs``).
    inputs : dict
        Galaxy arrays from :func:`bind`: ``first`` (latent or (n, q_obs) features),
        ``galaxy`` (q_obs, sigma_psf/R_e, pixsize/R_e), ``feature_low``/``feature_high`` (5,),
        ``data_w`` (p, K), ``data_b`` (p,), ``unit_scale`` (km/s at M/L = 1).
    inclination, beta_z, ml : scalar
        Degrees, anisotropy, Msun/Lsun (inside the training domain; not checked here).

    Returns
    -------
    jax.Array, shape (p,)
    """
    import jax.numpy as jnp

    q_obs, sig_re, pix_re = inputs["galaxy"]
    values = param_values(q_obs, jnp.asarray(inclination, jnp.float32), jnp.asarray(beta_z, jnp.float32), sig_re,
                          pix_re, xp=jnp)
    pf = unit_interval(values, inputs["feature_low"], inputs["feature_high"])
    coeff = _linear(weights, "coeff", hidden(weights, inputs["first"][None], pf[None])[0])
    return jnp.exp(inputs["data_w"] @ coeff + inputs["data_b"]) * (inputs["unit_scale"] * jnp.sqrt(ml))


class BoundEmulator:
    """The emulator bound to one galaxy and its data positions: ``model(inclination, beta_z, ml)``.

    A JAX pytree (weights and galaxy inputs are its leaves) and picklable. Build it with
    :meth:`fastjam.emulator.Emulator.bind`.

    Attributes
    ----------
    weights : dict
        Network weights used by :func:`emulator_vrms` (float32 arrays).
    inputs : dict
        Galaxy-specific arrays (see :func:`emulator_vrms`).
    """

    kind = "sersic"  #: which emulator (the fit's summary names it)

    def __init__(self, weights, inputs):
        self.weights, self.inputs = weights, inputs

    @property
    def xp(self):
        """The array namespace, ``jax.numpy``."""
        import jax.numpy as jnp

        return jnp

    @property
    def n_bins(self):
        return int(np.shape(self.inputs["data_b"])[0])

    def __call__(self, inclination, beta_z, ml):
        """V_RMS [km/s], shape (p,), for scalar inclination [deg], beta_z and M/L [Msun/Lsun]."""
        return emulator_vrms(self.weights, self.inputs, inclination, beta_z, ml)

    def padded(self, size):
        """The same model on ``size`` >= p bins; the extra bins give finite values to be masked."""
        extra = int(size) - self.n_bins
        if extra < 0:
            raise ValueError(f"cannot pad {self.n_bins} bins to {size}")
        inputs = dict(self.inputs, **{k: _pad_rows(v, extra) for k, v in self.inputs.items() if k.startswith("data_")})
        return self._with_inputs(inputs)

    def _with_inputs(self, inputs):
        return BoundEmulator(self.weights, inputs)

    def tree_flatten(self):
        return (self.weights, self.inputs), None

    @classmethod
    def tree_unflatten(cls, aux, children):
        return cls(*children)


def _pad_rows(array, extra):
    """``array`` with ``extra`` zero rows appended along its first (bin) axis."""
    array = np.asarray(array)
    return np.pad(array, [(0, extra)] + [(0, 0)] * (array.ndim - 1))


@functools.lru_cache(maxsize=None)
def register_pytrees():
    """Register :class:`BoundEmulator` with JAX (once; jax is imported only here)."""
    import jax

    jax.tree_util.register_pytree_node_class(BoundEmulator)


def bind(weights, card, galaxy, x, y, check):
    """A :class:`BoundEmulator` from stored weights (numpy dict) and card, without torch.

    Parameters
    ----------
    weights : dict
        Arrays of ``emulator.npz``.
    card : dict
        The model card.
    galaxy : Galaxy
        Sérsic galaxy.
    x, y : ndarray, shape (p,)
        Positions in arcsec.
    check : callable
        ``check(sersic, sigma_psf_re, pixsize_re, x_re, y_re)`` raises ``ValueError`` outside the
        training domain or the emulated field.
    """
    register_pytrees()
    inputs = _galaxy_inputs(weights, card, galaxy, x, y, check)
    kept = {k: np.asarray(v, dtype=np.float32) for k, v in weights.items() if k.startswith(("mlp.", "coeff."))}
    return BoundEmulator(kept, inputs)


def bucket_size(n_bins, buckets=BUCKETS):
    """The smallest bucket that holds ``n_bins`` (pad to it so that compilations are shared)."""
    for b in buckets:
        if n_bins <= b:
            return int(b)
    raise ValueError(f"{n_bins} bins exceed the largest bucket {buckets[-1]}")

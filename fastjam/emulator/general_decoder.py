"""A per-position decoder for the general emulator: a correction to ln f at each map position, read
from the galaxy's encoding and the light at that position.

The output basis makes each map one linear combination of global basis maps, whose coefficients
the MLP must set exactly; sharp features that move with the galaxy (a thin disk's height, where
an outer round component takes over on the minor axis) then need finely tuned coefficients. The
decoder adds, at each position (x, y) [R_e] of the map,

.. math:: \\Delta\\ln f_a(x, y) = D_a\\big(W_h h + W_\\ell\\,\\ell(x, y)\\big), \\qquad a \\in \\{\\rm lo, hi\\},

with h the MLP's last hidden layer (galaxy, inclination and observing set-up), :math:`\\ell` the
local features of :func:`local_features` (the position and the light there) and D a small MLP.
The first layer is split into :math:`W_h h`, computed once per map, and :math:`W_\\ell \\ell`,
per position, so a position costs about width² multiply-adds. The last layer starts at zero, so a
network with a new decoder starts as the network without it (a warm start). Positions are
continuous: a fit evaluates the decoder at its own bins, the map grid only in training.
"""
import functools

import numpy as np

from ..physics import grid
from .general_features import PROFILE_FLOOR, light_at

N_LOCAL = 5  #: local features per position (local_features)
LN_R_SCALE = 3.0  #: ln(r / R_e) is divided by this


@functools.lru_cache(maxsize=1)
def node_positions():
    """x, y [R_e] of the polar map grid's nodes, each (NTHETA * NR,), in the order of the emulated maps
    (computed once: every training batch of a decoder reads them; read-only)."""
    x, y = (v.ravel() for v in grid.polar_grid())
    x.flags.writeable = y.flags.writeable = False
    return x, y


def local_features(ln_sigma, qobs, weight, cos_i, x, y, xp=np):
    """Inputs of the decoder at positions (x, y), shape (..., P, N_LOCAL).

    ln(r / R_e) / 3 (r floored at the grid's ``R_MIN``), the angle from the major axis mapped to
    [-1, 1], ln ν(R = |x|, z = |y|) / 10 and ln Σ(|x|, |y|) / 10 of the unit MGE, and 2 q̄ - 1 with
    q̄ the surface-brightness weighted q_obs there (:func:`~fastjam.emulator.general_features.light_at`).

    Parameters
    ----------
    ln_sigma, qobs, weight : array, shape (..., k)
        Unit MGE (padding: weight 0).
    cos_i : array, shape (...)
    x, y : array, shape (P,)
        Positions [R_e] (folded into the first quadrant here).
    """
    ax, ay = (xp.abs(xp.asarray(v, dtype=ln_sigma.dtype)) for v in (x, y))
    nu, surf, q_mean = light_at(ln_sigma, qobs, weight, cos_i, ax, ay, xp)
    r = xp.sqrt(ax**2 + ay**2 + grid.R_MIN**2)
    place = [xp.log(r) / LN_R_SCALE, 4 / np.pi * xp.arctan2(ay, ax + 1e-12) - 1]
    place = [xp.broadcast_to(v, nu.shape) for v in place]
    return xp.stack(place + [xp.log(nu + PROFILE_FLOOR) / 10, xp.log(surf + PROFILE_FLOOR) / 10, 2 * q_mean - 1], -1)


def position_decoder(n_hidden, widths):
    """The torch decoder module: ``decoder(h, local)`` (B, H), (B, P, N_LOCAL) -> (B, 2, P)."""
    import torch
    from torch import nn

    class PositionDecoder(nn.Module):
        def __init__(self):
            super().__init__()
            self.first = nn.Linear(n_hidden, widths[0])
            self.local = nn.Linear(N_LOCAL, widths[0])
            layers = []
            for a, b in zip(widths[:-1], widths[1:]):
                layers += [nn.Linear(a, b), nn.SiLU()]
            self.rest = nn.Sequential(*layers)
            self.out = nn.Linear(widths[-1], 2)
            with torch.no_grad():
                self.out.weight.zero_()
                self.out.bias.zero_()

        def forward(self, h, local):
            z = nn.functional.silu(self.first(h)[:, None] + self.local(local))
            return self.out(self.rest(z)).transpose(1, 2)

    return PositionDecoder()


def decode_jax(params, widths, h, local):
    """The decoder in JAX from stored weights ``dec.*``: h (B, H), local (B, P, N_LOCAL) -> (B, 2, P)."""
    import jax

    from .jax_model import _linear

    z = jax.nn.silu(_linear(params, "dec.first", h)[:, None] + _linear(params, "dec.local", local))
    for k in range(len(widths) - 1):
        z = jax.nn.silu(_linear(params, f"dec.rest.{2 * k}", z))
    return _linear(params, "dec.out", z).transpose(0, 2, 1)

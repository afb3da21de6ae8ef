"""The general-photometry emulator network (PyTorch): a permutation-invariant encoder over
the Gaussians of an MGE and an MLP over the observing parameters.

::

    tokens t_j (3), light w_j        [tracer Gaussians j, mass Gaussians k; today mass = light]
    pairs:   z = sum_jk w_j m_k phi([t_j, t_k])      singles: z = sum_j w_j phi(t_j)
    profile: z = prof(ln nu, ln Sigma on a polar grid)   hybrid: z = [singles, profile]
    jeans:   z = [singles, prof(ln nu, ln Sigma, isotropic Jeans solution on the grid)]
    [z, cos i, ln sigma_psf/R_e, pixsize/sigma_psf, beta_hi] --MLP--> h --Linear--> c (K)
        --Linear (PCA-initialised)--> ln f at the two anchors (2 NTHETA NR)   ["anchors"]
                                   or ln f at the beta_z given as 5th input   ["direct"]
    optional: + decoder(h, light at (x, y)) at each position                   ["decoder"]

The pair encoder mirrors JAM: the projected second moment of a self-consistent MGE is a
double sum over tracer Gaussians j and mass Gaussians k of terms that depend on the two
Gaussians only (Cappellari 2008, MNRAS 390, 71), weighted by the product of their
normalisations. Extra mass (a dark halo or a black hole as mass Gaussians with their own
``m_k``) therefore needs no change of the encoder. Pooling weighted by light makes the
encoding invariant to the order of the Gaussians and to splitting one into identical parts.
The profile encoder sees the light where the map is made, the faint outer parts included
(:func:`~fastjam.emulator.general_features.profile_features`), optionally beyond 3 R_e
(``profile_outer``) and at more angles near the major axis (``profile_angles``). An optional
per-position decoder (:mod:`fastjam.emulator.general_decoder`) corrects the basis maps from the
light at each position. Inputs are defined in
:mod:`fastjam.emulator.general_features`.
"""
from dataclasses import asdict, dataclass

import numpy as np
import torch
from torch import nn

from ..physics import grid
from .general_decoder import local_features, node_positions, position_decoder
from .general_features import N_GLOBAL, PROFILE_ENCODERS, TOKEN_ENCODERS, n_profile_input, profile_input, token_features

N_TOKEN = 3
ENCODERS = tuple(dict.fromkeys(TOKEN_ENCODERS + PROFILE_ENCODERS))


@dataclass(frozen=True)
class GeneralConfig:
    """Architecture of the general-photometry emulator."""

    encoder: str = "pairs"  #: "pairs", "singles", "profile", "hybrid" (singles and profile) or "jeans" (hybrid
    #: whose profile encoder also sees the Jeans solution, general_features.jeans_features)
    token_hidden: tuple = (64, 64)
    latent: int = 64
    hidden: tuple = (256, 256, 256)
    n_basis: int = 64
    output: str = "anchors"  #: "anchors" (ln f at beta_lo and beta_hi) or "direct" (ln f at beta_z)
    #: further radii [R_e] where the profile encoder also samples the light: beyond general_features.PROFILE_RADII
    #: (the outer map's line of sight) or inside its first (a cusp)
    profile_outer: tuple = ()
    #: further angles [deg] from the major axis (between general_features.PROFILE_ANGLES) where the profile
    #: encoder samples the light, at every radius: a thin disk's vertical profile
    profile_angles: tuple = ()
    #: widths of a per-position decoder (general_decoder) that corrects the basis maps; () for none
    decoder: tuple = ()
    #: the profile encoder also sees the surface brightness smoothed by the PSF and the pixels
    #: (general_features.smoothed_surface_features), at the profile radii and the outer ones
    profile_psf: bool = False

    def __post_init__(self):
        if self.encoder not in ENCODERS:
            raise ValueError(f"encoder must be one of {', '.join(ENCODERS)}, got {self.encoder!r}")
        if self.output not in ("anchors", "direct"):
            raise ValueError(f"output must be 'anchors' or 'direct', got {self.output!r}")
        if self.decoder and self.output != "anchors":
            raise ValueError(f"a decoder needs the 'anchors' output, got {self.output!r}")
        if self.profile_outer and (not self.uses_profile or min(self.profile_outer) <= 0):
            raise ValueError(f"profile_outer must be positive radii of a profile encoder, got {self.profile_outer!r} "
                             f"for encoder {self.encoder!r}")
        if self.profile_psf and not self.uses_profile:
            raise ValueError(f"profile_psf needs a profile encoder, got encoder {self.encoder!r}")
        if self.profile_angles and (not self.uses_profile or not all(0 <= a <= 90 for a in self.profile_angles)):
            raise ValueError(f"profile_angles must be angles in [0, 90] deg of a profile encoder, got "
                             f"{self.profile_angles!r} for encoder {self.encoder!r}")

    @property
    def n_out(self):
        return (2 if self.output == "anchors" else 1) * grid.NTHETA * grid.NR

    @property
    def uses_tokens(self):
        return self.encoder in TOKEN_ENCODERS

    @property
    def uses_profile(self):
        return self.encoder in PROFILE_ENCODERS

    def profile_input(self, ln_sigma, qobs, weight, cos_i, xp=np, smoothing=None):
        """The profile encoder's input (:func:`~fastjam.emulator.general_features.profile_input`); ``smoothing``
        (..., ) [R_e] (:func:`~fastjam.emulator.general_features.smoothing_width`) is needed with ``profile_psf``
        and ignored without."""
        return profile_input(self.encoder, ln_sigma, qobs, weight, cos_i, xp, outer=self.profile_outer,
                             angles=self.profile_angles, smoothed=self.profile_psf, smoothing=smoothing)

    @property
    def n_profile_input(self):
        """Width of the profile encoder's input."""
        return n_profile_input(self.encoder, len(self.profile_outer), len(self.profile_angles), self.profile_psf)

    @property
    def n_latent(self):
        """Width of the encoding: ``latent`` per encoder used."""
        return self.latent * (self.uses_tokens + self.uses_profile)

    @property
    def n_global(self):
        return N_GLOBAL + (self.output == "direct")

    def as_dict(self):
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}

    @classmethod
    def from_dict(cls, d):
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in d.items()})


def _extends(old, new):
    """Whether :class:`GeneralConfig` ``new`` extends ``old`` (:meth:`GeneralEmulatorNetwork.warm_start`)."""
    extensible = ("profile_outer", "profile_angles", "profile_psf", "decoder", "token_hidden", "latent", "hidden")
    same = {k: v for k, v in old.as_dict().items() if k not in extensible} == \
        {k: v for k, v in new.as_dict().items() if k not in extensible}

    def extends(key):  # the old entries of ``key`` are the new one's first
        before, after = tuple(getattr(old, key)), tuple(getattr(new, key))
        return before == after[:len(before)]

    def wider(key):  # same depth, no layer narrower
        before, after = np.atleast_1d(getattr(old, key)), np.atleast_1d(getattr(new, key))
        return before.shape == after.shape and bool(np.all(after >= before))

    appended = old.profile_angles or old.profile_psf  # columns after the outer radii's, or after the angles'
    outer_kept = extends("profile_outer") and (not appended or old.profile_outer == new.profile_outer)
    angles_kept = extends("profile_angles") and (not old.profile_psf or old.profile_angles == new.profile_angles)
    decoder_kept = tuple(old.decoder) in ((), tuple(new.decoder))
    return (same and outer_kept and angles_kept and new.profile_psf >= old.profile_psf and decoder_kept
            and all(wider(k) for k in ("token_hidden", "latent", "hidden")))


def _latent_columns(old, new):
    """Where the old network's MLP inputs [latent per encoder, observing features] lie in the new one's."""
    parts = old.uses_tokens + old.uses_profile
    cols = [np.arange(p * new.latent, p * new.latent + old.latent) for p in range(parts)]
    cols.append(parts * new.latent + np.arange(old.n_global))
    return torch.as_tensor(np.concatenate(cols))


def _mlp(n_in, widths):
    layers = []
    for h in widths:
        layers += [nn.Linear(n_in, h), nn.SiLU()]
        n_in = h
    return nn.Sequential(*layers)


class GeneralEmulatorNetwork(nn.Module):
    """Gaussian-set encoder + MLP emulator of ln f on the polar map grid."""

    def __init__(self, config=GeneralConfig()):
        super().__init__()
        self.config = config
        n_tok = N_TOKEN * (2 if config.encoder == "pairs" else 1)
        if config.uses_tokens:
            self.phi = _mlp(n_tok, tuple(config.token_hidden) + (config.latent,))
        if config.uses_profile:
            n_in = config.n_profile_input
            self.prof = _mlp(n_in, tuple(config.token_hidden) + (config.latent,))
        self.mlp = _mlp(config.n_latent + config.n_global, config.hidden)
        self.coeff = nn.Linear(config.hidden[-1], config.n_basis)
        self.basis = nn.Linear(config.n_basis, config.n_out)
        if config.decoder:
            self.dec = position_decoder(config.hidden[-1], tuple(config.decoder))

    def encode(self, ln_sigma, qobs, weight, cos_i, prof_in=None):
        """Latent vector (B, latent) of the MGEs (B, k) seen at inclinations with cosine ``cos_i`` (B,);
        ``prof_in``: their :func:`~fastjam.emulator.general_features.profile_input` if precomputed."""
        parts = []
        if self.config.uses_tokens:
            tok = token_features(ln_sigma, qobs, cos_i, torch)
            if self.config.encoder == "pairs":
                k = tok.shape[1]
                pairs = torch.cat([tok[:, :, None].expand(-1, -1, k, -1), tok[:, None].expand(-1, k, -1, -1)], -1)
                parts.append(torch.einsum("bj,bk,bjkl->bl", weight, weight, self.phi(pairs)))
            else:
                parts.append(torch.einsum("bj,bjl->bl", weight, self.phi(tok)))
        if self.config.uses_profile:
            if prof_in is None:
                prof_in = self.config.profile_input(ln_sigma, qobs, weight, cos_i, torch)
            parts.append(self.prof(prof_in))
        return torch.cat(parts, -1)

    def hidden(self, latent, glob):
        """The MLP's last hidden layer (B, hidden[-1]) from the latent vector and the observing features."""
        return self.mlp(torch.cat([latent, glob], -1))

    def coefficients(self, latent, glob):
        """Basis coefficients (B, n_basis) from the latent vector and the observing features."""
        return self.coeff(self.hidden(latent, glob))

    def forward(self, ln_sigma, qobs, weight, cos_i, glob, prof_in=None, nodes=None):
        """Emulated outputs (B, n_out); with ``nodes`` (S,), indices of grid nodes, only those
        (B, 2 S): the two anchor maps at the nodes (training on a subset of each map)."""
        h = self.hidden(self.encode(ln_sigma, qobs, weight, cos_i, prof_in), glob)
        out = self.basis(self.coeff(h))
        if nodes is not None:
            out = out.reshape(len(out), 2, -1)[:, :, nodes]
        if not self.config.decoder:
            return out.reshape(len(out), -1)
        x, y = node_positions()
        if nodes is not None:
            x, y = x[nodes], y[nodes]
        local = local_features(ln_sigma, qobs, weight, cos_i, x, y, torch)
        return (out.reshape(len(out), 2, -1) + self.dec(h, local)).reshape(len(out), -1)

    def init_basis(self, targets):
        """Initialise the output layers from a PCA of training targets (N, n_out)."""
        y = torch.as_tensor(targets, dtype=torch.float64)
        mean = y.mean(0)
        _, s, vt = torch.linalg.svd(y - mean, full_matrices=False)
        k = min(self.config.n_basis, vt.shape[0])
        with torch.no_grad():
            self.basis.weight.zero_()
            self.basis.weight[:, :k].copy_((vt[:k].T * s[:k] / np.sqrt(y.shape[0])).float())
            self.basis.bias.copy_(mean.float())
            self.coeff.weight.mul_(0.1)
            self.coeff.bias.zero_()

    def warm_start(self, init):
        """Copy the weights of the trained network ``init``, of the same design or of one this design
        extends: further ``profile_outer`` radii (before any ``profile_angles``), further ``profile_angles``,
        a ``decoder``, or wider layers (``token_hidden``, ``latent``, ``hidden``: same depth, no narrower).

        The network starts as ``init`` (function-preserving, as Net2Net's zero-output widening, Chen et
        al. 2016, ICLR): the new profile inputs and the new units' outgoing weights start at zero, the
        new decoder with a zero output; the new units' incoming weights keep their random initialisation
        (the last hidden layer's new units learn from the first step, earlier ones as the weights after
        them grow).
        """
        old, new = init.config, self.config
        if not _extends(old, new):
            raise ValueError(f"warm start from a network of another design: {old.as_dict()} is not {new.as_dict()} "
                             "(only further profile_outer radii, profile_angles, a decoder or wider layers may "
                             "be added)")
        state = self.state_dict()
        columns = {"mlp.0.weight": _latent_columns(old, new)}
        with torch.no_grad():
            for k, v in init.state_dict().items():
                rows = state[k][:v.shape[0]]
                if v.ndim == 1:
                    rows.copy_(v)
                    continue
                rows.zero_()
                rows[:, columns.get(k, slice(0, v.shape[1]))] = v
        return self

    @classmethod
    def from_arrays(cls, arrays, card):
        """The network of saved weights ``arrays`` and model card ``card``
        (:func:`fastjam.emulator.store.load_arrays`)."""
        return cls(GeneralConfig.from_dict(card["network"])).load_arrays(arrays)

    @classmethod
    def load(cls, path):
        """The network saved in the emulator directory ``path`` (``emulator.npz``, ``emulator.json``)."""
        from .store import load_arrays

        return cls.from_arrays(*load_arrays(path))

    def arrays(self):
        """Weights as a dict of numpy float32 arrays (the shipped format)."""
        return {k: v.detach().cpu().numpy().astype(np.float32) for k, v in self.state_dict().items()}

    def load_arrays(self, arrays):
        self.load_state_dict({k: torch.as_tensor(np.asarray(arrays[k])) for k in self.state_dict()})
        return self

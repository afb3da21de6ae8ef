"""The emulator network (PyTorch): CNN on the photometry image + MLP on the JAM parameters.

::

    image (1, 64, 64) --CNN--> z (64)                      [or (n, q_obs) for the MLP-only baseline]
    [z, params (5)] --MLP (SiLU)--> h --Linear--> c (K) --Linear (PCA-initialised)--> log f (NTHETA*NR)

The last two layers are linear, so ``log f`` at data positions is a fixed linear map of
``h`` (see :mod:`fastjam.emulator.jax_model`). Design after Simon et al., "Dynamical
Modelling of Galactic Kinematics using Neural Networks": a CNN encoding the photometry
into 64 numbers and an MLP that maps them with the JAM parameters to the map.
"""
from dataclasses import asdict, dataclass

import numpy as np
import torch
from torch import nn

from ..physics import grid
from .features import N_PARAM_FEATURES


@dataclass(frozen=True)
class NetworkConfig:
    """Architecture of the emulator network."""

    use_image: bool = True
    image_channels: tuple = (8, 16, 32, 32)
    latent: int = 64
    hidden: tuple = (256, 256, 256, 256)
    n_basis: int = 128
    n_out: int = grid.NTHETA * grid.NR

    def as_dict(self):
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}

    @classmethod
    def from_dict(cls, d):
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in d.items()})


class PhotometryEncoder(nn.Module):
    """Strided 3x3 convolutions (SiLU) and a linear layer: (B, 1, 64, 64) -> (B, latent)."""

    def __init__(self, channels, latent, size=grid.IMAGE_SIZE):
        super().__init__()
        layers, c_in = [], 1
        for c in channels:
            layers += [nn.Conv2d(c_in, c, 3, stride=2, padding=1), nn.SiLU()]
            c_in = c
            size //= 2
        self.conv = nn.Sequential(*layers)
        self.fc = nn.Linear(c_in * size * size, latent)

    def forward(self, image):
        return nn.functional.silu(self.fc(self.conv(image).flatten(1)))


class EmulatorNetwork(nn.Module):
    """CNN + MLP emulator of log f on the polar map grid.

    Parameters
    ----------
    config : NetworkConfig
    """

    def __init__(self, config=NetworkConfig()):
        super().__init__()
        self.config = config
        if config.use_image:
            self.encoder = PhotometryEncoder(config.image_channels, config.latent)
            n_in = config.latent + N_PARAM_FEATURES
        else:
            self.encoder = None
            n_in = 2 + N_PARAM_FEATURES
        layers = []
        for h in config.hidden:
            layers += [nn.Linear(n_in, h), nn.SiLU()]
            n_in = h
        self.mlp = nn.Sequential(*layers)
        self.coeff = nn.Linear(n_in, config.n_basis)
        self.basis = nn.Linear(config.n_basis, config.n_out)

    def init_basis(self, log_f):
        """Initialise the output layers from a PCA of training maps ``log_f`` (N, n_out)."""
        log_f = torch.as_tensor(log_f, dtype=torch.float64)
        mean = log_f.mean(0)
        _, s, vt = torch.linalg.svd(log_f - mean, full_matrices=False)
        k = self.config.n_basis
        scale = s[:k] / np.sqrt(log_f.shape[0])
        with torch.no_grad():
            self.basis.weight.copy_((vt[:k].T * scale).float())
            self.basis.bias.copy_(mean.float())
            self.coeff.weight.mul_(0.1)
            self.coeff.bias.zero_()

    def encode(self, image_feat):
        """Photometry latent vector, (B, 1, 64, 64) -> (B, latent)."""
        return self.encoder(image_feat)

    def hidden(self, latent, params_feat):
        """Last hidden layer from the latent (or (n, q_obs) features) and the parameters."""
        return self.mlp(torch.cat([latent, params_feat], -1))

    def head(self, h):
        """log f on the map grid, flattened: (B, n_out)."""
        return self.basis(self.coeff(h))

    def forward(self, latent_or_image, params_feat):
        """log f (B, n_out) from image features (B, 1, 64, 64) or (n, q_obs) features (B, 2)."""
        latent = self.encode(latent_or_image) if self.encoder is not None else latent_or_image
        return self.head(self.hidden(latent, params_feat))

    def arrays(self):
        """Weights as a dict of numpy float32 arrays (the shipped format)."""
        return {k: v.detach().cpu().numpy().astype(np.float32) for k, v in self.state_dict().items()}

    def load_arrays(self, arrays):
        self.load_state_dict({k: torch.as_tensor(np.asarray(arrays[k])) for k in self.state_dict()})
        return self

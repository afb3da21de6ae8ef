"""Sampler backends for fastjam's posterior: a small base class and one short file per backend.

Every backend samples the same log-density on the unconstrained parameters
(:class:`fastjam.posterior.Posterior`) and returns a :class:`SamplerResult`.
"""
from .base import Sampler, SamplerResult, Target

BACKENDS = ("emcee", "numpyro")


def get_sampler(name, **kwargs):
    """Build a backend by name: ``"emcee"`` or ``"numpyro"``."""
    if name == "emcee":
        from .emcee_backend import EmceeSampler

        return EmceeSampler(**kwargs)
    if name == "numpyro":
        from .numpyro_backend import NumPyroSampler

        return NumPyroSampler(**kwargs)
    raise ValueError(f"unknown sampler backend {name!r}: choose one of {', '.join(BACKENDS)}")


__all__ = ["BACKENDS", "Sampler", "SamplerResult", "Target", "get_sampler"]

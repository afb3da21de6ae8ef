"""fastjam: fast Bayesian JAM modelling of galaxy kinematics with a neural emulator.

Light to import: jampy, torch, jax, numpyro and dask are imported where they are used.
"""
__version__ = "0.1.0"

from .forward import ForwardModel
from .galaxy import Galaxy, Sersic
from .physics.mge import MGE

__all__ = ["ForwardModel", "Galaxy", "MGE", "Sersic", "__version__"]

"""Physics at the bottom of fastjam: Sérsic photometry, MGEs, geometry, scaling law.

Nothing here imports jampy, torch or jax.
"""
from .geometry import (
    inclination_from_qintr,
    min_inclination,
    qintr_from_inclination,
    beta_z_max,
)
from .mge import MGE, sersic_mge, mge_fidelity
from .scaling import velocity_scale, to_physical, to_dimensionless
from .sersic import sersic_b, sersic_profile, sersic_total_luminosity

__all__ = [
    "MGE",
    "beta_z_max",
    "inclination_from_qintr",
    "min_inclination",
    "mge_fidelity",
    "qintr_from_inclination",
    "sersic_b",
    "sersic_mge",
    "sersic_profile",
    "sersic_total_luminosity",
    "to_dimensionless",
    "to_physical",
    "velocity_scale",
]

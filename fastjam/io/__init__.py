"""Readers of observed stellar kinematics (V_RMS maps) into :class:`Kinematics`.

All readers return positions in arcsec rotated so that ``x`` lies along the galaxy's projected
major axis (see :func:`rotate_to_major_axis` for the position-angle convention), and V_RMS
with its 1-sigma error in km/s. astropy is imported only when a FITS reader is called.
"""
from .kinematics import (InputFileError, Kinematics, manga_galaxy_defaults, read_fits, read_manga_maps, read_text,
                         rotate_to_major_axis)

__all__ = ["InputFileError", "Kinematics", "manga_galaxy_defaults", "read_fits", "read_manga_maps", "read_text",
           "rotate_to_major_axis"]

"""Readers of observed stellar kinematics (V_RMS maps) into :class:`Kinematics`.

All readers return positions in arcsec rotated so that ``x`` lies along the galaxy's projected
major axis (see :func:`rotate_to_major_axis` for the position-angle convention), and V_RMS
with its 1-sigma error in km/s. One module per format: :mod:`.text`, :mod:`.fits`,
:mod:`.manga`; the container, the conventions and the checks they share in :mod:`.kinematics`.
astropy is imported only when a FITS reader is called.
"""
from .fits import read_fits
from .kinematics import InputFileError, Kinematics, rotate_to_major_axis
from .manga import manga_galaxy_defaults, read_manga_maps
from .text import read_text

__all__ = ["InputFileError", "Kinematics", "manga_galaxy_defaults", "read_fits", "read_manga_maps", "read_text",
           "rotate_to_major_axis"]

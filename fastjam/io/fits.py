"""FITS images or cubes of V_RMS (with a WCS or a given centre and pixel scale) into
:class:`~fastjam.io.kinematics.Kinematics`. astropy is imported when a file is read."""
import logging
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from ..validation import check_finite
from .kinematics import InputFileError, _build, _check_pa, _check_size, _value_reasons, _wrap_parser_errors

log = logging.getLogger(__name__)


@contextmanager
def _open_fits(path, source):
    """Open a FITS file with all headers parsed; yields the ``HDUList``.

    Any exception other than :class:`InputFileError` raised while the file is open (for
    example astropy's ``VerifyError`` on reading an unparsable card) becomes an
    :class:`InputFileError` naming the file.
    """
    from astropy.io import fits

    if not Path(path).exists():
        raise FileNotFoundError(f"no such file: {str(path)!r}")
    with _wrap_parser_errors(source, "open it as FITS"):
        hdul = fits.open(path, memmap=False, lazy_load_hdus=False)
    with hdul, _wrap_parser_errors(source, "read it as FITS"):
        yield hdul


def _get_hdu(hdul, ext, source):
    try:
        return hdul[ext]
    except (KeyError, IndexError):
        names = ", ".join(repr(hdu.name) for hdu in hdul)
        raise InputFileError(f"{source} has no extension {ext!r} (it has {names})") from None


def _image_data(hdu, source, what):
    """The data of an image HDU as a float ndarray."""
    label = f"extension {hdu.name!r} ({what})"
    if not hdu.is_image:
        raise InputFileError(f"{source}: {label} is not an image")
    shape = tuple(hdu.header.get(f"NAXIS{i}", 0) for i in range(1, hdu.header.get("NAXIS", 0) + 1))
    _check_size(8 * int(np.prod(shape, dtype=float)), source, label)
    with _wrap_parser_errors(source, f"read {label}"):
        data = hdu.data
        arr = None if data is None else np.array(data, dtype=float)
    if arr is None or arr.size == 0:
        raise InputFileError(f"{source}: {label} has no data")
    return arr


def _check_shape(arr, shape, source, what):
    if arr.shape != tuple(shape):
        raise InputFileError(f"{source}: {what} has shape {arr.shape}, expected {tuple(shape)}")
    return arr


def read_fits(path, pa_deg=0.0, vrms_ext=0, err_ext=1, mask_ext=None, flux_ext=None,
              centre=None):
    """Read a V_RMS map from a FITS image (or a two-plane cube) with a celestial WCS.

    Every pixel is one bin. The pixel-to-sky transformation is the linear part of the WCS of
    the ``vrms_ext`` header (its CD or PC*CDELT matrix; pixel scale as given by
    ``astropy.wcs.utils.proj_plane_pixel_scales``), so rotated or flipped images are placed
    correctly; projection distortions over the field are neglected.

    Parameters
    ----------
    path : str or os.PathLike
        FITS file.
    pa_deg : float or None
        Position angle of the major axis in degrees, North through East
        (see :func:`rotate_to_major_axis`); None when x and y are already along the
        major and minor axes (no rotation).
    vrms_ext : int or str
        Extension (index or EXTNAME) with the V_RMS image in km/s, shape (ny, nx); or, if
        ``err_ext`` is None, a cube of shape (2, ny, nx) with V_RMS in plane 0 and its error in
        plane 1. Its header must carry the celestial WCS (RA/Dec on FITS axes 1 and 2).
    err_ext : int, str or None
        Extension with the 1-sigma V_RMS error in km/s, shape (ny, nx); None for a cube.
    mask_ext : int, str or None
        Optional extension with a mask of shape (ny, nx); nonzero (or NaN) marks a bad pixel.
    flux_ext : int, str or None
        Optional extension with the surface brightness (arbitrary units), shape (ny, nx).
    centre : (float, float) or None
        Galaxy centre in 0-based pixel coordinates ``(xpix, ypix)`` = (column, row) of the
        numpy array. By default the WCS reference pixel: ``(CRPIX1 - 1, CRPIX2 - 1)``.

    Returns
    -------
    Kinematics
        One bin per valid pixel, in C (row-major) pixel order; ``x``, ``y`` in arcsec rotated
        to the major axis, V_RMS and error in km/s.

    Raises
    ------
    ValueError
        If the file is not readable FITS, an extension is missing or not an image, the shapes
        disagree, the header has no celestial WCS (or no CRPIX1/CRPIX2 and no ``centre``), the
        pixel scale is not positive, or no valid pixel remains.
    FileNotFoundError
        If ``path`` does not exist.
    """
    pa = _check_pa(pa_deg)
    centre = _check_centre(centre)
    source = f"FITS file {str(path)!r}"
    with _open_fits(path, source) as hdul:
        hdu = _get_hdu(hdul, vrms_ext, source)
        vrms, err = _vrms_and_error(hdul, hdu, err_ext, source)
        mask = _optional_image(hdul, mask_ext, vrms.shape, source, "mask")
        flux = _optional_image(hdul, flux_ext, vrms.shape, source, "flux")
        wcs = _celestial_wcs(hdu.header, source)
        if centre is None:
            centre = _reference_pixel(hdu.header, wcs, source)
    x, y = _pixel_offsets(wcs, vrms.shape, centre, source)
    vrms, err = vrms.ravel(), err.ravel()
    flux = None if flux is None else flux.ravel()
    reasons = {} if mask is None else {"masked": ~(mask.ravel() == 0)}
    reasons.update(_value_reasons(vrms, err, flux))
    return _build(source, x, y, vrms, err, flux, pa, reasons, vrms.size)


def _check_centre(centre):
    if centre is None:
        return None
    arr = check_finite("centre (xpix, ypix)", centre)
    if arr.shape != (2,):
        raise ValueError(f"centre must be a pair (xpix, ypix), got shape {arr.shape}")
    return arr


def _vrms_and_error(hdul, hdu, err_ext, source):
    """V_RMS and error images, each shape (ny, nx), from two images or one cube."""
    if err_ext is None:
        cube = _image_data(hdu, source, "V_RMS and error cube")
        if cube.ndim != 3 or cube.shape[0] != 2:
            raise InputFileError(f"{source}: extension {hdu.name!r} has shape {cube.shape}, expected "
                             "a cube (2, ny, nx) with V_RMS and error planes since err_ext=None")
        return cube[0], cube[1]
    vrms = _image_data(hdu, source, "V_RMS")
    if vrms.ndim != 2:
        raise InputFileError(f"{source}: V_RMS extension {hdu.name!r} has shape {vrms.shape}, "
                         "expected a 2-D image (pass err_ext=None for a 2-plane cube)")
    err = _image_data(_get_hdu(hdul, err_ext, source), source, "V_RMS error")
    return vrms, _check_shape(err, vrms.shape, source, "V_RMS error image")


def _optional_image(hdul, ext, shape, source, what):
    if ext is None:
        return None
    arr = _image_data(_get_hdu(hdul, ext, source), source, what)
    return _check_shape(arr, shape, source, f"{what} image")


def _celestial_wcs(header, source):
    """The 2-D celestial WCS of ``header``, with RA/Dec on FITS axes 1 and 2."""
    import warnings

    from astropy.wcs import FITSFixedWarning, WCS

    with _wrap_parser_errors(source, "parse the WCS"), warnings.catch_warnings():
        warnings.simplefilter("ignore", FITSFixedWarning)
        wcs = WCS(header)
        has_celestial = wcs.has_celestial
        axes = (wcs.wcs.lng, wcs.wcs.lat)
        celestial = wcs.celestial if has_celestial else None
    if not has_celestial:
        raise InputFileError(f"{source}: the V_RMS header has no celestial WCS "
                         "(CTYPE1/CTYPE2 such as RA---TAN/DEC--TAN with CDELT or CD)")
    if sorted(axes) != [0, 1]:
        raise InputFileError(f"{source}: the celestial WCS axes must be FITS axes 1 and 2, "
                         f"got {axes[0] + 1} and {axes[1] + 1}")
    return celestial


def _reference_pixel(header, wcs, source):
    if "CRPIX1" not in header or "CRPIX2" not in header:
        raise InputFileError(f"{source}: the V_RMS header has no CRPIX1/CRPIX2 to locate the galaxy "
                         "centre; pass centre=(xpix, ypix)")
    return np.asarray(wcs.wcs.crpix, dtype=float) - 1.0


def _pixel_offsets(wcs, shape, centre, source):
    """Sky offsets of every pixel from ``centre``, each shape (ny*nx,), arcsec, x to the West."""
    import astropy.units as u
    from astropy.wcs.utils import proj_plane_pixel_scales

    with _wrap_parser_errors(source, "evaluate the WCS"):
        to_arcsec = [u.Unit(unit).to(u.arcsec) for unit in wcs.world_axis_units]
        scales = proj_plane_pixel_scales(wcs) * np.array(to_arcsec)
        matrix = wcs.pixel_scale_matrix * np.array(to_arcsec)[:, None]
    if not np.all(np.isfinite(scales) & (scales > 0)) or not np.all(np.isfinite(matrix)):
        raise InputFileError(f"{source}: the WCS pixel scale {scales} arcsec is not finite and > 0")
    log.debug("%s: pixel scale %s arcsec", source, scales)
    ny, nx = shape
    row, col = np.mgrid[0:ny, 0:nx]
    offsets = np.vstack([col.ravel() - centre[0], row.ravel() - centre[1]])
    east = matrix[wcs.wcs.lng] @ offsets    # intermediate world coordinate along +RA
    north = matrix[wcs.wcs.lat] @ offsets
    return -east, north

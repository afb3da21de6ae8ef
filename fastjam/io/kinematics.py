"""Readers of stellar V_RMS maps: whitespace tables, FITS images or cubes, and MaNGA DAP ``MAPS``.

Conventions
-----------
Sky frame
    Before rotation, a position is an offset from the galaxy centre in arcsec, with ``x_sky``
    increasing to the West and ``y_sky`` to the North: the axes of a standard sky image shown
    with North up and East to the left (East is ``-x_sky``).
Position angle
    ``pa_deg`` is the astronomical position angle of the galaxy's projected major axis in
    degrees, measured from North (+y_sky) through East (-x_sky). Every reader rotates the
    positions with :func:`rotate_to_major_axis`, so the returned ``x`` lies along the major
    axis, positive on the side at position angle ``pa_deg``.
Dropped bins
    A bin with a non-finite V_RMS, a non-finite or non-positive error, a non-finite flux or
    (FITS and MaNGA) a mask flag is dropped; a logged warning gives the counts by reason,
    and :attr:`Kinematics.mask_dropped` holds the total.

Bad file content, including low-level parser failures (a file that is not FITS, undecodable
text, a corrupt header), raises :class:`InputFileError`, a ``ValueError`` whose message names
the file, so callers need to catch only ``ValueError`` for bad input. A path that does not
exist raises ``FileNotFoundError``.
"""
import logging
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import numpy as np

from ..validation import check_finite

log = logging.getLogger(__name__)

#: Columns of the text format read by :func:`read_text`.
TEXT_COLUMNS = "x y Vrms eVrms [flux]"

#: Extensions :func:`read_manga_maps` needs in a DAP ``MAPS`` file.
MANGA_EXTENSIONS = (
    "STELLAR_VEL", "STELLAR_VEL_IVAR", "STELLAR_VEL_MASK",
    "STELLAR_SIGMA", "STELLAR_SIGMA_IVAR", "STELLAR_SIGMA_MASK",
    "STELLAR_SIGMACORR", "BIN_LWSKYCOO", "BINID",
)

#: Plane of the DAP ``BINID`` extension with the stellar-continuum bin IDs.
MANGA_BINID_PLANE = 1

#: Bit of the DAP's global ``MANGA_DAPQUAL`` flag (header ``DAPQUAL``) marking a critical DRP or DAP
#: failure (the same in DR15 and DR17).
MANGA_DAPQUAL_CRITICAL = 30

#: Bins below this g-band ``BIN_SNR`` are warned about: the S/N the DAP's HYB10 and VOR10 binning
#: targets for the stellar kinematics (Westfall et al. 2019, AJ 158, 231).
MANGA_MIN_BIN_SNR = 10.0

#: Primary-header keywords of a MAPS file that :func:`read_manga_maps` reports in ``meta``.
MANGA_HEADER_KEYS = ("DAPTYPE", "DAPQUAL", "ECOOPA", "ECOOELL", "REFF", "GFWHM", "RFWHM")


class InputFileError(ValueError):
    """Bad content of an input file (raised by the readers; a ``ValueError``).

    The message starts with the kind of file and its path.
    """


# --------------------------------------------------------------------------------------------
# Container
# --------------------------------------------------------------------------------------------

@dataclass(frozen=True, eq=False)
class Kinematics:
    """Binned stellar kinematics ready for a JAM fit.

    The arrays are copied to read-only float ndarrays.

    Attributes
    ----------
    x, y : ndarray, shape (n,)
        Bin positions in arcsec from the galaxy centre, ``x`` along the projected major axis
        (see :func:`rotate_to_major_axis`).
    vrms : ndarray, shape (n,)
        V_RMS = sqrt(V^2 + sigma^2) in km/s.
    vrms_err : ndarray, shape (n,)
        1-sigma error of ``vrms`` in km/s; finite and > 0.
    flux : ndarray, shape (n,), or None
        Surface brightness of each bin in arbitrary units (finite), or None if not given.
    mask_dropped : int
        How many input bins the reader dropped (>= 0); the reasons are logged.
    meta : dict or None
        What the file's header says about the galaxy (MaNGA: ``MANGA_HEADER_KEYS``).

    Raises
    ------
    ValueError
        If the arrays are not 1-D, their lengths differ, there is no bin, ``x``, ``y``,
        ``vrms`` or ``flux`` has a NaN or inf, ``vrms_err`` has a NaN, inf or value <= 0, or
        ``mask_dropped`` is not a non-negative integer.
    """

    x: np.ndarray
    y: np.ndarray
    vrms: np.ndarray
    vrms_err: np.ndarray
    flux: Optional[np.ndarray] = None
    mask_dropped: int = 0
    meta: Optional[dict] = None

    def __post_init__(self):
        arrays = {"x": self.x, "y": self.y, "vrms": self.vrms, "vrms_err": self.vrms_err}
        if self.flux is not None:
            arrays["flux"] = self.flux
        arrays = {name: _as_1d(name, value) for name, value in arrays.items()}
        _check_lengths(arrays)
        for name, arr in arrays.items():
            if name == "vrms_err":
                _check_all(name, arr, _positive(arr), "NaN, inf or <= 0")
            else:
                _check_all(name, arr, np.isfinite(arr), "NaN or inf")
            arr.setflags(write=False)
            object.__setattr__(self, name, arr)
        object.__setattr__(self, "mask_dropped", _as_count("mask_dropped", self.mask_dropped))

    def __len__(self):
        """Number of bins."""
        return self.x.size


def _as_1d(name, value):
    try:
        arr = np.array(value, dtype=float)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must be a 1-D array of numbers ({exc})") from exc
    if arr.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got shape {arr.shape}")
    return arr


def _check_lengths(arrays):
    sizes = {name: arr.size for name, arr in arrays.items()}
    if len(set(sizes.values())) > 1:
        shown = ", ".join(f"{name}={size}" for name, size in sizes.items())
        raise ValueError(f"Kinematics arrays must have equal lengths, got {shown}")
    if sizes["x"] == 0:
        raise ValueError("Kinematics needs at least one bin, got 0")


def _check_all(name, arr, ok, what):
    bad = np.flatnonzero(~ok)
    if bad.size:
        first = bad[0]
        raise ValueError(f"{name} has {bad.size} of {arr.size} values that are {what}, "
                         f"first at index {first} ({arr[first]:g})")


def _positive(arr):
    with np.errstate(invalid="ignore"):
        return np.isfinite(arr) & (arr > 0)


def _as_count(name, value):
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)) or value < 0:
        raise ValueError(f"{name} must be an integer >= 0, got {value!r}")
    return int(value)


# --------------------------------------------------------------------------------------------
# Geometry
# --------------------------------------------------------------------------------------------

def rotate_to_major_axis(x, y, pa_deg):
    """Rotate sky offsets so that the new ``x`` axis lies along the galaxy's major axis.

    .. math::

        x' = -x \\sin{\\rm PA} + y \\cos{\\rm PA}, \\qquad
        y' = -x \\cos{\\rm PA} - y \\sin{\\rm PA}

    This is a proper rotation (no flip). For example, with PA = 90 a point 1 arcsec East,
    ``(x, y) = (-1, 0)``, maps to ``(1, 0)``; with PA = 0 a point 1 arcsec North,
    ``(0, 1)``, maps to ``(1, 0)``; PA = 270 leaves the positions unchanged.

    Parameters
    ----------
    x, y : array_like, shape (n,)
        Offsets from the galaxy centre in arcsec; ``x`` increases to the West and ``y`` to the
        North, as on a sky image shown with North up and East to the left (East is ``-x``).
    pa_deg : float
        Astronomical position angle of the projected major axis in degrees, measured from
        North (+y) through East (-x).

    Returns
    -------
    x_new : ndarray, shape (n,)
        Offset along the major axis in arcsec, positive towards position angle ``pa_deg``.
    y_new : ndarray, shape (n,)
        Offset along the minor axis in arcsec, positive towards position angle ``pa_deg + 90``.

    Raises
    ------
    ValueError
        If ``pa_deg`` is not finite or ``x`` and ``y`` have different shapes.
    """
    pa = np.radians(_check_pa(pa_deg))
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    if x.shape != y.shape:
        raise ValueError(f"x and y must have the same shape, got {x.shape} and {y.shape}")
    sin, cos = np.sin(pa), np.cos(pa)
    with np.errstate(over="ignore", invalid="ignore"):
        return -x * sin + y * cos, -x * cos - y * sin


def _check_pa(pa_deg):
    if pa_deg is None:  # no rotation
        return None
    pa = check_finite("pa_deg", pa_deg)
    if pa.ndim:
        raise ValueError(f"pa_deg must be a scalar, got shape {pa.shape}")
    return float(pa)


# --------------------------------------------------------------------------------------------
# Shared: drop bad bins, rotate, build
# --------------------------------------------------------------------------------------------

def _value_reasons(vrms, err, flux=None):
    """Drop reasons (name -> bool array, True = bad) of the V_RMS, error and flux values."""
    reasons = {"non-finite Vrms": ~np.isfinite(vrms),
               "non-finite or non-positive error": ~_positive(err)}
    if flux is not None:
        reasons["non-finite flux"] = ~np.isfinite(flux)
    return reasons


def _drop_bad(source, reasons):
    """Which bins to keep, shape (n,) bool, given drop reasons; logs one warning with counts.

    A bad bin is counted under the first reason (in dict order) that flags it.
    """
    flags = list(reasons.values())
    bad = np.zeros(np.shape(flags[0]), dtype=bool)
    counts = {}
    for name, flag in reasons.items():
        new = np.asarray(flag, dtype=bool) & ~bad
        if new.any():
            counts[name] = int(new.sum())
        bad |= new
    summary = ", ".join(f"{n} {name}" for name, n in counts.items())
    if bad.all():
        raise InputFileError(f"{source}: no valid bin left, all {bad.size} dropped ({summary})")
    if bad.any():
        log.warning("%s: dropped %d of %d bins (%s)", source, bad.sum(), bad.size, summary)
    return ~bad


def _build(source, x, y, vrms, err, flux, pa_deg, reasons, n_input, meta=None):
    """Drop the flagged bins, rotate to the major axis and return :class:`Kinematics`."""
    for name, arr in (("x", x), ("y", y)):
        _check_all(f"{source}: {name}", arr, np.isfinite(arr), "NaN or inf")
    keep = _drop_bad(source, reasons)
    if pa_deg is None:  # coordinates already along the major axis
        x_new, y_new = x[keep], y[keep]
    else:
        x_new, y_new = rotate_to_major_axis(x[keep], y[keep], pa_deg)
    return Kinematics(x=x_new, y=y_new, vrms=vrms[keep], vrms_err=err[keep],
                      flux=None if flux is None else flux[keep],
                      mask_dropped=int(n_input - keep.sum()), meta=meta)


# --------------------------------------------------------------------------------------------
# Text tables
# --------------------------------------------------------------------------------------------

def read_text(path, pa_deg=None):
    """Read a whitespace-separated table with columns ``x y Vrms eVrms [flux]``.

    This is the format of the jampy examples and of Voronoi-binning pipelines: one bin per
    line, ``#`` starts a comment (whole line or trailing), blank lines are ignored. Bins with
    a non-finite Vrms, a non-finite or non-positive eVrms or a non-finite flux are dropped
    with a logged warning.

    Parameters
    ----------
    path : str or os.PathLike
        UTF-8 text file.
    pa_deg : float or None
        Position angle of the major axis in degrees, North through East
        (see :func:`rotate_to_major_axis`); None when x and y are already along the
        major and minor axes (no rotation).

    Returns
    -------
    Kinematics
        ``x``, ``y`` in arcsec rotated to the major axis, Vrms and its error in km/s, and
        ``flux`` if the table has a fifth column.

    Raises
    ------
    ValueError
        If the file is not UTF-8 text, has no data line, a line has a column count other than
        4 or 5 or different from the first data line, a value is not a number, an ``x`` or
        ``y`` is not finite, or no valid bin remains.
    FileNotFoundError
        If ``path`` does not exist.

    Notes
    -----
    ``x`` and ``y`` in the file are sky offsets from the galaxy centre with ``x`` increasing
    to the West (see the module conventions); use ``pa_deg=270`` to keep them unrotated.
    """
    pa = _check_pa(pa_deg)
    source = f"text file {str(path)!r}"
    table = _parse_table(_read_utf8(path, source), source)
    x, y, vrms, err = (table[:, i] for i in range(4))
    flux = table[:, 4] if table.shape[1] == 5 else None
    return _build(source, x, y, vrms, err, flux, pa, _value_reasons(vrms, err, flux), len(table))


#: Largest input a reader accepts (text file size, or one FITS image as float64), bytes: far
#: above any IFU map (1e5 bins) and well within a laptop's memory.
MAX_INPUT_BYTES = 512 * 2**20


def _check_size(nbytes, source, what):
    if nbytes > MAX_INPUT_BYTES:
        raise InputFileError(f"{source}: {what} is {nbytes / 2**20:.0f} MiB, above the limit of "
                             f"{MAX_INPUT_BYTES / 2**20:.0f} MiB (fastjam.io.kinematics.MAX_INPUT_BYTES): bin the data")


def _read_utf8(path, source):
    _check_size(Path(path).stat().st_size, source, "the file")
    data = Path(path).read_bytes()
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputFileError(f"{source} is not UTF-8 text ({exc.reason} at byte {exc.start})") from exc


def _parse_table(text, source):
    """The numeric rows of a text table, shape (n, 4 or 5)."""
    rows, first_line = [], None
    for lineno, line in enumerate(text.splitlines(), start=1):
        fields = line.split("#", 1)[0].split()
        if not fields:
            continue
        _check_column_count(len(fields), lineno, source)
        if first_line is None:
            first_line = lineno
        elif len(fields) != len(rows[0]):
            raise InputFileError(f"{source}: line {lineno} has {len(fields)} columns but line "
                             f"{first_line} has {len(rows[0])} ({TEXT_COLUMNS})")
        rows.append([_parse_number(field, lineno, source) for field in fields])
    if not rows:
        raise InputFileError(f"{source} has no data line (expected columns {TEXT_COLUMNS})")
    return np.array(rows, dtype=float)


def _check_column_count(ncol, lineno, source):
    if ncol not in (4, 5):
        raise InputFileError(f"{source}: line {lineno} has {ncol} columns, expected 4 or 5 "
                         f"({TEXT_COLUMNS})")


def _parse_number(field, lineno, source):
    try:
        return float(field)
    except ValueError:
        raise InputFileError(f"{source}: line {lineno}: {field[:40]!r} is not a number") from None


# --------------------------------------------------------------------------------------------
# FITS helpers
# --------------------------------------------------------------------------------------------

@contextmanager
def _wrap_parser_errors(source, action):
    """Re-raise any failure of a low-level parser call as :class:`InputFileError` naming ``source``.

    A corrupt file can make astropy raise almost any exception type (OSError, TypeError,
    KeyError, MemoryError, ...); for the caller they all mean "bad input file".
    """
    try:
        yield
    except (FileNotFoundError, InputFileError):
        raise
    except Exception as exc:  # noqa: BLE001 -- see docstring
        detail = " ".join(str(exc).split())[:200]       # one line, however verbose the parser
        raise InputFileError(f"{source}: cannot {action} ({type(exc).__name__}: {detail})") from exc


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


# --------------------------------------------------------------------------------------------
# FITS images and cubes
# --------------------------------------------------------------------------------------------

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


# --------------------------------------------------------------------------------------------
# MaNGA DAP MAPS
# --------------------------------------------------------------------------------------------

def read_manga_maps(path, pa_deg=None, vsys=None, sigmacorr_plane=0):
    """Read the stellar V_RMS of the bins of a MaNGA DAP ``MAPS`` file (DR15 or DR17 datamodel).

    For every stellar-continuum bin (``BINID`` plane 1, value >= 0; the DAP repeats a bin's
    values in all its spaxels, so the first spaxel in C order represents it):

    .. math::

        V_{\\rm rms} = \\sqrt{(V - V_{\\rm sys})^2 + \\sigma^2 - \\sigma_{\\rm corr}^2},
        \\qquad
        \\epsilon_{V_{\\rm rms}} = \\frac{\\sqrt{\\left((V - V_{\\rm sys})\\,\\epsilon_V\\right)^2
        + (\\sigma\\,\\epsilon_\\sigma)^2}}{V_{\\rm rms}}

    with :math:`\\sigma` = ``STELLAR_SIGMA`` (observed), :math:`\\sigma_{\\rm corr}` =
    ``STELLAR_SIGMACORR`` and :math:`\\epsilon = 1/\\sqrt{\\rm IVAR}`.

    Dropped bins (counted in ``mask_dropped``, logged): a nonzero ``STELLAR_VEL_MASK`` or
    ``STELLAR_SIGMA_MASK``, an IVAR <= 0, a non-finite value, then a corrected
    :math:`V_{\\rm rms}^2 \\le 0` (a bin with :math:`\\sigma < \\sigma_{\\rm corr}` is kept
    when its :math:`V^2` makes up the difference), then an error that is not finite and > 0.
    Spaxels with ``BINID < 0`` are not bins and are not counted.

    The primary header is read and what is used is logged: ``ECOOPA`` (the position angle
    when ``pa_deg`` is None), ``DAPTYPE`` (a warning for per-spaxel ``SPX`` maps, whose
    stellar sigma is unreliable at low S/N), the ``CRITICAL`` bit of ``DAPQUAL`` (a warning),
    and ``REFF``, ``ECOOELL``, ``GFWHM``/``RFWHM``, returned in ``meta`` as defaults for the
    galaxy (:func:`manga_galaxy_defaults`). Bins whose ``BIN_SNR`` is below
    ``MANGA_MIN_BIN_SNR`` are counted in a warning.

    Parameters
    ----------
    path : str or os.PathLike
        DAP ``MAPS`` file.
    pa_deg : float or None
        Position angle of the major axis in degrees, North through East
        (see :func:`rotate_to_major_axis`). None (default): the header's ``ECOOPA`` (the NSA
        elliptical-Petrosian position angle), logged; a MAPS file is always sky-aligned, so
        its axes are never taken as the galaxy's (give 270 to keep the sky axes on purpose).
    vsys : float or None
        Systemic velocity in km/s subtracted from ``STELLAR_VEL``. By default the median of
        ``STELLAR_VEL`` over the bins kept after the mask cuts (unweighted, so one outlier
        cannot pull it). The value used is logged.
    sigmacorr_plane : int
        Plane of a 3-D ``STELLAR_SIGMACORR`` (DR17 has two). Plane 0 is the correction the
        DAP recommends, from the template fits, whatever its header channel label says;
        plane 1 is the one from the nominal resolution difference. Ignored for a 2-D
        extension (DR15).

    Returns
    -------
    Kinematics
        One entry per kept bin, in increasing bin ID: ``x``, ``y`` in arcsec rotated to the
        major axis, V_RMS and error in km/s, ``flux`` = mean ``SPX_MFLUX`` of the bin's
        spaxels if that extension exists (else None), and ``meta``: the header values of
        ``MANGA_HEADER_KEYS`` present in the file and ``PA_USED``.

    Raises
    ------
    ValueError
        If the file is not readable FITS, an extension is missing, the shapes disagree,
        ``BINID`` is not integer-valued, no spaxel has a bin, no valid bin remains, or
        ``pa_deg`` is None and the header has no valid ``ECOOPA``.
    FileNotFoundError
        If ``path`` does not exist.

    Notes
    -----
    Positions come from ``BIN_LWSKYCOO`` (luminosity-weighted bin centres). The DAP
    datamodel defines its plane 0 as a sky-right offset with +x towards +RA (East) and plane
    1 as +y towards +Dec (North), in arcsec from the galaxy centre; plane 0 is therefore
    negated to get the West-positive ``x`` of the module conventions.
    """
    vsys = None if vsys is None else _check_scalar("vsys", vsys)
    source = f"MaNGA MAPS file {str(path)!r}"
    maps, meta = _read_manga_extensions(path, source, sigmacorr_plane)
    pa = _manga_position_angle(pa_deg, meta, source)
    _check_manga_header(meta, source)
    bins = _manga_bins(maps, source)
    keep = _drop_bad(source, _manga_reasons(bins))
    bins = {name: arr[keep] for name, arr in bins.items()}
    vsys = _systemic_velocity(bins["vel"], vsys, source)
    vrms2, vrms_err_product = _manga_vrms2(bins, vsys)
    _warn_low_snr(bins.get("snr"), source)
    flux = bins.get("flux")
    with np.errstate(invalid="ignore", divide="ignore"):
        vrms = np.sqrt(np.where(vrms2 > 0, vrms2, np.nan))
        err = vrms_err_product / vrms
    reasons = {"corrected V_RMS^2 <= 0": ~(vrms2 > 0), **_value_reasons(vrms, err, flux)}
    return _build(source, bins["x"], bins["y"], vrms, err, flux, pa, reasons, keep.size,
                  meta=dict(meta, PA_USED=pa))


def manga_galaxy_defaults(meta):
    """``[galaxy]`` values a MAPS header offers: ``r_e`` = REFF [arcsec], ``q_obs`` = 1 - ECOOELL,
    ``fwhm_psf`` = RFWHM (else GFWHM) [arcsec]; only those present and valid."""
    meta = meta or {}
    out = {}
    if _is_number(meta.get("REFF")) and meta["REFF"] > 0:
        out["r_e"] = float(meta["REFF"])
    if _is_number(meta.get("ECOOELL")) and 0 <= meta["ECOOELL"] < 1:
        out["q_obs"] = 1.0 - float(meta["ECOOELL"])
    fwhm = meta.get("RFWHM") if _is_number(meta.get("RFWHM")) and meta["RFWHM"] > 0 else meta.get("GFWHM")
    if _is_number(fwhm) and fwhm > 0:
        out["fwhm_psf"] = float(fwhm)
    return out


def _is_number(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool) and bool(np.isfinite(value))


def _manga_position_angle(pa_deg, meta, source):
    if pa_deg is not None:
        return _check_pa(pa_deg)
    pa = meta.get("ECOOPA")
    if not _is_number(pa):
        raise InputFileError(f"{source}: no position angle given and the header has no valid ECOOPA: set "
                             "[galaxy] pa (deg, North through East); the sky axes are not the galaxy's")
    log.info("%s: position angle %.1f deg from the header's ECOOPA (NSA elliptical Petrosian, N through E); "
             "set [galaxy] pa to override", source, pa)
    return float(pa)


def _check_manga_header(meta, source):
    daptype = str(meta.get("DAPTYPE", ""))
    if daptype.startswith("SPX"):
        log.warning("%s: DAPTYPE %s is per-spaxel: stellar sigma is unreliable at low S/N; use the HYB10 or "
                    "VOR10 MAPS file", source, daptype)
    qual = meta.get("DAPQUAL")
    if isinstance(qual, int) and qual >> MANGA_DAPQUAL_CRITICAL & 1:
        log.warning("%s: DAPQUAL = %d has the CRITICAL bit (%d) set: the DAP flags this observation as "
                    "unfit for science", source, qual, MANGA_DAPQUAL_CRITICAL)
    used = {k: meta[k] for k in ("REFF", "ECOOELL", "GFWHM", "RFWHM") if k in meta}
    log.info("%s: header values %s (defaults for r_e, q_obs = 1 - ECOOELL and fwhm_psf unless the "
             "configuration sets them)", source, used)


def _warn_low_snr(snr, source):
    if snr is None:
        return
    low = ~(snr >= MANGA_MIN_BIN_SNR)
    if low.any():
        log.warning("%s: %d of %d bins have BIN_SNR < %g, below the S/N the DAP bins to for stellar sigma: "
                    "their V_RMS may be biased", source, low.sum(), low.size, MANGA_MIN_BIN_SNR)


def _check_scalar(name, value):
    arr = check_finite(name, value)
    if arr.ndim:
        raise ValueError(f"{name} must be a scalar, got shape {arr.shape}")
    return float(arr)


def _read_manga_extensions(path, source, sigmacorr_plane):
    """The DAP maps as float arrays, each shape (ny, nx), keyed by extension name."""
    with _open_fits(path, source) as hdul:
        names = {hdu.name for hdu in hdul}
        missing = [name for name in MANGA_EXTENSIONS if name not in names]
        if missing:
            raise InputFileError(f"{source} lacks extension(s) {', '.join(missing)}")
        optional = tuple(name for name in ("SPX_MFLUX", "BIN_SNR") if name in names)
        maps = {name: _image_data(hdul[name], source, name)
                for name in MANGA_EXTENSIONS + optional}
        header = hdul[0].header
        meta = {key: header[key] for key in MANGA_HEADER_KEYS if key in header}
    maps["BINID"] = _plane(maps["BINID"], MANGA_BINID_PLANE, source, "BINID", allow_2d=True)
    maps["STELLAR_SIGMACORR"] = _plane(maps["STELLAR_SIGMACORR"], sigmacorr_plane, source,
                                       "STELLAR_SIGMACORR", allow_2d=True)
    shape = maps["STELLAR_VEL"].shape
    if len(shape) != 2:
        raise InputFileError(f"{source}: STELLAR_VEL has shape {shape}, expected a 2-D map")
    coo = _check_shape(maps.pop("BIN_LWSKYCOO"), (2,) + shape, source, "BIN_LWSKYCOO")
    maps["SKY_X"], maps["SKY_Y"] = coo[0], coo[1]
    for name, arr in maps.items():
        _check_shape(arr, shape, source, name)
    return maps, meta


def _plane(arr, plane, source, name, allow_2d):
    if arr.ndim == 2 and allow_2d:
        return arr
    if arr.ndim != 3 or not -arr.shape[0] <= plane < arr.shape[0]:
        raise InputFileError(f"{source}: {name} has shape {arr.shape}, cannot take plane {plane}")
    return arr[plane]


def _manga_bins(maps, source):
    """Per-bin 1-D arrays (one representative spaxel per ``BINID >= 0``), shape (n_bins,)."""
    binid = maps["BINID"].ravel()
    if not np.all(np.isfinite(binid) & (binid == np.round(binid))):
        raise InputFileError(f"{source}: BINID plane {MANGA_BINID_PLANE} has non-integer values")
    in_bin = binid >= 0
    if not in_bin.any():
        raise InputFileError(f"{source}: no spaxel has a stellar-continuum bin (all BINID < 0)")
    ids, first, inverse = np.unique(binid[in_bin], return_index=True, return_inverse=True)
    spaxel = np.flatnonzero(in_bin)[first]
    log.info("%s: %d bins from %d binned spaxels", source, ids.size, in_bin.sum())
    pick = {"vel": "STELLAR_VEL", "vel_ivar": "STELLAR_VEL_IVAR", "vel_mask": "STELLAR_VEL_MASK",
            "sig": "STELLAR_SIGMA", "sig_ivar": "STELLAR_SIGMA_IVAR",
            "sig_mask": "STELLAR_SIGMA_MASK", "sigcorr": "STELLAR_SIGMACORR"}
    bins = {key: maps[name].ravel()[spaxel] for key, name in pick.items()}
    bins["x"] = -maps["SKY_X"].ravel()[spaxel]     # DAP +x is East; ours is West
    bins["y"] = maps["SKY_Y"].ravel()[spaxel]
    if "BIN_SNR" in maps:
        bins["snr"] = maps["BIN_SNR"].ravel()[spaxel]
    if "SPX_MFLUX" in maps:
        total = np.bincount(inverse, weights=maps["SPX_MFLUX"].ravel()[in_bin])
        bins["flux"] = total / np.bincount(inverse)
    return bins


def _manga_reasons(bins):
    """Drop reasons of the DAP bins before V_RMS is computed (name -> bool, True = bad)."""
    with np.errstate(invalid="ignore"):
        masked = ((bins["vel_mask"] != 0) | (bins["sig_mask"] != 0)
                  | ~(bins["vel_ivar"] > 0) | ~(bins["sig_ivar"] > 0))
    values = ("vel", "sig", "sigcorr", "vel_ivar", "sig_ivar", "x", "y")
    nonfinite = ~np.logical_and.reduce([np.isfinite(bins[key]) for key in values])
    return {"masked or IVAR <= 0": masked, "non-finite value": nonfinite}


def _systemic_velocity(vel, vsys, source):
    if vsys is None:
        vsys = float(np.median(vel))
        log.info("%s: systemic velocity %.2f km/s (median STELLAR_VEL of %d bins) subtracted",
                 source, vsys, vel.size)
    else:
        log.info("%s: systemic velocity %.2f km/s (given) subtracted", source, vsys)
    return vsys


def _manga_vrms2(bins, vsys):
    """Corrected V_RMS^2 in (km/s)^2 and V_RMS x its error in (km/s)^2, each shape (n_bins,)."""
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        vel = bins["vel"] - vsys
        sig = bins["sig"]
        vrms2 = vel**2 + sig**2 - bins["sigcorr"] ** 2
        err_vel = 1 / np.sqrt(bins["vel_ivar"])
        err_sig = 1 / np.sqrt(bins["sig_ivar"])
        return vrms2, np.sqrt((vel * err_vel) ** 2 + (sig * err_sig) ** 2)

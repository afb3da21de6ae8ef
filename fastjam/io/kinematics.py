"""Binned kinematics (:class:`Kinematics`), the conventions every reader follows and the checks they share.

The readers: whitespace tables (:mod:`.text`), FITS images or cubes (:mod:`.fits`) and MaNGA
DAP ``MAPS`` (:mod:`.manga`).

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
from typing import Optional

import numpy as np

from ..validation import check_finite

log = logging.getLogger(__name__)


class InputFileError(ValueError):
    """Bad content of an input file (raised by the readers; a ``ValueError``).

    The message starts with the kind of file and its path.
    """


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


#: Largest input a reader accepts (text file size, or one FITS image as float64), bytes: far
#: above any IFU map (1e5 bins) and well within a laptop's memory.
MAX_INPUT_BYTES = 512 * 2**20


def _check_size(nbytes, source, what):
    if nbytes > MAX_INPUT_BYTES:
        raise InputFileError(f"{source}: {what} is {nbytes / 2**20:.0f} MiB, above the limit of "
                             f"{MAX_INPUT_BYTES / 2**20:.0f} MiB (fastjam.io.kinematics.MAX_INPUT_BYTES): bin the data")


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

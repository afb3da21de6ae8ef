"""MaNGA DAP ``MAPS`` files (Westfall et al. 2019, AJ 158, 231) into
:class:`~fastjam.io.kinematics.Kinematics`: stellar V and sigma per bin, corrected for the
instrumental dispersion, to V_RMS. astropy is imported when a file is read."""
import logging

import numpy as np

from ..validation import check_finite
from .fits import _check_shape, _image_data, _open_fits
from .kinematics import InputFileError, _build, _check_pa, _drop_bad, _value_reasons

log = logging.getLogger(__name__)

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

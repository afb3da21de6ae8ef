"""Mock surveys: many jampy mocks across the emulator's domain, written as a survey catalog.

A mock survey is what a user of ``fastjam survey`` starts from: a catalog (one row per
galaxy, the columns of :mod:`fastjam.catalog`) and one kinematics file per galaxy, in the
formats IFU pipelines deliver:

- ``text``: the whitespace table read by :func:`fastjam.io.read_text` (sky offsets x to the
  West, y to the North, V_RMS and its error), rotated to the galaxy's position angle;
- ``manga``: a MaNGA-DAP-like ``MAPS`` file (:func:`write_manga_maps`) read by
  :func:`fastjam.io.read_manga_maps`: spaxels of :data:`SPAXEL_ARCSEC` assigned to the nearest
  bin, stellar velocity and dispersion whose quadrature sum is the mock V_RMS.

Galaxies are drawn on a Sobol design of the emulator's parameter space
(:func:`fastjam.design.sobol_design`), so the survey spans its domain; the true values go into
``truth.*`` columns of the catalog for the recovery test.
"""
import logging
from pathlib import Path

import numpy as np

from .mock import make_mock

log = logging.getLogger(__name__)

#: Spaxel size of the MaNGA-like MAPS files [arcsec] (MaNGA's DAP maps have 0.5 arcsec spaxels).
SPAXEL_ARCSEC = 0.5
#: Ranges of the survey quantities outside the emulator's (scale-free) domain.
RANGES = dict(r_e=(3.0, 15.0), distance=(15.0, 100.0), l_tot=(3e9, 1e11), ml=(1.0, 8.0), pa=(0.0, 180.0))


def rotate_to_sky(x_major, y_major, pa_deg):
    """Inverse of :func:`fastjam.io.rotate_to_major_axis`: major-axis offsets -> sky offsets.

    .. math:: x = -x' \\sin{\\rm PA} - y' \\cos{\\rm PA}, \\qquad y = x' \\cos{\\rm PA} - y' \\sin{\\rm PA}

    Parameters
    ----------
    x_major, y_major : ndarray, shape (p,)
        Offsets along the major and minor axes [arcsec].
    pa_deg : float
        Position angle of the major axis [deg], North through East.

    Returns
    -------
    x, y : ndarray, shape (p,)
        Sky offsets [arcsec], x to the West, y to the North.
    """
    s, c = np.sin(np.radians(pa_deg)), np.cos(np.radians(pa_deg))
    return -s * x_major - c * y_major, c * x_major - s * y_major


def draw_galaxies(n, seed=0, space=None):
    """Galaxies and true parameters on a Sobol design of the emulator's domain.

    Parameters
    ----------
    n : int
        Number of galaxies.
    seed : int
        Seed of the design and of the scale quantities.
    space : ParameterSpace, optional
        Default: the shipped emulator's training space.

    Returns
    -------
    list of (dict, dict, float)
        ``[galaxy]`` values (:data:`fastjam.mock.GALAXY_KEYS`), truth (inclination [deg],
        beta_z, ml [Msun/Lsun]) and position angle [deg] of each galaxy. R_e, distance, L_tot
        and M/L are log-uniform (distance uniform) in :data:`RANGES`.
    """
    from .design import ParameterSpace, sobol_design

    design = sobol_design(n, seed, space or ParameterSpace())
    rng = np.random.default_rng(seed + 1)

    def log_uniform(lo, hi):
        return float(np.exp(rng.uniform(np.log(lo), np.log(hi))))

    out = []
    for n_sersic, q_obs, inc, beta, sig_re, pix_re in design:
        r_e = log_uniform(*RANGES["r_e"])
        galaxy = dict(sersic_n=round(float(n_sersic), 4), r_e=round(r_e, 4), q_obs=round(float(q_obs), 4),
                      l_tot=float(f"{log_uniform(*RANGES['l_tot']):.4g}"),
                      distance=round(float(rng.uniform(*RANGES["distance"])), 3),
                      sigma_psf=round(float(sig_re * r_e), 4), pixsize=round(float(pix_re * r_e), 4))
        truth = dict(inclination=float(inc), beta_z=float(beta), ml=log_uniform(*RANGES["ml"]))
        out.append((galaxy, truth, round(float(rng.uniform(*RANGES["pa"])), 2)))
    return out


def write_text(path, x_sky, y_sky, vrms, vrms_err, note=""):
    """Write a kinematics text table (columns x y Vrms eVrms; sky offsets in arcsec, km/s)."""
    header = (f"{note}\n" if note else "") + "x[arcsec, West] y[arcsec, North] Vrms[km/s] eVrms[km/s]"
    np.savetxt(path, np.column_stack([x_sky, y_sky, vrms, vrms_err]), fmt="%.5f", header=header)


def write_manga_maps(path, x_sky, y_sky, vrms, vrms_err, rotation=0.5, vsys=5000.0, masked_fraction=0.0,
                     seed=0):
    """Write a MaNGA-DAP-like ``MAPS`` file holding binned stellar kinematics.

    Spaxels of :data:`SPAXEL_ARCSEC` on a square grid centred on the galaxy are assigned to
    the nearest bin centroid (spaxels farther than 1.5 spaxels beyond the outermost bin have
    ``BINID = -1``); bins that receive no spaxel are absent, as in the DAP. Every spaxel of a
    bin repeats its values, ``BIN_LWSKYCOO`` holds the bin centroid (plane 0 towards East,
    plane 1 North). The velocity is a rotation :math:`V = V_{\\rm sys} + r V_{\\rm rms}
    x'/\\sqrt{x'^2 + (2\\,{\\rm spaxels})^2}` along the sky x axis with ``r = rotation``, and
    the dispersion :math:`\\sigma = \\sqrt{V_{\\rm rms}^2 - (V - \\tilde V)^2}` with
    :math:`\\tilde V` the median velocity of the kept bins (what the reader subtracts), so the
    reader returns the given V_RMS; ``STELLAR_SIGMACORR`` is 0 and both IVARs are
    ``1 / vrms_err**2``, so the reader's propagated error equals ``vrms_err``.

    Parameters
    ----------
    path : str or Path
    x_sky, y_sky : ndarray, shape (p,)
        Bin centroids [arcsec], x to the West, y to the North.
    vrms, vrms_err : ndarray, shape (p,)
        V_RMS and its 1-sigma error [km/s].
    rotation : float
        Rotation amplitude as a fraction of V_RMS, in [0, 1).
    vsys : float
        Systemic velocity [km/s].
    masked_fraction : float
        Fraction of the bins flagged in ``STELLAR_VEL_MASK`` (1 gives a file with no valid bin).
    seed : int
        Seed of the choice of masked bins.

    Returns
    -------
    int
        Number of bins in the file.
    """
    from astropy.io import fits

    if not 0 <= rotation < 1:
        raise ValueError(f"rotation must be in [0, 1), got {rotation}")
    x_sky, y_sky = np.asarray(x_sky, float), np.asarray(y_sky, float)
    half = np.max(np.abs(np.concatenate([x_sky, y_sky]))) + 2 * SPAXEL_ARCSEC
    n_side = 2 * int(np.ceil(half / SPAXEL_ARCSEC)) + 1
    centre = (n_side - 1) / 2
    row, col = np.mgrid[0:n_side, 0:n_side]
    sx, sy = (col - centre) * SPAXEL_ARCSEC, (row - centre) * SPAXEL_ARCSEC  # sky offsets, x West
    dist2 = (sx[..., None] - x_sky) ** 2 + (sy[..., None] - y_sky) ** 2
    nearest = np.argmin(dist2, axis=-1)
    r_max = np.max(np.hypot(x_sky, y_sky)) + 1.5 * SPAXEL_ARCSEC
    binid = np.where(np.hypot(sx, sy) <= r_max, nearest, -1)
    rng = np.random.default_rng(seed)
    masked = rng.uniform(size=x_sky.size) < masked_fraction
    present = np.zeros(x_sky.size, bool)
    present[binid[binid >= 0]] = True
    v_rot = rotation * vrms * x_sky / np.sqrt(x_sky**2 + (2 * SPAXEL_ARCSEC) ** 2)
    kept = present & ~masked
    v_med = np.median(v_rot[kept]) if kept.any() else 0.0
    sigma = np.sqrt(np.clip(vrms**2 - (v_rot - v_med) ** 2, 0, None))
    ivar = 1 / vrms_err**2

    def per_spaxel(values, fill=0.0):
        return np.where(binid >= 0, np.asarray(values, float)[np.clip(binid, 0, None)], fill)

    binids = np.repeat(binid[None].astype(np.int32), 5, axis=0)
    hdus = [fits.PrimaryHDU()]
    for name, data in (("STELLAR_VEL", per_spaxel(vsys + v_rot)), ("STELLAR_VEL_IVAR", per_spaxel(ivar)),
                       ("STELLAR_VEL_MASK", per_spaxel(masked, 1).astype(np.int32)),
                       ("STELLAR_SIGMA", per_spaxel(sigma)), ("STELLAR_SIGMA_IVAR", per_spaxel(ivar)),
                       ("STELLAR_SIGMA_MASK", per_spaxel(np.zeros(x_sky.size), 1).astype(np.int32)),
                       ("STELLAR_SIGMACORR", np.zeros((n_side, n_side))),
                       ("BIN_LWSKYCOO", np.stack([per_spaxel(-x_sky), per_spaxel(y_sky)])), ("BINID", binids)):
        hdus.append(fits.ImageHDU(data, name=name))
    fits.HDUList(hdus).writeto(path, overwrite=True)
    return int(present.sum())


def write_mock_survey(out, n, seed=0, formats=("text", "manga"), jam_settings=None, progress=True):
    """Make ``n`` jampy mocks across the emulator's domain and write them as a survey.

    Galaxy ``k`` gets the format ``formats[k % len(formats)]``. Writes
    ``out/kinematics/<id>.txt`` or ``out/kinematics/<id>_MAPS.fits`` and ``out/catalog.csv``
    (the columns of :mod:`fastjam.catalog`, paths relative to the catalog, and the true values
    in ``truth.inclination``, ``truth.beta_z``, ``truth.ml``).

    Parameters
    ----------
    out : str or Path
    n : int
        Number of galaxies (ids ``mock0000``, ...).
    seed : int
        Seed of the design; galaxy ``k`` has noise seed ``seed + k``.
    formats : sequence of {"text", "manga"}
    jam_settings : JAMSettings, optional
        jampy settings of the mocks (default: the training set's).
    progress : bool

    Returns
    -------
    Path
        The catalog.
    """
    from astropy.table import Table
    from tqdm.auto import tqdm

    from .jam import DEFAULT_SETTINGS, JAMModel

    bad = [f for f in formats if f not in ("text", "manga")]
    if bad or not formats:
        raise ValueError(f"mock survey formats must be 'text' or 'manga', got {list(formats)!r}")
    out = Path(out)
    (out / "kinematics").mkdir(parents=True, exist_ok=True)
    jam = JAMModel(jam_settings or DEFAULT_SETTINGS)
    rows = []
    for k, (galaxy, truth, pa) in enumerate(tqdm(draw_galaxies(n, seed), disable=not progress, unit="mock")):
        gid = f"mock{k:04d}"
        mock = make_mock(galaxy, truth, seed=seed + k, bin_seed=seed + k, jam=jam)
        x_sky, y_sky = rotate_to_sky(mock.x, mock.y, pa)
        fmt = formats[k % len(formats)]
        if fmt == "text":
            name = f"kinematics/{gid}.txt"
            write_text(out / name, x_sky, y_sky, mock.vrms, mock.vrms_err, f"jampy mock {gid} (fastjam.mock_survey)")
        else:
            name = f"kinematics/{gid}_MAPS.fits"
            write_manga_maps(out / name, x_sky, y_sky, mock.vrms, mock.vrms_err, seed=seed + k)
        rows.append(dict(id=gid, **galaxy, pa=pa, kin_path=name, kin_format=fmt,
                         **{f"truth.{key}": value for key, value in truth.items()}))
    path = out / "catalog.csv"
    Table(rows=rows).write(path, format="ascii.csv", overwrite=True)
    log.info("mock survey of %d galaxies written to %s", n, path)
    return path


__all__ = ["RANGES", "SPAXEL_ARCSEC", "draw_galaxies", "rotate_to_sky", "write_manga_maps", "write_mock_survey",
           "write_text"]

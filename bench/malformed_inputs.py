"""Builders of the malformed inputs of ``bench/malformed.py``: configurations, text tables, FITS
images, MaNGA MAPS files, MGEs and command lines, each written into a scratch directory."""
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from _common import REPO

EXAMPLE = REPO / "examples" / "example_galaxy"
MOCKS = REPO / "examples" / "mocks"


@dataclass
class Case:
    """One malformed (or valid) input: ``make(tmp) -> argv`` for the CLI, or a callable for a reader."""

    name: str
    kind: str
    expect: str
    make: object


BASE_GALAXY = dict(sersic_n=3.5, r_e=8.0, q_obs=0.65, l_tot=3e10, distance=25.0, sigma_psf=0.8, pixsize=0.8)


def toml_value(v):
    if isinstance(v, str):
        return f'"{v}"'
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, list):
        return "[" + ", ".join(toml_value(x) for x in v) + "]"
    return repr(v)


def write_config(tmp, galaxy=None, data=None, extra="", drop=(), table=None, name="galaxy.toml"):
    """A config in ``tmp`` from the example's, with ``galaxy`` / ``data`` overrides and raw ``extra`` text."""
    g = {k: v for k, v in {**BASE_GALAXY, **(galaxy or {})}.items() if k not in drop and v is not None}
    d = {"path": str(table if table is not None else EXAMPLE / "vrms_bins.txt"), "format": "text", **(data or {})}
    lines = ["[galaxy]"] + [f"{k} = {toml_value(v)}" for k, v in g.items()]
    lines += ["[data]"] + [f"{k} = {toml_value(v)}" for k, v in d.items()]
    lines += ["[priors]", "ml = [0.5, 20.0]"]
    path = Path(tmp) / name
    path.write_text("\n".join(lines) + "\n" + extra)
    return path


def example_table():
    return np.loadtxt(EXAMPLE / "vrms_bins.txt")


def write_table(tmp, table, name="bins.txt", fmt="%.6g"):
    path = Path(tmp) / name
    np.savetxt(path, table, fmt=fmt, header="x y Vrms eVrms")
    return path


def table_case(transform, galaxy=None, data=None):
    """A fit of the example with its table transformed by ``transform(table) -> table``."""
    def make(tmp):
        return fit_argv(write_config(tmp, galaxy, data, table=write_table(tmp, transform(example_table()))))
    return make


def config_case(galaxy=None, data=None, extra="", drop=(), cli=()):
    def make(tmp):
        argv = fit_argv(write_config(tmp, galaxy, data, extra, drop), *cli)
        # the config's own [sampler] values are under test: no command-line overrides of them
        return [a for a in argv if a not in SAMPLER] if "[sampler]" in extra else argv
    return make


def fit_argv(config, *extra):
    return ["fit", str(config), "--backend", "emcee", *SAMPLER, "--no-progress", *extra]


SAMPLER = []


def sky_table(pa_deg):
    """The example table as sky offsets (x West, y North) of a galaxy at position angle ``pa_deg``."""
    t = example_table()
    pa = np.radians(pa_deg)
    # inverse of fastjam.io.rotate_to_major_axis
    xs = -t[:, 0] * np.sin(pa) - t[:, 1] * np.cos(pa)
    ys = t[:, 0] * np.cos(pa) - t[:, 1] * np.sin(pa)
    return np.column_stack([xs, ys, t[:, 2], t[:, 3]])


def signed_velocity(t):
    v = t.copy()
    v[:, 2] = np.where(t[:, 0] > 0, 1, -1) * t[:, 2] * 0.6
    return v


def scaled(col, factor):
    def f(t):
        t = t.copy()
        t[:, col] *= factor
        return t
    return f


def with_col(col, fn):
    def f(t):
        t = t.copy()
        t[:, col] = fn(t)
        return t
    return f


def fits_image(tmp, cube=False, wcs=True, shape_err=None, nan=False, name="map.fits"):
    """A 0.8"/pixel FITS image of the example galaxy: the emulator's V_RMS at its true parameters
    with 4% errors and noise (seed 3)."""
    from astropy.io import fits

    n = 41
    c = (n - 1) / 2
    vrms = _model_image(n) if not nan else np.full((n, n), np.nan)
    err = 0.04 * np.nan_to_num(vrms, nan=1.0)
    vrms = vrms + err * np.random.default_rng(3).standard_normal(vrms.shape)
    header = fits.Header()
    if wcs:
        header.update(CTYPE1="RA---TAN", CTYPE2="DEC--TAN", CRPIX1=c + 1, CRPIX2=c + 1, CRVAL1=150.0, CRVAL2=2.0,
                      CDELT1=-0.8 / 3600, CDELT2=0.8 / 3600)
    if cube:
        hdus = [fits.PrimaryHDU(np.stack([vrms, err]), header=header)]
    else:
        errimg = err if shape_err is None else np.ones(shape_err)
        hdus = [fits.PrimaryHDU(vrms, header=header), fits.ImageHDU(errimg, name="ERR")]
    path = Path(tmp) / name
    fits.HDUList(hdus).writeto(path, overwrite=True)
    return path


_MODEL = {}


def _model_image(n):
    """Emulator V_RMS [km/s] of the example at its truth on an n x n grid of 0.8" pixels (x West, y North;
    with pa = 270 the sky axes are the galaxy's)."""
    if n not in _MODEL:
        from fastjam.config import load_config
        from fastjam.fit import build_problem

        c = (n - 1) / 2
        yy, xx = np.mgrid[0:n, 0:n]
        table = np.column_stack([((xx - c) * -0.8).ravel(), ((yy - c) * 0.8).ravel(), np.full(n * n, 100.0),
                                 np.full(n * n, 1.0)])
        with tempfile.TemporaryDirectory() as tmp:
            cfg = load_config(write_config(tmp, {"pa": 270.0}, {"drop_outside_field": True},
                                           table=write_table(tmp, table)))
            problem = build_problem(cfg)
        model = np.full(n * n, np.nan)
        truth = load_config(EXAMPLE / "galaxy.toml")["truth"]
        model[problem.selected] = np.asarray(problem.vrms_fn(truth["inclination"], truth["beta_z"], truth["ml"]))
        _MODEL[n] = model.reshape(n, n)
    return _MODEL[n].copy()


def fits_case(data=None, galaxy=None, **kw):
    def make(tmp):
        return fit_argv(write_config(tmp, {"pa": 270.0, **(galaxy or {})},
                                     {"format": "fits", "drop_outside_field": True, **(data or {})},
                                     table=fits_image(tmp, **kw)))
    return make


def manga_maps(tmp, header=None, snr=30.0, masked=False, binid_float=False, drop=(), name="maps.fits"):
    """A MaNGA DAP MAPS file of the example galaxy (one spaxel per bin, sky-aligned at ECOOPA = 35)."""
    from astropy.io import fits

    t = sky_table(35.0)
    n = t.shape[0]
    shape = (1, n)
    vel = np.full(shape, 1000.0)
    sig = t[:, 2].reshape(shape)
    ivar = (1 / t[:, 3] ** 2).reshape(shape)
    mask = np.full(shape, 1 if masked else 0, dtype=np.int32)
    coo = np.stack([-t[:, 0].reshape(shape), t[:, 1].reshape(shape)])   # DAP +x is East
    binid = np.stack([np.arange(n).reshape(shape)] * 5).astype(float if binid_float else np.int32)
    if binid_float:
        binid[1, 0, 0] = 0.5
    hdus = dict(STELLAR_VEL=vel, STELLAR_VEL_IVAR=ivar * 1e4, STELLAR_VEL_MASK=mask, STELLAR_SIGMA=sig,
                STELLAR_SIGMA_IVAR=ivar, STELLAR_SIGMA_MASK=mask, STELLAR_SIGMACORR=np.zeros((2,) + shape),
                BIN_LWSKYCOO=coo, BINID=binid, BIN_SNR=np.full(shape, snr))
    primary = fits.PrimaryHDU()
    for k, v in {"DAPTYPE": "HYB10-MILESHC-MASTARHC2", "DAPQUAL": 0, "ECOOPA": 35.0, "ECOOELL": 0.35,
                 "REFF": 8.0, "RFWHM": 1.88, "GFWHM": 1.95, **(header or {})}.items():
        if v is not None:
            primary.header[k] = v
    path = Path(tmp) / name
    fits.HDUList([primary] + [fits.ImageHDU(d, name=k) for k, d in hdus.items() if k not in drop]).writeto(path)
    return path


def manga_case(galaxy=None, drop_galaxy=(), **kw):
    def make(tmp):
        g = {**BASE_GALAXY, **(galaxy or {})}
        return fit_argv(write_config(tmp, g, {"format": "manga"}, drop=drop_galaxy, table=manga_maps(tmp, **kw)))
    return make


def mge_case(rows, extra_galaxy=None, forward="jam"):
    def make(tmp):
        path = Path(tmp) / "mge.txt"
        path.write_text(rows)
        g = {"mge": str(path), **(extra_galaxy or {})}
        return fit_argv(write_config(tmp, g, drop=("sersic_n", "r_e", "q_obs", "l_tot"),
                                     extra=f'[forward]\nmodel = "{forward}"\n'))
    return make


def argv_case(*argv):
    def make(tmp):
        return [a.format(tmp=tmp, cfg=EXAMPLE / "galaxy.toml", bins=EXAMPLE / "vrms_bins.txt") for a in argv]
    return make


def earlier_fit(*cli):
    def make(tmp):
        out = Path(tmp) / "out"
        out.mkdir()
        (out / "summary.json").write_text("{}")
        return fit_argv(write_config(tmp), "--out", str(out), *cli)
    return make


def big_text(tmp):
    path = Path(tmp) / "big.txt"
    with open(path, "wb") as f:
        f.truncate(600 * 2**20)   # sparse: no disk used
    return fit_argv(write_config(tmp, table=path))


def big_fits(tmp):
    from astropy.io import fits

    header = fits.PrimaryHDU().header
    header.update(BITPIX=-64, NAXIS=2, NAXIS1=20000, NAXIS2=20000)
    path = Path(tmp) / "big.fits"
    with open(path, "wb") as f:
        f.write(header.tostring().encode())
        f.truncate(len(header.tostring()) + 20000 * 20000 * 8)
    return fit_argv(write_config(tmp, {"pa": 270.0}, {"format": "fits"}, table=path))


def raw_file(content, fmt="text", galaxy=None):
    def make(tmp):
        path = Path(tmp) / "data.dat"
        path.write_bytes(content if isinstance(content, bytes) else content.encode())
        return fit_argv(write_config(tmp, galaxy, {"format": fmt}, table=path))
    return make

"""Tests of the kinematics readers in :mod:`fastjam.io`."""
import dataclasses
import logging
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fastjam.io import InputFileError, Kinematics, read_fits, read_manga_maps, read_text, rotate_to_major_axis

#: Position angle that leaves sky offsets unrotated (major axis towards the West, +x).
PA_IDENTITY = 270.0


# --------------------------------------------------------------------------------------------
# Kinematics
# --------------------------------------------------------------------------------------------

def _kin(**kw):
    args = dict(x=[0.0, 1.0, 2.0, 3.0], y=[0.0, -1.0, 1.0, 2.0], vrms=[200.0, 190.0, 180.0, 170.0],
                vrms_err=[5.0, 5.0, 6.0, 7.0])
    args.update(kw)
    return Kinematics(**args)


def test_kinematics_valid_is_frozen_and_read_only():
    x = np.array([0.0, 1.0, 2.0, 3.0])
    kin = _kin(x=x, flux=[1.0, 2.0, 3.0, 4.0], mask_dropped=2)
    assert len(kin) == 4 and kin.mask_dropped == 2
    assert kin.x.dtype == float and kin.flux.tolist() == [1.0, 2.0, 3.0, 4.0]
    with pytest.raises(dataclasses.FrozenInstanceError):
        kin.x = x
    with pytest.raises(ValueError):
        kin.vrms[0] = 1.0
    x[0] = 99.0                      # the caller's array is copied
    assert kin.x[0] == 0.0


@pytest.mark.parametrize("err, match", [
    ([5.0, np.nan, 6.0, np.nan], r"vrms_err has 2 of 4 values that are NaN, inf or <= 0, first at index 1"),
    ([5.0, 5.0, -1.0, 7.0], r"vrms_err has 1 of 4 values .* first at index 2 \(-1\)"),
    ([0.0, 5.0, 6.0, 7.0], r"vrms_err has 1 of 4 .* first at index 0"),
    ([5.0, 5.0, 6.0, np.inf], r"vrms_err has 1 of 4 .* first at index 3"),
])
def test_kinematics_bad_errors(err, match):
    with pytest.raises(ValueError, match=match):
        _kin(vrms_err=err)


@pytest.mark.parametrize("kw, match", [
    (dict(x=[0.0, 1.0, 2.0]), r"equal lengths, got x=3, y=4"),
    (dict(flux=[1.0, 2.0]), r"equal lengths.*flux=2"),
    (dict(x=[], y=[], vrms=[], vrms_err=[]), r"at least one bin"),
    (dict(x=[0.0, np.nan, 2.0, 3.0]), r"x has 1 of 4 values that are NaN or inf, first at index 1"),
    (dict(y=[0.0, 0.0, 0.0, np.inf]), r"y has 1 of 4 .* first at index 3"),
    (dict(vrms=[np.nan, 1.0, 1.0, 1.0]), r"vrms has 1 of 4 .* first at index 0"),
    (dict(flux=[1.0, 1.0, np.nan, 1.0]), r"flux has 1 of 4 .* first at index 2"),
    (dict(x=np.zeros((2, 2))), r"x must be 1-D, got shape \(2, 2\)"),
    (dict(x=["a", "b", "c", "d"]), r"x must be a 1-D array of numbers"),
    (dict(mask_dropped=-1), r"mask_dropped must be an integer >= 0"),
    (dict(mask_dropped=1.5), r"mask_dropped must be an integer >= 0"),
])
def test_kinematics_bad_input(kw, match):
    with pytest.raises(ValueError, match=match):
        _kin(**kw)


def test_import_does_not_load_astropy():
    code = "import sys, fastjam.io; print('astropy' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


# --------------------------------------------------------------------------------------------
# Rotation convention
# --------------------------------------------------------------------------------------------

def test_rotation_pa90_east_point_on_major_axis():
    x_new, y_new = rotate_to_major_axis([-1.0], [0.0], 90.0)     # 1 arcsec East
    np.testing.assert_allclose([abs(x_new[0]), y_new[0]], [1.0, 0.0], atol=1e-12)
    np.testing.assert_allclose(x_new, [1.0], atol=1e-12)


def test_rotation_pa0_north_point_on_major_axis():
    x_new, y_new = rotate_to_major_axis([0.0], [1.0], 0.0)       # 1 arcsec North
    np.testing.assert_allclose([abs(x_new[0]), y_new[0]], [1.0, 0.0], atol=1e-12)
    # at PA = 0 a point to the East or West lies on the minor axis
    x_new, y_new = rotate_to_major_axis([1.0, -1.0], [0.0, 0.0], 0.0)
    np.testing.assert_allclose(x_new, [0.0, 0.0], atol=1e-12)
    np.testing.assert_allclose(np.abs(y_new), [1.0, 1.0], atol=1e-12)


def test_rotation_pa270_is_identity():
    x, y = np.array([1.0, -2.0, 0.5]), np.array([3.0, 0.0, -4.0])
    x_new, y_new = rotate_to_major_axis(x, y, PA_IDENTITY)
    np.testing.assert_allclose(x_new, x, atol=1e-12)
    np.testing.assert_allclose(y_new, y, atol=1e-12)


@given(pa=st.floats(-720, 720), r=st.floats(0.01, 100))
def test_rotation_point_at_pa_maps_onto_positive_x(pa, r):
    # a point at radius r in direction PA (from North through East; East = -x)
    x = -r * np.sin(np.radians(pa))
    y = r * np.cos(np.radians(pa))
    x_new, y_new = rotate_to_major_axis([x], [y], pa)
    np.testing.assert_allclose([x_new[0], y_new[0]], [r, 0.0], atol=1e-9 * r)
    # and a point at PA + 90 onto +y (a proper rotation, no flip)
    x2, y2 = rotate_to_major_axis([-r * np.cos(np.radians(pa))], [-r * np.sin(np.radians(pa))], pa)
    np.testing.assert_allclose([x2[0], y2[0]], [0.0, r], atol=1e-9 * r)


def test_rotation_bad_input():
    with pytest.raises(ValueError, match="pa_deg must be finite"):
        rotate_to_major_axis([0.0], [0.0], np.nan)
    with pytest.raises(ValueError, match="same shape"):
        rotate_to_major_axis([0.0, 1.0], [0.0], 10.0)


# --------------------------------------------------------------------------------------------
# Text tables
# --------------------------------------------------------------------------------------------

def _table():
    rng = np.random.default_rng(1)
    n = 7
    return (rng.uniform(-10, 10, n), rng.uniform(-10, 10, n), rng.uniform(100, 300, n),
            rng.uniform(1, 10, n), rng.uniform(0.1, 5, n))


def _write_table(path, cols, header="# x y Vrms eVrms flux\n"):
    lines = [" ".join(f"{v:.17g}" for v in row) for row in zip(*cols)]
    path.write_text(header + "\n".join(lines) + "\n")
    return path


def test_read_text_round_trip(tmp_path):
    x, y, vrms, err, flux = _table()
    path = _write_table(tmp_path / "kin.txt", (x, y, vrms, err, flux))
    kin = read_text(path, pa_deg=PA_IDENTITY)
    np.testing.assert_allclose(kin.x, x, atol=1e-12)
    np.testing.assert_allclose(kin.y, y, atol=1e-12)
    np.testing.assert_array_equal(kin.vrms, vrms)
    np.testing.assert_array_equal(kin.vrms_err, err)
    np.testing.assert_array_equal(kin.flux, flux)
    assert kin.mask_dropped == 0


def test_read_text_four_columns_comments_blank_lines_and_rotation(tmp_path):
    path = tmp_path / "kin.txt"
    path.write_text("# header\n\n  -1 0 200 5   # 1 arcsec East\n0 2 150 4\n   \n# end\n")
    kin = read_text(path, pa_deg=90.0)
    assert kin.flux is None and len(kin) == 2
    np.testing.assert_allclose(kin.x, [1.0, 0.0], atol=1e-12)
    np.testing.assert_allclose(np.abs(kin.y), [0.0, 2.0], atol=1e-12)
    np.testing.assert_array_equal(kin.vrms, [200.0, 150.0])


def test_read_text_drops_bad_bins_with_warning(tmp_path, caplog):
    x, y, vrms, err, flux = _table()
    vrms[1] = np.nan
    err[3] = -2.0
    err[4] = 0.0
    err[5] = np.nan
    path = _write_table(tmp_path / "kin.txt", (x, y, vrms, err, flux))
    with caplog.at_level(logging.WARNING, logger="fastjam.io"):
        kin = read_text(path, pa_deg=PA_IDENTITY)
    keep = [0, 2, 6]
    assert kin.mask_dropped == 4
    np.testing.assert_array_equal(kin.vrms, vrms[keep])
    np.testing.assert_allclose(kin.x, x[keep], atol=1e-12)
    assert "dropped 4 of 7 bins" in caplog.text
    assert "1 non-finite Vrms" in caplog.text and "3 non-finite or non-positive error" in caplog.text


def test_read_text_all_dropped(tmp_path):
    path = tmp_path / "kin.txt"
    path.write_text("0 0 nan 1\n1 1 100 -1\n")
    with pytest.raises(ValueError, match=r"no valid bin left, all 2 dropped"):
        read_text(path)


@pytest.mark.parametrize("text, match", [
    ("0 0 100 5\n1 1 100\n", r"line 2 has 3 columns, expected 4 or 5 \(x y Vrms eVrms \[flux\]\)"),
    ("# c\n0 0 100 5 1 2\n", r"line 2 has 6 columns, expected 4 or 5"),
    ("0 0 100 5\n1 1 100 5 1\n", r"line 2 has 5 columns but line 1 has 4"),
    ("0 0 abc 5\n", r"line 1: 'abc' is not a number"),
    ("# only comments\n\n", r"has no data line"),
    ("nan 0 100 5\n", r"x has 1 of 1 values that are NaN or inf"),
])
def test_read_text_bad_input(tmp_path, text, match):
    path = tmp_path / "kin.txt"
    path.write_text(text)
    with pytest.raises(ValueError, match=match):
        read_text(path)


def test_read_text_not_utf8_and_missing_file(tmp_path):
    path = tmp_path / "kin.txt"
    path.write_bytes(b"0 0 100 5\n\xff\xfe\n")
    with pytest.raises(ValueError, match=r"kin\.txt' is not UTF-8 text"):
        read_text(path)
    with pytest.raises(FileNotFoundError):
        read_text(tmp_path / "nope.txt")


# --------------------------------------------------------------------------------------------
# FITS images
# --------------------------------------------------------------------------------------------

NY, NX = 6, 8
SCALE = 0.5                 # arcsec per pixel
CRPIX = (4.0, 3.0)          # 1-based: 0-based centre (3, 2)
CRVAL = (150.0, 2.0)


def _wcs(cdelt=(-SCALE, SCALE), pc=None, naxis=2):
    from astropy.wcs import WCS

    wcs = WCS(naxis=naxis)
    wcs.wcs.ctype = ["RA---TAN", "DEC--TAN"] + ["PLANE"] * (naxis - 2)
    wcs.wcs.cdelt = [c / 3600 for c in cdelt] + [1.0] * (naxis - 2)
    wcs.wcs.crpix = list(CRPIX) + [1.0] * (naxis - 2)
    wcs.wcs.crval = list(CRVAL) + [0.0] * (naxis - 2)
    if pc is not None:
        wcs.wcs.pc = pc
    return wcs


def _maps():
    row, col = np.mgrid[0:NY, 0:NX]
    vrms = 100.0 + col + 10.0 * row
    err = 1.0 + 0.1 * col + 0.01 * row
    mask = np.zeros((NY, NX), dtype=np.int16)
    mask[0, 0] = 1
    mask[5, 7] = 4
    vrms[1, 1] = np.nan
    err[2, 5] = 0.0
    return vrms, err, mask, row, col


def _write_image_fits(path, header=None, with_mask=True, flux=None):
    from astropy.io import fits

    vrms, err, mask, _, _ = _maps()
    header = _wcs().to_header() if header is None else header
    hdus = [fits.PrimaryHDU(vrms, header=header), fits.ImageHDU(err, name="ERR")]
    if with_mask:
        hdus.append(fits.ImageHDU(mask, name="MASK"))
    if flux is not None:
        hdus.append(fits.ImageHDU(flux, name="FLUX"))
    fits.HDUList(hdus).writeto(path)
    return path


def _expected_valid():
    vrms, err, mask, row, col = _maps()
    ok = (mask == 0) & np.isfinite(vrms) & (err > 0)
    return ok, vrms, err, row, col


def test_read_fits_positions_values_and_mask(tmp_path, caplog):
    path = _write_image_fits(tmp_path / "img.fits")
    with caplog.at_level(logging.WARNING, logger="fastjam.io"):
        kin = read_fits(path, pa_deg=PA_IDENTITY, mask_ext="MASK")
    ok, vrms, err, row, col = _expected_valid()
    assert len(kin) == ok.sum() == NY * NX - 4
    assert kin.mask_dropped == 4
    np.testing.assert_allclose(kin.x, (col[ok] - 3) * SCALE, atol=1e-9)   # West = +x
    np.testing.assert_allclose(kin.y, (row[ok] - 2) * SCALE, atol=1e-9)   # North = +y
    np.testing.assert_array_equal(kin.vrms, vrms[ok])
    np.testing.assert_array_equal(kin.vrms_err, err[ok])
    assert kin.flux is None
    assert "2 masked" in caplog.text


def test_read_fits_matches_astropy_sky_offsets_for_rotated_flipped_wcs(tmp_path):
    from astropy.io import fits

    theta = np.radians(30.0)
    pc = [[np.cos(theta), -np.sin(theta)], [np.sin(theta), np.cos(theta)]]
    wcs = _wcs(cdelt=(0.4, 0.6), pc=pc)            # East to the right, rotated, non-square
    vrms, err, _, row, col = _maps()
    vrms[1, 1], err[2, 5] = 1.0, 1.0
    path = tmp_path / "rot.fits"
    fits.HDUList([fits.PrimaryHDU(vrms, header=wcs.to_header()), fits.ImageHDU(err)]).writeto(path)
    kin = read_fits(path, pa_deg=PA_IDENTITY)
    ra, dec = wcs.all_pix2world(col.ravel(), row.ravel(), 0)
    x_west = -(ra - CRVAL[0]) * np.cos(np.radians(CRVAL[1])) * 3600
    y_north = (dec - CRVAL[1]) * 3600
    np.testing.assert_allclose(kin.x, x_west, atol=1e-4)
    np.testing.assert_allclose(kin.y, y_north, atol=1e-4)


def test_read_fits_rotation_and_centre_override(tmp_path):
    path = _write_image_fits(tmp_path / "img.fits")
    kin = read_fits(path, pa_deg=90.0, centre=(0, 0))
    ok, vrms, _, row, col = _expected_valid()
    ok |= _maps()[2] != 0                           # no mask_ext: masked pixels are kept
    x_sky, y_sky = col[ok] * SCALE, row[ok] * SCALE
    np.testing.assert_allclose(kin.x, -x_sky, atol=1e-9)   # PA 90: East is +x
    np.testing.assert_allclose(kin.y, -y_sky, atol=1e-9)
    np.testing.assert_array_equal(kin.vrms, vrms[ok])
    assert kin.mask_dropped == 2


def test_read_fits_cube_and_flux(tmp_path):
    from astropy.io import fits

    vrms, err, mask, row, col = _maps()
    flux = 1.0 + row * col
    path = tmp_path / "cube.fits"
    header = _wcs(naxis=3).to_header()
    fits.HDUList([fits.PrimaryHDU(np.stack([vrms, err]), header=header),
                  fits.ImageHDU(mask, name="MASK"), fits.ImageHDU(flux, name="FLUX")]).writeto(path)
    kin = read_fits(path, pa_deg=PA_IDENTITY, err_ext=None, mask_ext="MASK", flux_ext="FLUX")
    ok = _expected_valid()[0]
    np.testing.assert_allclose(kin.x, (col[ok] - 3) * SCALE, atol=1e-9)
    np.testing.assert_array_equal(kin.vrms_err, err[ok])
    np.testing.assert_array_equal(kin.flux, flux[ok])


def test_read_fits_missing_extension_and_wcs(tmp_path):
    from astropy.io import fits

    path = _write_image_fits(tmp_path / "img.fits")
    with pytest.raises(ValueError, match=r"has no extension 'BADMASK' \(it has 'PRIMARY', 'ERR', 'MASK'\)"):
        read_fits(path, mask_ext="BADMASK")
    with pytest.raises(ValueError, match=r"has no extension 5"):
        read_fits(path, err_ext=5)
    no_wcs = _write_image_fits(tmp_path / "nowcs.fits", header=fits.Header())
    with pytest.raises(ValueError, match=r"no celestial WCS"):
        read_fits(no_wcs)
    header = _wcs().to_header()
    del header["CRPIX1"]
    no_crpix = _write_image_fits(tmp_path / "nocrpix.fits", header=header)
    with pytest.raises(ValueError, match=r"no CRPIX1/CRPIX2"):
        read_fits(no_crpix)
    assert len(read_fits(no_crpix, centre=(3, 2))) == NY * NX - 2


def test_read_fits_bad_input(tmp_path):
    from astropy.io import fits

    path = _write_image_fits(tmp_path / "img.fits")
    with pytest.raises(ValueError, match=r"expected a cube \(2, ny, nx\)"):
        read_fits(path, err_ext=None)
    with pytest.raises(ValueError, match=r"centre must be a pair"):
        read_fits(path, centre=(1, 2, 3))
    bad_shape = tmp_path / "shape.fits"
    fits.HDUList([fits.PrimaryHDU(np.ones((NY, NX)), header=_wcs().to_header()),
                  fits.ImageHDU(np.ones((NY, NX + 1)))]).writeto(bad_shape)
    with pytest.raises(ValueError, match=r"V_RMS error image has shape \(6, 9\), expected \(6, 8\)"):
        read_fits(bad_shape)
    all_masked = tmp_path / "masked.fits"
    fits.HDUList([fits.PrimaryHDU(np.ones((NY, NX)), header=_wcs().to_header()),
                  fits.ImageHDU(np.ones((NY, NX))), fits.ImageHDU(np.ones((NY, NX)), name="M")]
                 ).writeto(all_masked)
    with pytest.raises(ValueError, match=r"no valid bin left, all 48 dropped \(48 masked\)"):
        read_fits(all_masked, mask_ext="M")
    not_fits = tmp_path / "kin.txt"
    not_fits.write_text("0 0 100 5\n")
    with pytest.raises(ValueError, match=r"kin\.txt'.*cannot open it as FITS"):
        read_fits(not_fits)
    with pytest.raises(FileNotFoundError):
        read_fits(tmp_path / "nope.fits")


@pytest.mark.filterwarnings("ignore")
@pytest.mark.parametrize("key, card, match", [
    ("EXTNAME ", "EXTNAME = 'ERR", r"cannot read it as FITS \(VerifyError: Unparsable card \(EXTNAME\)"),
    ("CTYPE1  ", "CTYPE1  = 'RA---XXX'", r"cannot parse the WCS \(InconsistentAxisTypesError: .*XXX"),
    ("CDELT1  ", "CDELT1  = 0.0", r"cannot parse the WCS \(SingularMatrixError"),
])
def test_read_fits_corrupt_header_is_one_line_value_error(tmp_path, key, card, match):
    data = _write_image_fits(tmp_path / "img.fits").read_bytes()
    start = data.find(key.encode())
    path = tmp_path / "bad.fits"
    path.write_bytes(data[:start] + card.ljust(80).encode() + data[start + 80:])
    with pytest.raises(InputFileError, match=r"bad\.fits'.*" + match) as info:
        read_fits(path)
    assert isinstance(info.value, ValueError) and "\n" not in str(info.value)


# --------------------------------------------------------------------------------------------
# MaNGA DAP MAPS
# --------------------------------------------------------------------------------------------

VSYS = 1000.0

#: Per bin: V, sigma, sigmacorr, V ivar, sigma ivar, V mask, sigma mask, East offset, North offset
MANGA_BINS = {
    0: (1050.0, 120.0, 20.0, 0.04, 0.01, 0, 0, 1.0, 0.5),
    1: (970.0, 200.0, 30.0, 0.25, 0.04, 0, 0, -2.0, 1.5),
    2: (1000.0, 150.0, 25.0, 0.01, 0.02, 0, 0, 0.0, -1.0),
    3: (5000.0, 150.0, 25.0, 0.01, 0.02, 1, 0, 3.0, 3.0),      # velocity masked
    4: (5000.0, 150.0, 25.0, 0.01, 0.00, 0, 0, -3.0, 3.0),     # sigma ivar = 0
    5: (1000.0, 10.0, 30.0, 0.01, 0.02, 0, 0, 3.0, -3.0),      # V^2 + sigma^2 - sigmacorr^2 <= 0
    6: (1080.0, 100.0, 10.0, 0.09, 0.16, 0, 0, -1.0, -2.0),
    7: (940.0, 90.0, 15.0, 0.01, 0.01, 0, 0, 2.5, 0.0),
    8: (5000.0, 150.0, 25.0, 0.01, 0.02, 0, 1, -2.5, 0.0),     # sigma masked
}
KEPT = [0, 1, 2, 6, 7]
#: Spaxels of each bin (row, col) on a 5x5 grid; the others have BINID = -1
MANGA_SPAXELS = {0: [(0, 0), (0, 1), (1, 0)], 1: [(0, 3), (0, 4)], 2: [(2, 2)], 3: [(4, 4)],
                 4: [(4, 0), (3, 0)], 5: [(1, 4)], 6: [(3, 3), (3, 4), (4, 3)], 7: [(2, 0)],
                 8: [(1, 2)]}


#: Primary header of the mock MAPS files (a DR17 hybrid-binned file; ECOOPA = 270 keeps the sky axes).
MANGA_HEADER = dict(DAPTYPE="HYB10-MILESHC-MASTARHC2", DAPQUAL=0, ECOOPA=270.0, ECOOELL=0.3, REFF=5.5,
                    GFWHM=2.6, RFWHM=2.5)


def _write_manga(path, drop=(), dr17=True, with_flux=True, header=None, snr=None):
    from astropy.io import fits

    shape = (5, 5)
    planes = {k: np.zeros(shape) for k in ("vel", "sig", "corr", "vivar", "sivar", "vmask", "smask")}
    coo = np.full((2,) + shape, 99.0)
    binid = np.full((5,) + shape, -1, dtype=np.int32)
    binid[0] = 77                                   # plane 0 must be ignored
    flux = np.arange(25.0).reshape(shape) + 1.0
    for b, spaxels in MANGA_SPAXELS.items():
        vel, sig, corr, vivar, sivar, vmask, smask, east, north = MANGA_BINS[b]
        for rc in spaxels:
            for key, value in zip(planes, (vel, sig, corr, vivar, sivar, vmask, smask)):
                planes[key][rc] = value
            coo[(0,) + rc], coo[(1,) + rc] = east, north
            binid[(1,) + rc] = b
    # unbinned spaxels carry junk the reader must ignore
    planes["vel"][binid[1] < 0] = -9999.0
    corr = np.stack([planes["corr"], np.full(shape, 1e4)]) if dr17 else planes["corr"]
    hdus = {"STELLAR_VEL": planes["vel"], "STELLAR_VEL_IVAR": planes["vivar"],
            "STELLAR_VEL_MASK": planes["vmask"].astype(np.int32), "STELLAR_SIGMA": planes["sig"],
            "STELLAR_SIGMA_IVAR": planes["sivar"],
            "STELLAR_SIGMA_MASK": planes["smask"].astype(np.int32), "STELLAR_SIGMACORR": corr,
            "BIN_LWSKYCOO": coo, "BINID": binid}
    if with_flux:
        hdus["SPX_MFLUX"] = flux
    if snr is not None:
        hdus["BIN_SNR"] = np.full(shape, float(snr))
    primary = fits.PrimaryHDU()
    for key, value in {**MANGA_HEADER, **(header or {})}.items():
        if value is not None:
            primary.header[key] = value
    hdul = [primary] + [fits.ImageHDU(d, name=n) for n, d in hdus.items() if n not in drop]
    fits.HDUList(hdul).writeto(path)
    return path, flux


def _manga_expected(vsys=VSYS):
    vel, sig, corr, vivar, sivar = (np.array([MANGA_BINS[b][i] for b in KEPT]) for i in range(5))
    v = vel - vsys
    vrms = np.sqrt(v**2 + sig**2 - corr**2)
    err = np.sqrt((v / np.sqrt(vivar)) ** 2 + (sig / np.sqrt(sivar)) ** 2) / vrms
    east = np.array([MANGA_BINS[b][7] for b in KEPT])
    north = np.array([MANGA_BINS[b][8] for b in KEPT])
    return vrms, err, east, north


def test_read_manga_values_errors_unique_bins_and_drops(tmp_path, caplog):
    path, flux = _write_manga(tmp_path / "maps.fits")
    with caplog.at_level(logging.INFO, logger="fastjam.io"):
        kin = read_manga_maps(path, pa_deg=PA_IDENTITY)
    vrms, err, east, north = _manga_expected()
    assert len(kin) == len(KEPT)                     # one entry per bin, not per spaxel
    np.testing.assert_allclose(kin.vrms, vrms, rtol=1e-12)
    np.testing.assert_allclose(kin.vrms_err, err, rtol=1e-12)
    np.testing.assert_allclose(kin.x, -east, atol=1e-12)   # DAP +x is East; ours is West
    np.testing.assert_allclose(kin.y, north, atol=1e-12)
    mean_flux = [np.mean([flux[rc] for rc in MANGA_SPAXELS[b]]) for b in KEPT]
    np.testing.assert_allclose(kin.flux, mean_flux)
    assert kin.mask_dropped == 4                     # bins 3, 4, 5, 8; BINID = -1 not counted
    assert "3 masked or IVAR <= 0" in caplog.text and "1 corrected V_RMS^2 <= 0" in caplog.text
    assert "systemic velocity 1000.00 km/s" in caplog.text


def test_read_manga_rotation_vsys_dr15_and_no_flux(tmp_path):
    path, _ = _write_manga(tmp_path / "maps.fits", dr17=False, with_flux=False)
    kin = read_manga_maps(path, pa_deg=90.0, vsys=1010.0)
    vrms, err, east, north = _manga_expected(vsys=1010.0)
    np.testing.assert_allclose(kin.vrms, vrms, rtol=1e-12)
    np.testing.assert_allclose(kin.vrms_err, err, rtol=1e-12)
    np.testing.assert_allclose(kin.x, east, atol=1e-12)      # PA 90: the major axis points East
    np.testing.assert_allclose(kin.y, -north, atol=1e-12)
    assert kin.flux is None


def test_read_manga_missing_extension(tmp_path):
    path, _ = _write_manga(tmp_path / "maps.fits", drop=("STELLAR_SIGMACORR", "BINID"))
    with pytest.raises(ValueError, match=r"lacks extension\(s\) STELLAR_SIGMACORR, BINID"):
        read_manga_maps(path)


def test_read_manga_bad_input(tmp_path):
    from astropy.io import fits

    path, _ = _write_manga(tmp_path / "maps.fits")
    with fits.open(path) as hdul:
        hdul["STELLAR_VEL_MASK"].data[:] = 1
        hdul.writeto(tmp_path / "masked.fits")
        hdul["BINID"].data[1] = -1
        hdul.writeto(tmp_path / "nobins.fits")
        hdul["BINID"].data = hdul["BINID"].data[:, :4]
        hdul.writeto(tmp_path / "shape.fits")
    with pytest.raises(ValueError, match=r"no valid bin left, all 9 dropped"):
        read_manga_maps(tmp_path / "masked.fits")
    with pytest.raises(ValueError, match=r"no spaxel has a stellar-continuum bin"):
        read_manga_maps(tmp_path / "nobins.fits")
    with pytest.raises(ValueError, match=r"BINID has shape \(4, 5\), expected \(5, 5\)"):
        read_manga_maps(tmp_path / "shape.fits")
    with pytest.raises(ValueError, match=r"vsys must be finite"):
        read_manga_maps(path, vsys=np.nan)


# --------------------------------------------------------------------------------------------
# Fuzz: bad files raise ValueError, never another exception type
# --------------------------------------------------------------------------------------------

FUZZ = settings(max_examples=40, deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture])


def _assert_valid_or_value_error(reader, path, **kw):
    try:
        kin = reader(path, **kw)
    except ValueError as exc:
        assert str(exc)
        return
    assert isinstance(kin, Kinematics) and len(kin) >= 1
    assert np.all(np.isfinite(kin.x)) and np.all(kin.vrms_err > 0)


_numberish = st.one_of(st.floats(allow_nan=True, allow_infinity=True).map(repr),
                       st.sampled_from(["#", "x", "-", "1e999", "nan", ""]))


@FUZZ
@given(data=st.one_of(st.binary(max_size=300),
                      st.text(max_size=300).map(lambda s: s.encode("utf-8", "surrogatepass")),
                      st.lists(st.lists(_numberish, max_size=6).map(" ".join), max_size=8)
                      .map(lambda rows: "\n".join(rows).encode("utf-8"))))
def test_fuzz_read_text(tmp_path, data):
    path = tmp_path / "fuzz.txt"
    path.write_bytes(data)
    _assert_valid_or_value_error(read_text, path)


@FUZZ
@pytest.mark.filterwarnings("ignore")
@given(data=st.one_of(st.binary(max_size=300),
                      st.text(max_size=300).map(lambda s: s.encode("utf-8", "surrogatepass"))))
def test_fuzz_read_fits_random_bytes(tmp_path, data):
    path = tmp_path / "fuzz.fits"
    path.write_bytes(data)
    _assert_valid_or_value_error(read_fits, path)


@pytest.fixture(scope="module")
def fits_bytes(tmp_path_factory):
    path = _write_image_fits(tmp_path_factory.mktemp("fits") / "img.fits")
    return path.read_bytes()


@FUZZ
@pytest.mark.filterwarnings("ignore")
@given(edits=st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 255)), max_size=8),
       cut=st.one_of(st.none(), st.integers(0, 10**6)))
def test_fuzz_read_fits_corrupted_file(tmp_path, fits_bytes, edits, cut):
    data = bytearray(fits_bytes)
    for pos, value in edits:
        data[pos % len(data)] = value
    if cut is not None:
        data = data[:cut % len(data)]
    path = tmp_path / "fuzz.fits"
    path.write_bytes(bytes(data))
    _assert_valid_or_value_error(read_fits, path, mask_ext="MASK")


# --------------------------------------------------------------------------------------------
# MaNGA header: position angle, DAPTYPE, DAPQUAL, BIN_SNR, galaxy defaults; the V_RMS^2 drop rule
# --------------------------------------------------------------------------------------------

def test_read_manga_defaults_pa_to_ecoopa_and_reports_header(tmp_path, caplog):
    from fastjam.io import manga_galaxy_defaults

    path, _ = _write_manga(tmp_path / "maps.fits", header={"ECOOPA": 90.0})
    with caplog.at_level(logging.INFO, logger="fastjam.io"):
        kin = read_manga_maps(path)
    east = np.array([MANGA_BINS[b][7] for b in KEPT])
    np.testing.assert_allclose(kin.x, east, atol=1e-12)        # PA = 90: East is +x (major axis)
    assert "position angle 90.0 deg from the header's ECOOPA" in caplog.text
    assert kin.meta["PA_USED"] == 90.0
    assert manga_galaxy_defaults(kin.meta) == dict(r_e=5.5, q_obs=0.7, fwhm_psf=2.5)
    no_pa, _ = _write_manga(tmp_path / "nopa.fits", header={"ECOOPA": None})
    with pytest.raises(ValueError, match="no valid ECOOPA: set \\[galaxy\\] pa"):
        read_manga_maps(no_pa)
    assert len(read_manga_maps(no_pa, pa_deg=10.0)) == len(KEPT)


@pytest.mark.parametrize("header, snr, message", [
    ({"DAPTYPE": "SPX-MILESHC-MASTARHC2"}, None, "is per-spaxel"),
    ({"DAPQUAL": 2**30 + 1}, None, "CRITICAL bit (30)"),
    ({}, 5.0, "have BIN_SNR < 10"),
])
def test_read_manga_header_warnings(tmp_path, caplog, header, snr, message):
    path, _ = _write_manga(tmp_path / "maps.fits", header=header, snr=snr)
    with caplog.at_level(logging.WARNING, logger="fastjam.io"):
        read_manga_maps(path)
    assert message in caplog.text


def test_read_manga_clean_header_is_quiet(tmp_path, caplog):
    path, _ = _write_manga(tmp_path / "maps.fits", snr=30.0)
    with caplog.at_level(logging.WARNING, logger="fastjam.io"):
        read_manga_maps(path)
    assert "per-spaxel" not in caplog.text and "CRITICAL" not in caplog.text and "BIN_SNR" not in caplog.text


def test_read_manga_keeps_low_sigma_bins_with_positive_vrms2(tmp_path):
    """sigma < sigma_corr is no reason to drop a bin whose V^2 makes V_RMS^2 positive."""
    from astropy.io import fits

    path, _ = _write_manga(tmp_path / "maps.fits")
    with fits.open(path) as hdul:
        hdul["STELLAR_VEL"].data[1, 4] = 1200.0          # bin 5: V - Vsys = 200, sigma 10 < sigmacorr 30
        hdul.writeto(tmp_path / "low_sigma.fits")
    kin = read_manga_maps(tmp_path / "low_sigma.fits", pa_deg=PA_IDENTITY, vsys=VSYS)
    assert len(kin) == len(KEPT) + 1
    assert np.isclose(kin.vrms[KEPT.index(2) + 1], np.sqrt(200.0**2 + 10.0**2 - 30.0**2))

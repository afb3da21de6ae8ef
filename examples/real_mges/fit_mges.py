"""Fit MGEs to the three galaxy images that mgefit ships, as mgefit's own example does.

    python examples/real_mges/fit_mges.py          # writes m32_mge.txt, ngc4342_mge.txt, ngc5831_mge.txt

Every Gaussian shares the galaxy's position angle (``mge_fit_sectors``; for NGC 5831, whose
isophotes twist, the twist is ignored as the emulator and JAM's axisymmetric models need).
Settings (sky, PSF, pixel scale, Gaussians) follow mgefit's ``examples/mge_fit_example.py``.
The columns written are the peak surface brightness in counts/arcsec^2 of the reference image
(no photometric zero point is applied: the absolute calibration only rescales L_tot, which
M/L absorbs), sigma in arcsec and q_obs.
"""
from importlib import resources
from pathlib import Path

import numpy as np
from astropy.io import fits

HERE = Path(__file__).resolve().parent


def _dist_circle(xc, yc, shape):
    y, x = np.indices(shape)
    return np.hypot(x - xc, y - yc)


def _save(name, sol, scale, note):
    """Write total counts, sigma [pix], q of ``mge_fit_sectors`` as surf [counts/arcsec^2], sigma ["], q."""
    total, sigma_pix, q = sol
    sigma = sigma_pix * scale
    surf = total / (2 * np.pi * q * sigma**2)
    header = f"{note}\nsurf [counts/arcsec^2]  sigma [arcsec]  q_obs"
    np.savetxt(HERE / f"{name}_mge.txt", np.column_stack([surf, sigma, q]), fmt="%.6e", header=header)


def fit_m32():
    """HST/WFPC2 F814W PC1 (0.0455"/pix) and ground-based I band (0.549"/pix) fitted together."""
    import mgefit as mge

    d = resources.files("mgefit") / "images"
    scale1, scale2 = 0.0455, 0.549
    ratio, flux_ratio, eps = scale1 / scale2, 0.9885, 0.2
    img1 = fits.getdata(d / "m32_f814w_pc.fits") + 20.39
    s1 = mge.sectors_photometry(img1, eps, 165.4, 377, 314, minlevel=0, plot=0)
    img2 = fits.getdata(d / "m32_i.fits")
    sky, skysig = mge.sky_level(img2, plot=False)
    img2 = img2 - sky
    s2 = mge.sectors_photometry(img2, eps, 22.9, 376, 184, minlevel=skysig / 2, plot=0,
                                mask=_dist_circle(216, 542, img2.shape) > 30)
    s2.radius /= ratio
    s2.counts *= flux_ratio
    w = s2.radius > 3 / scale1
    m = mge.fit_sectors(np.append(s1.radius, s2.radius[w]), np.append(s1.angle, s2.angle[w]),
                        np.append(s1.counts, s2.counts[w]), eps, ngauss=11, sigmapsf=0.8, scale=scale1, plot=0,
                        linear=0, quiet=1)
    _save("m32", m.sol, scale1, "M32: mgefit images m32_f814w_pc.fits + m32_i.fits, mge_fit_sectors, ngauss=11")


def fit_ngc4342():
    """HST/WFPC2 F814W PC1 image, four-Gaussian PSF."""
    import mgefit as mge

    img = fits.getdata(resources.files("mgefit") / "images" / "ngc4342_f814w_pc.fits") - 0.55
    scale = 0.0455
    f = mge.find_galaxy(img, fraction=0.04, plot=0, quiet=1)
    s = mge.sectors_photometry(img, f.eps, f.theta, f.xpeak, f.ypeak, minlevel=0.5, plot=0)
    m = mge.fit_sectors(s.radius, s.angle, s.counts, f.eps, ngauss=12, sigmapsf=[0.494, 1.44, 4.71, 13.4],
                        normpsf=[0.294, 0.559, 0.0813, 0.0657], scale=scale, plot=0, linear=0, quiet=1)
    _save("ngc4342", m.sol, scale, "NGC 4342: mgefit image ngc4342_f814w_pc.fits, mge_fit_sectors, ngauss=12")


def fit_ngc5831():
    """HST/WFPC2 F702W mosaic (0.1"/pix); one position angle for all Gaussians."""
    import mgefit as mge

    img = fits.getdata(resources.files("mgefit") / "images" / "ngc5831_f702w_mosaic.fits")
    scale = 0.1
    mask = (img > 0) & (_dist_circle(1408.1, 357.7, img.shape) > 200)
    sky, skysig = mge.sky_level(img[mask], plot=False)
    img = img - sky
    f = mge.find_galaxy(np.where(mask, img, 0), fraction=0.1, plot=0, quiet=1)
    s = mge.sectors_photometry(img, f.eps, f.theta, f.xpeak, f.ypeak, minlevel=skysig / 2, plot=0, mask=mask)
    m = mge.fit_sectors(s.radius, s.angle, s.counts, f.eps, ngauss=11, sigmapsf=0.4, scale=scale, plot=0,
                        linear=0, quiet=1)
    _save("ngc5831", m.sol, scale, "NGC 5831: mgefit image ngc5831_f702w_mosaic.fits, mge_fit_sectors "
          "(common position angle), ngauss=11")


if __name__ == "__main__":
    for fit in (fit_m32, fit_ngc4342, fit_ngc5831):
        fit()

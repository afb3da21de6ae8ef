"""Make the M32 example: jampy mock kinematics of an M32-like galaxy described by a real MGE.

    python examples/m32/make_m32.py      # writes mge.txt, vrms_bins.txt, galaxy.toml here

The photometry is the I-band MGE of M32 of Cappellari et al. (2006, MNRAS 366, 1126,
table B1; the MGE jampy's mock-kinematics examples use), at jampy's example distance and
with its observing set-up (2" spaxels, PSF FWHM 4"). The kinematics are computed here by
jampy (self-consistent, fastjam's JAM settings) at known parameters on rings of bins
(:func:`fastjam.mock.bin_centres`) with 2.5-5% errors and Gaussian noise from a fixed seed
(:func:`fastjam.mock.error_fraction`); no jampy data file is copied.
"""
from pathlib import Path

import numpy as np

from fastjam.galaxy import Galaxy
from fastjam.jam import JAMModel
from fastjam.mock import bin_centres, error_fraction
from fastjam.photometry import check_domain, unit_photometry
from fastjam.physics.mge import MGE

HERE = Path(__file__).resolve().parent
LOG_SURF = [6.187, 5.774, 5.766, 5.613, 5.311, 4.774, 4.359, 4.087, 3.682, 3.316, 2.744, 1.618]  # Lsun/pc^2
LOG_SIGMA = [-1.762, -1.143, -0.839, -0.438, -0.104, 0.232, 0.560, 0.835, 1.160, 1.414, 1.703, 2.249]  # arcsec
QOBS = [0.790, 0.741, 0.786, 0.757, 0.720, 0.724, 0.725, 0.743, 0.751, 0.838, 0.835, 0.720]
DISTANCE, SIGMA_PSF, PIXSIZE = 0.7, 4 / 2.355, 2.0  # Mpc, arcsec, arcsec
TRUTH = dict(inclination=70.0, beta_z=0.05, ml=1.8)
SEED = 32

CONFIG = """# M32-like jampy mock on the MGE of Cappellari et al. (2006) (examples/m32/make_m32.py).
[galaxy]
mge = "mge.txt"      # surf [Lsun/pc^2], sigma [arcsec], q_obs
distance = {distance}
sigma_psf = {sigma_psf:.4f}   # arcsec (FWHM 4")
pixsize = {pixsize}
# no pa: x, y in the table are already along the major and minor axes

[data]
path = "vrms_bins.txt"
format = "text"

[forward]
model = "emulator"   # the general-photometry emulator (data/emulator_mge) ...

[refine]
enabled = true       # ... then the exact JAM posterior (fastjam fit --refine)

[priors]
ml = [0.5, 10.0]
ml_prior = "log-uniform"
inclination = "isotropic"

[sampler]
backend = "emcee"
seed = 42
walkers = 32
steps = 2000

[truth]
inclination = {inclination}
beta_z = {beta_z}
ml = {ml}
"""


def main():
    mge = MGE(10 ** np.array(LOG_SURF), 10 ** np.array(LOG_SIGMA), np.array(QOBS))
    unit = unit_photometry(mge, DISTANCE)
    check_domain(unit, TRUTH["inclination"], TRUTH["beta_z"], SIGMA_PSF / unit.r_e, PIXSIZE / unit.r_e)
    np.savetxt(HERE / "mge.txt", np.column_stack([mge.surf, mge.sigma, mge.qobs]), fmt="%.6e",
               header="M32, I band, Cappellari et al. (2006) table B1\nsurf [Lsun/pc^2]  sigma [arcsec]  q_obs")
    x, y = bin_centres(unit.r_e, seed=1)
    galaxy = Galaxy(mge, DISTANCE, SIGMA_PSF, PIXSIZE)
    model = JAMModel().vrms(galaxy, TRUTH["inclination"], TRUTH["beta_z"], TRUTH["ml"], x, y)[0]
    err = error_fraction(x, y, unit.r_e) * model
    vrms = model + np.random.default_rng(SEED).normal(0, err)
    np.savetxt(HERE / "vrms_bins.txt", np.column_stack([x, y, vrms, err]), fmt="%10.4f",
               header=f"M32-like jampy mock (examples/m32/make_m32.py), truth {TRUTH}, noise seed {SEED}.\n"
                      "x[arcsec] y[arcsec] Vrms[km/s] eVrms[km/s]; x along the major axis")
    (HERE / "galaxy.toml").write_text(CONFIG.format(distance=DISTANCE, sigma_psf=SIGMA_PSF, pixsize=PIXSIZE, **TRUTH))


if __name__ == "__main__":
    main()

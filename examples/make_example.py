"""Make the bundled example galaxy: a mock V_RMS map computed by jampy at known parameters.

    python examples/make_example.py --out examples/example_galaxy

A Sérsic galaxy (n = 3.5, R_e = 8 arcsec, q_obs = 0.65, L = 3e10 Lsun at 25 Mpc) observed
with a 0.8 arcsec Gaussian PSF sigma and 0.8 arcsec spaxels, binned into ~230 bins whose size
grows with radius (as adaptive Voronoi binning does), with errors of 2.5-5 per cent growing
outwards and Gaussian noise from a fixed seed. The true parameters are i = 65 deg,
beta_z = 0.15 and M/L = 4 (written to the config's [truth] table).
"""
import argparse
from pathlib import Path

import numpy as np

from fastjam.galaxy import Galaxy, Sersic
from fastjam.jam import JAMModel

TRUTH = dict(inclination=65.0, beta_z=0.15, ml=4.0)
GALAXY = dict(sersic_n=3.5, r_e=8.0, q_obs=0.65, l_tot=3e10, distance=25.0, sigma_psf=0.8, pixsize=0.8)


def bin_centres(half_x=18.0, half_y=13.0, seed=1):
    """Bin centroids (arcsec): rings in log radius, more bins per ring outwards, jittered."""
    rng = np.random.default_rng(seed)
    xs, ys = [np.array([0.0])], [np.array([0.0])]
    radii = np.geomspace(0.9, 22.0, 17)
    for r in radii:
        n_ring = int(np.clip(2 * np.pi * r / (0.9 + 0.22 * r), 6, 24))
        phase = rng.uniform(0, 2 * np.pi)
        ang = phase + 2 * np.pi * np.arange(n_ring) / n_ring
        xs.append(r * np.cos(ang) + rng.normal(0, 0.05 * r, n_ring))
        ys.append(r * np.sin(ang) + rng.normal(0, 0.05 * r, n_ring))
    x, y = np.concatenate(xs), np.concatenate(ys)
    keep = (np.abs(x) <= half_x) & (np.abs(y) <= half_y)
    return x[keep], y[keep]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(Path(__file__).parent / "example_galaxy"))
    parser.add_argument("--seed", type=int, default=2026)
    args = parser.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    g = GALAXY
    galaxy = Galaxy(Sersic(g["sersic_n"], g["r_e"], g["q_obs"], g["l_tot"]), g["distance"], g["sigma_psf"],
                    g["pixsize"])
    x, y = bin_centres()
    model = JAMModel().vrms(galaxy, TRUTH["inclination"], TRUTH["beta_z"], TRUTH["ml"], x, y)[0]
    rng = np.random.default_rng(args.seed)
    frac = 0.025 + 0.025 * np.clip(np.hypot(x, y) / (2 * g["r_e"]), 0, 1)
    err = frac * model
    vrms = model + rng.normal(0, err)
    np.savetxt(out / "vrms_bins.txt", np.column_stack([x, y, vrms, err]), fmt="%10.4f",
               header=f"mock made by jampy (examples/make_example.py --seed {args.seed})\n"
                      "x[arcsec] y[arcsec] Vrms[km/s] eVrms[km/s]; x along the major axis")
    config = f'''# Example galaxy: a jampy mock at known parameters (examples/make_example.py).
[galaxy]
sersic_n = {g["sersic_n"]}
r_e = {g["r_e"]}          # arcsec
q_obs = {g["q_obs"]}
l_tot = {g["l_tot"]:.6g}     # Lsun
distance = {g["distance"]}    # Mpc
sigma_psf = {g["sigma_psf"]}     # arcsec
pixsize = {g["pixsize"]}       # arcsec
# no pa: x, y in the table are already along the major and minor axes

[data]
path = "vrms_bins.txt"
format = "text"

[priors]
ml = [0.5, 20.0]
ml_prior = "log-uniform"
inclination = "isotropic"

[sampler]
backend = "numpyro"
seed = 42
walkers = 32
steps = 3000
chains = 4
warmup = 1000
samples = 1000

[truth]
inclination = {TRUTH["inclination"]}
beta_z = {TRUTH["beta_z"]}
ml = {TRUTH["ml"]}
'''
    (out / "galaxy.toml").write_text(config)
    print(f"{x.size} bins written to {out / 'vrms_bins.txt'}; config {out / 'galaxy.toml'}")


if __name__ == "__main__":
    main()

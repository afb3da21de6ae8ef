"""Mock V_RMS data made by jampy at known parameters: bins, noise, and the fit configuration.

A mock is what an IFU pipeline would deliver for a Sérsic galaxy whose true (inclination,
beta_z, M/L) are known: bin centroids on rings in log radius whose size grows outwards (as
adaptive Voronoi binning gives), jampy's V_RMS at each centroid, fractional errors that grow
with radius, and Gaussian noise from a fixed seed. Mocks are used by the bundled example,
the emulator-versus-JAM comparisons and the coverage test.
"""
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .atomic import atomic_path, write_text
from .galaxy import Galaxy, Sersic
from .validation import check_positive, check_range

#: Keys of the ``[galaxy]`` table a mock needs (lengths in arcsec, L in Lsun, D in Mpc).
GALAXY_KEYS = ("sersic_n", "r_e", "q_obs", "l_tot", "distance", "sigma_psf", "pixsize")


def bin_centres(r_e, seed=1, half_x=2.25, half_y=1.625, n_rings=17, r_min=0.1125, r_max=2.75):
    """Bin centroids on jittered rings in log radius, more bins per ring outwards.

    Ring k at radius :math:`\\rho_k` (in R_e) holds
    :math:`{\\rm clip}(2\\pi\\rho_k / (0.1125 + 0.22\\,\\rho_k), 6, 24)` bins with a random
    phase; each centroid is jittered by 5% of its radius. Centroids outside the
    rectangle ``|x| <= half_x R_e, |y| <= half_y R_e`` (an IFU footprint) are dropped.

    Parameters
    ----------
    r_e : float
        Major-axis effective radius [arcsec]; everything scales with it.
    seed : int
        Seed of the phases and the jitter.
    half_x, half_y : float
        Half-sizes of the footprint along the major and minor axes [R_e].
    n_rings : int
    r_min, r_max : float
        Radii of the first and last ring [R_e].

    Returns
    -------
    x, y : ndarray, shape (p,)
        Positions [arcsec], x along the major axis; the first bin is the centre.
    """
    r_e = float(check_positive("r_e", r_e))
    if int(n_rings) < 1 or not 0 < r_min < r_max:
        raise ValueError(f"need n_rings >= 1 and 0 < r_min < r_max, got {n_rings}, {r_min}, {r_max}")
    rng = np.random.default_rng(seed)
    xs, ys = [np.array([0.0])], [np.array([0.0])]
    for rho in np.geomspace(r_min, r_max, int(n_rings)):
        n_ring = int(np.clip(2 * np.pi * rho / (0.1125 + 0.22 * rho), 6, 24))
        ang = rng.uniform(0, 2 * np.pi) + 2 * np.pi * np.arange(n_ring) / n_ring
        r = rho * r_e
        xs.append(r * np.cos(ang) + rng.normal(0, 0.05 * r, n_ring))
        ys.append(r * np.sin(ang) + rng.normal(0, 0.05 * r, n_ring))
    x, y = np.concatenate(xs), np.concatenate(ys)
    keep = (np.abs(x) <= half_x * r_e) & (np.abs(y) <= half_y * r_e)
    return x[keep], y[keep]


def error_fraction(x, y, r_e, centre=0.025, edge=0.05):
    """Fractional V_RMS error: ``centre`` at the centre growing linearly to ``edge`` at 2 R_e, flat beyond."""
    return centre + (edge - centre) * np.clip(np.hypot(x, y) / (2 * r_e), 0, 1)


@dataclass
class Mock:
    """A mock V_RMS data set.

    Attributes
    ----------
    galaxy : dict
        The ``[galaxy]`` values (:data:`GALAXY_KEYS`).
    truth : dict
        inclination [deg], beta_z, ml [Msun/Lsun].
    x, y : ndarray, shape (p,)
        Bin positions [arcsec].
    vrms, vrms_err : ndarray, shape (p,)
        Noisy V_RMS and its 1-sigma error [km/s].
    model : ndarray, shape (p,)
        Noise-free jampy V_RMS [km/s].
    seed : int
        Seed of the noise.
    """

    galaxy: dict
    truth: dict
    x: np.ndarray = field(repr=False)
    y: np.ndarray = field(repr=False)
    vrms: np.ndarray = field(repr=False)
    vrms_err: np.ndarray = field(repr=False)
    model: np.ndarray = field(repr=False)
    seed: int = 0

    def write(self, out, note="", sampler=None, priors=None):
        """Write ``vrms_bins.txt`` and its fit configuration ``galaxy.toml`` into ``out``."""
        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        header = (f"{note or 'A jampy mock at known parameters (fastjam.mock).'} Noise seed {self.seed}.\n"
                  "x[arcsec] y[arcsec] Vrms[km/s] eVrms[km/s]; x along the major axis")
        with atomic_path(out / "vrms_bins.txt") as tmp:
            np.savetxt(tmp, np.column_stack([self.x, self.y, self.vrms, self.vrms_err]), fmt="%10.4f", header=header)
        write_text(out / "galaxy.toml", config_text(self.galaxy, self.truth, note, sampler, priors))
        return out / "galaxy.toml"


def build_mock_galaxy(galaxy):
    """The :class:`~fastjam.galaxy.Galaxy` of a mock's ``[galaxy]`` dict."""
    missing = [k for k in GALAXY_KEYS if k not in galaxy]
    if missing:
        raise ValueError(f"mock galaxy lacks {', '.join(missing)}")
    g = galaxy
    return Galaxy(Sersic(g["sersic_n"], g["r_e"], g["q_obs"], g["l_tot"]), g["distance"], g["sigma_psf"],
                  g["pixsize"])


def make_mock(galaxy, truth, x=None, y=None, seed=0, bin_seed=1, jam=None, error=(0.025, 0.05)):
    """jampy's V_RMS at ``truth`` at the bins, with Gaussian noise.

    Parameters
    ----------
    galaxy : dict
        ``[galaxy]`` values: sersic_n, r_e [arcsec], q_obs, l_tot [Lsun], distance [Mpc],
        sigma_psf [arcsec], pixsize [arcsec].
    truth : dict
        inclination [deg], beta_z, ml [Msun/Lsun].
    x, y : ndarray, optional
        Bin positions [arcsec] (default: :func:`bin_centres` with ``bin_seed``).
    seed : int
        Seed of the noise.
    bin_seed : int
    jam : ForwardModel, optional
        Default: :class:`fastjam.jam.JAMModel` at the training set's settings.
    error : (float, float)
        Fractional error at the centre and at 2 R_e (:func:`error_fraction`).

    Returns
    -------
    Mock
    """
    from .jam import JAMModel

    gal = build_mock_galaxy(galaxy)
    missing = [k for k in ("inclination", "beta_z", "ml") if k not in truth]
    if missing:
        raise ValueError(f"truth lacks {', '.join(missing)}")
    check_range("fractional error", error, 0.0, 1.0, low_open=True)
    if x is None or y is None:
        x, y = bin_centres(galaxy["r_e"], bin_seed)
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    jam = jam or JAMModel()
    model = jam.vrms(gal, float(truth["inclination"]), float(truth["beta_z"]), float(truth["ml"]), x, y)[0]
    err = error_fraction(x, y, galaxy["r_e"], *error) * model
    vrms = model + np.random.default_rng(seed).normal(0, err)
    return Mock(dict(galaxy), {k: float(truth[k]) for k in ("inclination", "beta_z", "ml")}, x, y, vrms, err,
                model, int(seed))


def config_text(galaxy, truth, note="", sampler=None, priors=None):
    """The TOML fit configuration of a mock (data file ``vrms_bins.txt`` beside it)."""
    g = galaxy
    sampler = dict(dict(backend="numpyro", seed=42, walkers=32, steps=3000, chains=4, warmup=1000, samples=1000),
                   **(sampler or {}))
    priors = dict(dict(ml=[0.5, 20.0], ml_prior="log-uniform", inclination="isotropic"), **(priors or {}))
    lines = [f"# {note}" if note else "# A jampy mock at known parameters (fastjam.mock).", "[galaxy]",
             f"sersic_n = {g['sersic_n']}", f"r_e = {g['r_e']}          # arcsec", f"q_obs = {g['q_obs']}",
             f"l_tot = {g['l_tot']:.6g}     # Lsun", f"distance = {g['distance']}    # Mpc",
             f"sigma_psf = {g['sigma_psf']}     # arcsec", f"pixsize = {g['pixsize']}       # arcsec",
             "# no pa: x, y in the table are already along the major and minor axes", "", "[data]",
             'path = "vrms_bins.txt"', 'format = "text"', "", "[priors]"]
    lines += [f"{k} = {_toml(v)}" for k, v in priors.items()]
    lines += ["", "[sampler]"] + [f"{k} = {_toml(v)}" for k, v in sampler.items()]
    lines += ["", "[truth]"] + [f"{k} = {truth[k]}" for k in ("inclination", "beta_z", "ml")]
    return "\n".join(lines) + "\n"


def _toml(v):
    if isinstance(v, str):
        return f'"{v}"'
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_toml(e) for e in v) + "]"
    return repr(v)


__all__ = ["GALAXY_KEYS", "Mock", "bin_centres", "build_mock_galaxy", "config_text", "error_fraction", "make_mock"]

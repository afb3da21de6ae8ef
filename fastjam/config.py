"""Fit configuration: one TOML file per fit, plus command-line overrides.

Example (all lengths in arcsec, distance in Mpc, luminosity in Lsun)::

    [galaxy]
    sersic_n = 4.0
    r_e = 6.0              # major-axis effective radius
    q_obs = 0.7
    l_tot = 5e10           # or: magnitude = 11.2, m_sun = 4.65, extinction = 0.05
    distance = 20.0
    sigma_psf = 0.6        # or: fwhm_psf = 1.4
    pixsize = 0.8
    pa = 35.0              # position angle of the major axis, deg (N through E); omit when
                           # x, y are already along the major and minor axes
    # mge = "mge.txt"      # instead of the Sérsic keys: columns surf [Lsun/pc^2],
                           # sigma [arcsec], q_obs; fitted with general emulator weights
                           # ([forward] emulator, $FASTJAM_EMULATOR_MGE or data/emulator_mge)
                           # or [forward] model = "jam"

    [data]
    path = "vrms_bins.txt" # relative to this file
    format = "text"        # text | fits | manga
    # vrms_ext = 0, err_ext = 1  (fits: extensions of V_RMS and its error), or
    # cube = true              (fits: vrms_ext holds a (2, ny, nx) cube of V_RMS and error)
    drop_outside_field = false

    [priors]
    ml = [0.5, 15.0]
    ml_prior = "log-uniform"   # or "uniform"
    beta_z_min = -0.2
    inclination = "isotropic"  # or "uniform"

    [likelihood]
    emulator_error = true
    coherent_error = true  # the emulator's per-map coherent error, marginalised (model card)
    systematic = 0.0       # km/s, in quadrature
    clip_sigma = 0.0       # > 0: iterative 3-sigma-like outlier clipping at this threshold

    [sampler]
    backend = "emcee"      # or "numpyro"
    seed = 42
    ess = 1000             # stop when every parameter has bulk ESS >= ess ...
    r_hat = 1.01           # ... and R-hat < r_hat (ess = 0: run to the caps below)
    walkers = 128          # emcee (moved by differential evolution, half of them per batched call)
    steps = 20000          # emcee: maximum steps per walker (burn-in: a third, or `burn`)
    chains = 4             # NUTS
    warmup = 500           # NUTS: adaptation iterations per chain (dense mass matrix)
    samples = 5000         # NUTS: maximum kept iterations per chain

    [forward]
    model = "emulator"     # or "jam" (the exact JAM posterior, fastjam.exact_fit)
    # emulator = "my_emulator/"  # a directory with emulator.npz and emulator.json, Sérsic or
                                 # general (its card says which; default: shipped, by photometry)

    [refine]               # the exact JAM posterior after the emulator's (as fastjam fit --refine)
    enabled = false        # true: the survey refines every galaxy (fastjam fit: same as --refine)
    nrad = 40              # jampy grid of the exact posterior's nodes
    nang = 20
    los_nodes = 0          # 128: fastjam.jampy_los's fixed line-of-sight rule (faster, more exact; 0: jampy's)
    # tol, n_start, max_nodes, n_draws: fastjam.exact_posterior.ExactSettings (docs/exact.md)

    [truth]                # optional, for mocks: drawn on the corner plot
    inclination = 60.0
    beta_z = 0.1
    ml = 3.0
"""
import math
import tomllib
from pathlib import Path

from .validation import check_range

SCHEMA = {
    "galaxy": {"sersic_n": float, "r_e": float, "q_obs": float, "l_tot": float, "magnitude": float, "m_sun": float,
               "extinction": float, "distance": float, "sigma_psf": float, "fwhm_psf": float, "pixsize": float,
               "pa": float, "mge": str},
    "data": {"path": str, "format": str, "drop_outside_field": bool, "vrms_ext": (int, str), "err_ext": (int, str),
             "cube": bool},
    "priors": {"ml": list, "ml_prior": str, "beta_z_min": float, "inclination": str, "q_intr_min": float},
    "likelihood": {"emulator_error": bool, "coherent_error": bool, "systematic": float, "clip_sigma": float},
    "sampler": {"backend": str, "seed": int, "ess": float, "r_hat": float, "walkers": int, "steps": int, "burn": int,
                "chains": int, "warmup": int, "samples": int},
    "forward": {"model": str, "emulator": str},
    "refine": {"enabled": bool, "nrad": int, "nang": int, "los_nodes": int, "tol": float, "n_start": int,
               "max_nodes": int, "n_draws": int},
    "truth": {"inclination": float, "beta_z": float, "ml": float},
}
REQUIRED = {"galaxy": ("distance", "pixsize"), "data": ("path",)}
#: Photometry: either these Sérsic keys (with l_tot or magnitude) or ``mge``, a file of Gaussians.
SERSIC_KEYS = ("sersic_n", "r_e", "q_obs")
#: ``[galaxy]`` keys a MaNGA MAPS header can supply (REFF, 1 - ECOOELL, RFWHM): optional for format "manga".
MANGA_HEADER_DEFAULTS = ("r_e", "q_obs", "fwhm_psf")
CHOICES = {("data", "format"): ("text", "fits", "manga"), ("priors", "ml_prior"): ("log-uniform", "uniform"),
           ("priors", "inclination"): ("isotropic", "uniform"), ("sampler", "backend"): ("emcee", "numpyro"),
           ("forward", "model"): ("emulator", "jam")}
#: Bounds of numeric values: (low, high, low_open); None = unbounded. Every float must be finite.
BOUNDS = {
    ("galaxy", "sersic_n"): (0, None, True), ("galaxy", "r_e"): (0, None, True), ("galaxy", "q_obs"): (0, 1, True),
    ("galaxy", "l_tot"): (0, None, True), ("galaxy", "distance"): (0, None, True),
    ("galaxy", "sigma_psf"): (0, None, True), ("galaxy", "fwhm_psf"): (0, None, True),
    ("galaxy", "pixsize"): (0, None, True), ("galaxy", "extinction"): (0, None, False),
    ("galaxy", "pa"): (-360, 360, False), ("priors", "beta_z_min"): (-1, None, False),
    ("priors", "q_intr_min"): (0.05, 1, False), ("likelihood", "systematic"): (0, None, False),
    ("likelihood", "clip_sigma"): (0, None, False), ("sampler", "seed"): (0, 2**32 - 1, False),
    ("sampler", "walkers"): (6, 100000, False), ("sampler", "steps"): (2, 10**8, False),
    ("sampler", "burn"): (0, 10**8, False), ("sampler", "chains"): (1, 1000, False),
    ("sampler", "warmup"): (0, 10**8, False), ("sampler", "samples"): (1, 10**8, False),
    ("sampler", "ess"): (0, None, False), ("sampler", "r_hat"): (1, None, True),
    ("truth", "inclination"): (0, 90, False), ("truth", "ml"): (0, None, True),
    ("refine", "nrad"): (5, 10**4, False), ("refine", "nang"): (3, 10**4, False), ("refine", "tol"): (0, 1, True),
    ("refine", "los_nodes"): (0, 10**4, False),
    ("refine", "n_start"): (3, 10**4, False), ("refine", "max_nodes"): (3, 10**4, False),
    ("refine", "n_draws"): (100, 10**8, False),
}

DEFAULTS = {
    "galaxy": {"pa": None, "extinction": 0.0},
    "data": {"format": "text", "drop_outside_field": False},
    "priors": {"ml": [0.1, 20.0], "ml_prior": "log-uniform", "beta_z_min": -0.2, "inclination": "isotropic",
               "q_intr_min": 0.05},
    "likelihood": {"emulator_error": True, "coherent_error": True, "systematic": 0.0, "clip_sigma": 0.0},
    "sampler": {"backend": "emcee", "seed": 0, "ess": 1000.0, "r_hat": 1.01, "walkers": 128, "steps": 20000,
                "chains": 4, "warmup": 500, "samples": 5000},
    "forward": {"model": "emulator"},
    "refine": {"enabled": False, "nrad": 40, "nang": 20, "los_nodes": 0},
    "truth": {},
}


def load_config(path, overrides=None):
    """Read and validate a fit configuration.

    Parameters
    ----------
    path : str or Path
        TOML file. ``data.path`` is resolved relative to it.
    overrides : dict, optional
        ``{"section.key": value}`` pairs (from the command line) applied before validation.

    Returns
    -------
    dict
        Sections with defaults filled in.

    Raises
    ------
    ValueError
        Unreadable TOML, unknown section or key, wrong type, missing required value, bad choice.
    """
    path = Path(path)
    raw = read_toml(path)
    for dotted, value in (overrides or {}).items():
        section, _, key = dotted.partition(".")
        if not key:
            raise ValueError(f"override {dotted!r} must be of the form section.key")
        raw.setdefault(section, {})[key] = value
    return validate_config(raw, base=path.parent)


def read_toml(path, what="config file"):
    """The tables of a TOML file; ``ValueError`` naming ``what`` and the path if missing or invalid."""
    try:
        return tomllib.loads(Path(path).read_text())
    except FileNotFoundError:
        raise ValueError(f"{what} {path} does not exist") from None
    except OSError as exc:  # a directory, no permission
        raise ValueError(f"{what} {path} cannot be read ({exc.strerror or exc})") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ValueError(f"{what} {path} is not valid TOML: {exc}") from None


def validate_config(raw, base=Path(".")):
    """Validate a configuration dict (see :func:`load_config`)."""
    if not isinstance(raw, dict):
        raise ValueError("the configuration must be a table of sections")
    out = {}
    for section, table in raw.items():
        if section not in SCHEMA:
            raise ValueError(f"unknown config section [{section}]; known: {', '.join(SCHEMA)}")
        if not isinstance(table, dict):
            raise ValueError(f"config section [{section}] must be a table")
        for key, value in table.items():
            if key not in SCHEMA[section]:
                raise ValueError(f"unknown key {key!r} in [{section}]; known: {', '.join(SCHEMA[section])}")
            out.setdefault(section, {})[key] = _coerce(section, key, value)
    for section, keys in REQUIRED.items():
        for key in keys:
            if key not in out.get(section, {}):
                raise ValueError(f"missing required value {key!r} in [{section}]")
    for section, table in DEFAULTS.items():
        out[section] = {**table, **out.get(section, {})}
    for (section, key), allowed in CHOICES.items():
        if key in out[section] and out[section][key] not in allowed:
            raise ValueError(f"[{section}] {key} = {out[section][key]!r}: choose one of {', '.join(allowed)}")
    g = out["galaxy"]
    if "mge" in g:
        clash = [k for k in SERSIC_KEYS + ("l_tot", "magnitude", "m_sun") if k in g]
        if clash:
            raise ValueError(f"[galaxy] mge replaces the Sérsic photometry: remove {', '.join(clash)}")
        g["mge"] = str((Path(base) / g["mge"]).resolve())
    else:
        header_keys = MANGA_HEADER_DEFAULTS if out["data"]["format"] == "manga" else ()
        for key in SERSIC_KEYS:
            if key not in g and key not in header_keys:
                raise ValueError(f"missing required value {key!r} in [galaxy] (or give an mge file)")
        if ("l_tot" in g) == ("magnitude" in g):
            raise ValueError("[galaxy] needs exactly one of l_tot (Lsun) or magnitude (with m_sun)")
        if "magnitude" in g and "m_sun" not in g:
            raise ValueError("[galaxy] magnitude needs m_sun, the Sun's absolute magnitude in the same band")
    if "sigma_psf" in g and "fwhm_psf" in g or not ("sigma_psf" in g or "fwhm_psf" in g
                                                       or out["data"]["format"] == "manga"):
        raise ValueError("[galaxy] needs exactly one of sigma_psf or fwhm_psf (arcsec)")
    for (section, key), bounds in BOUNDS.items():
        if out[section].get(key) is not None:
            _check_bounds(section, key, out[section][key], *bounds)
    ml = out["priors"]["ml"]
    if len(ml) != 2 or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in ml):
        raise ValueError(f"[priors] ml must be [min, max], got {ml!r}")
    if not (math.isfinite(ml[0]) and math.isfinite(ml[1]) and 0 < ml[0] < ml[1]):
        raise ValueError(f"[priors] ml = {ml!r} must be finite with 0 < min < max")
    out["priors"]["ml"] = [float(v) for v in ml]
    s = out["sampler"]
    if "burn" in s and s["burn"] >= s["steps"]:
        raise ValueError(f"[sampler] burn = {s['burn']} must be smaller than steps = {s['steps']}")
    out["data"]["path"] = str((Path(base) / out["data"]["path"]).resolve())
    if "emulator" in out["forward"]:
        out["forward"]["emulator"] = str((Path(base) / out["forward"]["emulator"]).resolve())
    return out


def with_header_defaults(cfg, defaults, source):
    """The configuration with ``[galaxy]`` values the data file offers where it gives none.

    Parameters
    ----------
    cfg : dict
        Validated configuration.
    defaults : dict
        ``[galaxy]`` key -> value (e.g. :func:`fastjam.io.manga_galaxy_defaults`).
    source : str
        Where the values come from, for the log.

    Raises
    ------
    ValueError
        A required value is neither configured nor offered.
    """
    import logging

    g = dict(cfg["galaxy"])
    for key, value in defaults.items():
        if key in g or key == "fwhm_psf" and "sigma_psf" in g:
            continue
        g[key] = value
        logging.getLogger(__name__).info("[galaxy] %s = %g from %s (set it in the configuration to override)",
                                         key, value, source)
    for key in MANGA_HEADER_DEFAULTS:
        if key not in g and not (key == "fwhm_psf" and "sigma_psf" in g) and "mge" not in g:
            raise ValueError(f"[galaxy] {key} is not set and {source} does not give it: set it in the configuration")
    for key in ("r_e", "q_obs", "fwhm_psf"):
        if key in g:
            _check_bounds("galaxy", key, g[key], *BOUNDS["galaxy", key])
    return {**cfg, "galaxy": g}


def _check_bounds(section, key, value, low, high, low_open):
    check_range(f"[{section}] {key}", value, -math.inf if low is None else low, math.inf if high is None else high,
                low_open=low_open)


def _coerce(section, key, value):
    kind = SCHEMA[section][key]
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if isinstance(kind, tuple):
        ok = isinstance(value, kind)
    else:
        ok = isinstance(value, kind) and not (kind in (int, float) and isinstance(value, bool))
    if not ok:
        name = kind.__name__ if not isinstance(kind, tuple) else " or ".join(k.__name__ for k in kind)
        raise ValueError(f"[{section}] {key} must be a {name}, got {value!r}")
    return value

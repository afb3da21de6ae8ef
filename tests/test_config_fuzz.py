"""Fuzz the fit configuration: any malformed file or value gets a ValueError that names the
problem, never a traceback from deep inside tomllib, numpy, jax or the samplers; whatever
is accepted builds a valid galaxy, priors and sampler."""
import copy
import math
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fastjam.config import SCHEMA, load_config, validate_config

FUZZ = settings(max_examples=150, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])

VALID = {
    "galaxy": {"sersic_n": 3.5, "r_e": 8.0, "q_obs": 0.65, "l_tot": 3e10, "distance": 25.0, "sigma_psf": 0.8,
               "pixsize": 0.8},
    "data": {"path": "vrms_bins.txt"},
    "priors": {"ml": [0.5, 20.0], "ml_prior": "log-uniform", "inclination": "isotropic"},
    "sampler": {"backend": "emcee", "seed": 1, "walkers": 16, "steps": 100, "chains": 2, "warmup": 10,
                "samples": 10},
    "truth": {"inclination": 65.0, "beta_z": 0.15, "ml": 4.0},
}

toml_values = st.one_of(
    st.integers(-10**20, 10**20), st.floats(allow_nan=True, allow_infinity=True), st.booleans(),
    st.text(max_size=12), st.sampled_from(["emcee", "numpyro", "text", "fits", "uniform", "isotropic"]),
    st.lists(st.one_of(st.floats(allow_nan=True), st.integers(-5, 5), st.text(max_size=3)), max_size=3),
    st.dictionaries(st.text(max_size=4), st.integers(), max_size=2))
sections = st.sampled_from(sorted(SCHEMA) + ["galaxy2", ""])
DELETE = object()


@st.composite
def mutation(draw):
    section = draw(sections)
    keys = sorted(SCHEMA.get(section, {})) + ["unknown_key"]
    key = draw(st.sampled_from(keys))
    value = draw(st.one_of(toml_values, st.just(DELETE)))
    return section, key, value


def _apply(raw, section, key, value):
    if value is DELETE:
        raw.get(section, {}).pop(key, None)
    else:
        table = raw.setdefault(section, {})
        if isinstance(table, dict):
            table[key] = value


def _accepted_config_is_usable(cfg):
    """What validate_config accepts must build a galaxy, priors and sampler, or fail with ValueError."""
    from fastjam.fit import build_galaxy
    from fastjam.model import Priors
    from fastjam.samplers import get_sampler

    for table in cfg.values():
        for value in table.values():
            if isinstance(value, float):
                assert math.isfinite(value)
    try:
        galaxy = build_galaxy(cfg)
        pr = cfg["priors"]
        Priors(galaxy.q_obs, tuple(pr["ml"]), pr["ml_prior"] == "log-uniform", pr["beta_z_min"], pr["q_intr_min"],
               pr["inclination"] == "isotropic")
    except ValueError as exc:
        assert str(exc)
        return
    s = cfg["sampler"]
    if s["backend"] == "emcee":
        get_sampler("emcee", walkers=s["walkers"], steps=s["steps"], burn=s.get("burn"), seed=s["seed"])
    else:
        get_sampler("numpyro", chains=s["chains"], warmup=s["warmup"], samples=s["samples"], seed=s["seed"])


@FUZZ
@given(mutations=st.lists(mutation(), min_size=1, max_size=4))
def test_fuzz_config_values(mutations):
    raw = copy.deepcopy(VALID)
    for m in mutations:
        _apply(raw, *m)
    try:
        cfg = validate_config(raw, base=Path("."))
    except ValueError as exc:
        assert str(exc)
        return
    _accepted_config_is_usable(cfg)


@FUZZ
@given(text=st.one_of(st.text(max_size=300),
                      st.lists(st.sampled_from(["[galaxy]", "[data]", "[sampler]", "r_e = ", "q_obs = 2",
                                                "path = 'x'", "= =", "nan", "inf", "[[galaxy]]", "'", '"""',
                                                "sersic_n = -1", "walkers = 0", "seed = -3", "ml = [3, 1]"]),
                               max_size=12).map("\n".join)))
def test_fuzz_config_text(text):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "galaxy.toml"
        path.write_text(text, encoding="utf-8", errors="surrogatepass")
        try:
            cfg = load_config(path)
        except ValueError as exc:
            assert str(exc)
            return
    _accepted_config_is_usable(cfg)


@pytest.mark.parametrize("section, key, value, match", [
    ("galaxy", "r_e", -8.0, r"r_e = -8 is outside the allowed range \(0, inf\]"),
    ("galaxy", "q_obs", 1.5, r"q_obs = 1.5 is outside"),
    ("galaxy", "distance", float("nan"), "distance must be finite"),
    ("sampler", "walkers", 2, "walkers = 2 is outside"),
    ("sampler", "seed", -1, "seed = -1 is outside"),
    ("sampler", "burn", 100, "burn = 100 must be smaller than steps"),
    ("priors", "ml", [3.0, 1.0], "0 < min < max"),
    ("priors", "ml", [0.5, float("inf")], "must be finite"),
])
def test_config_values_out_of_range(section, key, value, match):
    raw = copy.deepcopy(VALID)
    raw[section][key] = value
    with pytest.raises(ValueError, match=match):
        validate_config(raw)

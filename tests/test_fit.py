"""Configuration, fit plumbing, determinism, and parameter recovery from a jampy mock."""
import json
from pathlib import Path

import numpy as np
import pytest

from fastjam.config import load_config, validate_config

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "example_galaxy" / "galaxy.toml"


def _write(tmp_path, text, name="galaxy.toml"):
    path = tmp_path / name
    path.write_text(text)
    return path


BASE = """
[galaxy]
sersic_n = 3.5
r_e = 8.0
q_obs = 0.65
l_tot = 3e10
distance = 25.0
sigma_psf = 0.8
pixsize = 0.8
[data]
path = "{data}"
"""


@pytest.mark.parametrize("extra, match", [
    ("[galaxy2]\nx = 1\n", "unknown config section"),
    ("[sampler]\nwalkerz = 3\n", "unknown key 'walkerz'"),
    ("[sampler]\nbackend = 'hmc'\n", "choose one of"),
    ("[sampler]\nwalkers = 'many'\n", "must be a int"),
    ("[priors]\nml = [1.0]\n", r"ml must be \[min, max\]"),
    ("[galaxy]\n", "not valid TOML"),
])
def test_config_errors_name_the_problem(tmp_path, extra, match):
    path = _write(tmp_path, BASE.format(data=EXAMPLE.parent / "vrms_bins.txt") + extra)
    with pytest.raises(ValueError, match=match):
        load_config(path)


def test_config_missing_required_and_defaults(tmp_path):
    with pytest.raises(ValueError, match="missing required value 'pixsize'"):
        validate_config({"galaxy": {"sersic_n": 3.0, "r_e": 1.0, "q_obs": 0.5, "distance": 1.0, "l_tot": 1.0,
                                    "sigma_psf": 1.0}, "data": {"path": "x"}})
    with pytest.raises(ValueError, match="l_tot"):
        validate_config({"galaxy": {"sersic_n": 3.0, "r_e": 1.0, "q_obs": 0.5, "distance": 1.0, "sigma_psf": 1.0,
                                    "pixsize": 1.0}, "data": {"path": "x"}})
    cfg = load_config(_write(tmp_path, BASE.format(data="bins.txt")), {"sampler.steps": 10})
    assert cfg["sampler"]["steps"] == 10 and cfg["sampler"]["walkers"] == 128
    assert cfg["data"]["path"] == str((tmp_path / "bins.txt").resolve())
    assert cfg["galaxy"]["pa"] is None


def test_fit_plumbing_and_outputs(random_emulator, tmp_path):
    import arviz as az
    import matplotlib
    import matplotlib.pyplot as plt

    from fastjam.fit import fit

    cfg = load_config(EXAMPLE, {"sampler.steps": 300, "sampler.walkers": 16})
    res = fit(cfg, backend="emcee", emulator=random_emulator, progress=False)
    assert set(res.summary) == {"inclination", "beta_z", "ml", "q_intr", "log10_mass"}
    for s in res.summary.values():
        assert s["p16"] <= s["median"] <= s["p84"]
    # the user's matplotlib backend (here svg, not the tests' Agg) is left alone, and no
    # figure is left open in pyplot
    before = matplotlib.get_backend()
    matplotlib.use("svg")
    try:
        res.save(tmp_path / "out")
        assert matplotlib.get_backend() == "svg" and plt.get_fignums() == []
    finally:
        matplotlib.use(before)
    for name in ("summary.txt", "summary.json", "posterior.nc", "best_model.txt", "corner.png", "maps.png",
                 "trace.png"):
        assert (tmp_path / "out" / name).stat().st_size > 0
    idata = az.from_netcdf(str(tmp_path / "out" / "posterior.nc"))
    assert idata.posterior["ml"].shape == (16, 200)
    assert json.loads((tmp_path / "out" / "summary.json").read_text())["truth"]["ml"] == 4.0
    assert not list((tmp_path / "out").glob("*.tmp*"))


def test_same_seed_same_samples(random_emulator):
    from fastjam.fit import fit

    cfg = load_config(EXAMPLE, {"sampler.steps": 100, "sampler.walkers": 8, "sampler.seed": 3})
    a = fit(cfg, backend="emcee", emulator=random_emulator, progress=False)
    b = fit(cfg, backend="emcee", emulator=random_emulator, progress=False)
    np.testing.assert_array_equal(a.idata.posterior["ml"], b.idata.posterior["ml"])
    cfg = load_config(EXAMPLE, {"sampler.warmup": 50, "sampler.samples": 50, "sampler.chains": 2})
    a = fit(cfg, backend="numpyro", emulator=random_emulator, progress=False)
    b = fit(cfg, backend="numpyro", emulator=random_emulator, progress=False)
    np.testing.assert_array_equal(a.idata.posterior["inclination"], b.idata.posterior["inclination"])


def test_data_beyond_field_is_an_error_unless_dropped(random_emulator, tmp_path):
    from fastjam.fit import build_problem

    bins = np.loadtxt(EXAMPLE.parent / "vrms_bins.txt")
    bins = np.vstack([bins, [30.0, 0.0, 200.0, 5.0]])  # 30 arcsec > 2.5 R_e = 20 arcsec
    np.savetxt(tmp_path / "bins.txt", bins)
    path = _write(tmp_path, BASE.format(data="bins.txt"))
    with pytest.raises(ValueError, match="beyond the emulated field"):
        build_problem(load_config(path), emulator=random_emulator)
    problem = build_problem(load_config(path, {"data.drop_outside_field": True}), emulator=random_emulator)
    assert problem.x.size == bins.shape[0] - 1


def test_outside_emulator_domain_is_an_error(random_emulator, tmp_path):
    from fastjam.fit import build_problem

    path = _write(tmp_path, BASE.format(data=EXAMPLE.parent / "vrms_bins.txt").replace("sersic_n = 3.5",
                                                                                      "sersic_n = 9.5"))
    with pytest.raises(ValueError, match="training domain"):
        build_problem(load_config(path), emulator=random_emulator)


@pytest.mark.slow
def test_recovery_of_a_jampy_mock_with_both_backends():
    """The example galaxy is a jampy mock at known parameters (examples/make_example.py)."""
    from fastjam.emulator.store import default_path
    from fastjam.fit import fit

    if not (default_path() / "emulator.json").exists():
        pytest.skip("no shipped emulator")
    cfg = load_config(EXAMPLE)
    truth = cfg["truth"]
    results = {b: fit(cfg, backend=b, progress=False) for b in ("emcee", "numpyro")}
    for name in ("inclination", "beta_z", "ml"):
        sig = {b: 0.5 * (r.summary[name]["p84"] - r.summary[name]["p16"]) for b, r in results.items()}
        med = {b: r.summary[name]["median"] for b, r in results.items()}
        for b in results:
            assert abs(med[b] - truth[name]) < 2 * sig[b], (b, name, med[b], sig[b], truth[name])
        assert abs(med["emcee"] - med["numpyro"]) < 0.3 * min(sig.values()), (name, med, sig)


def _outputs_readable(out):
    import arviz as az

    json.loads((out / "summary.json").read_text())
    assert "median" in (out / "summary.txt").read_text()
    assert az.from_netcdf(str(out / "posterior.nc")).posterior["ml"].size > 0
    assert np.loadtxt(out / "best_model.txt").shape[1] == 5


def test_killed_fit_leaves_the_earlier_outputs_intact(tmp_path, kill_after=6.0):
    """A finished fit's outputs survive a second run into the same directory that is killed
    (SIGKILL) part-way, before or during its save: every file still parses, and a rerun
    completes."""
    import signal
    import subprocess
    import sys
    import time

    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "fastjam.cli", "fit", str(EXAMPLE), "--backend", "emcee", "--out", str(out),
           "--set", "sampler.steps=200", "--set", "sampler.walkers=8"]
    subprocess.run(cmd, check=True, capture_output=True, timeout=600)
    _outputs_readable(out)
    proc = subprocess.Popen(cmd + ["--set", "sampler.seed=7", "--overwrite"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(kill_after)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=60)
    _outputs_readable(out)
    subprocess.run(cmd + ["--overwrite"], check=True, capture_output=True, timeout=600)
    _outputs_readable(out)
    assert not (out / "checkpoint").exists() and not (out / "SAVING").exists()


def test_mge_galaxy_goes_with_jam_only(tmp_path, random_emulator):
    """An MGE file equal to the example's Sérsic MGE gives the same JAM log-density as the
    Sérsic galaxy; with Sérsic emulator weights it is an error naming the general emulator and
    --forward jam (tests/test_general_wiring.py fits an MGE with general weights); bad MGE files
    are named."""
    from fastjam.fit import build_galaxy, build_problem

    cfg = load_config(EXAMPLE)
    mge = build_galaxy(cfg).mge
    np.savetxt(tmp_path / "mge.txt", np.column_stack([mge.surf, mge.sigma, mge.qobs]),
               header="surf[Lsun/pc2] sigma[arcsec] q_obs")
    text = EXAMPLE.read_text().replace('path = "vrms_bins.txt"', f'path = "{EXAMPLE.parent / "vrms_bins.txt"}"')
    for key in ("sersic_n", "r_e", "q_obs", "l_tot"):
        text = "\n".join(line for line in text.splitlines() if not line.startswith(key))
    text = text.replace("[galaxy]", '[galaxy]\nmge = "mge.txt"')
    path = _write(tmp_path, text)
    with pytest.raises(ValueError, match="Sérsic photometry only"):
        build_problem(load_config(path), emulator=random_emulator)
    mge_problem = build_problem(load_config(path, {"forward.model": "jam"}))
    sersic_problem = build_problem(cfg, forward="jam")
    theta = sersic_problem.priors.inverse(65.0, 0.15, 4.0)
    assert np.isfinite(sersic_problem.log_density(theta))
    assert mge_problem.log_density(theta) == pytest.approx(sersic_problem.log_density(theta), rel=1e-10)
    with pytest.raises(ValueError, match="mge replaces the Sérsic photometry: remove sersic_n"):
        load_config(path, {"galaxy.sersic_n": 3.0})
    (tmp_path / "mge.txt").write_text("1 2\n3 4\n")
    with pytest.raises(ValueError, match="3 columns"):
        build_galaxy(load_config(path))
    (tmp_path / "mge.txt").write_text("1 2 x\n")
    with pytest.raises(ValueError, match="not a table of numbers"):
        build_galaxy(load_config(path))
    (tmp_path / "mge.txt").unlink()
    with pytest.raises(ValueError, match="does not exist"):
        build_galaxy(load_config(path))


def test_a_fit_imports_no_torch(tmp_path):
    """The command-line fit with the shipped emulator (pure JAX) never imports torch."""
    import subprocess
    import sys

    from fastjam.emulator.store import default_path

    if not (default_path() / "emulator.json").exists():
        pytest.skip("no shipped emulator")
    code = ("import sys\nfrom fastjam.cli import main\n"
            f"main(['fit', {str(EXAMPLE)!r}, '--backend', 'emcee', '--no-progress', '--set', 'sampler.steps=100', "
            "'--set', 'sampler.walkers=8'])\n"
            "assert 'torch' not in sys.modules, 'torch was imported'\nprint('no torch')\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "no torch" in out.stdout


def test_config_emulator_path_is_used(random_emulator, tmp_path):
    """[forward] emulator = "path" loads that emulator (a missing one is named)."""
    import jax

    from fastjam.fit import build_problem

    path = tmp_path / "galaxy.toml"
    text = EXAMPLE.read_text().replace('path = "vrms_bins.txt"', f'path = "{EXAMPLE.parent / "vrms_bins.txt"}"')
    path.write_text(text + '\n[forward]\nemulator = "no_such_emulator"\n')
    with pytest.raises(ValueError, match="no emulator in .*no_such_emulator"):
        build_problem(load_config(path))
    path.write_text(text + f'\n[forward]\nemulator = "{random_emulator.path}"\n')
    problem = build_problem(load_config(path))
    expect = jax.jit(random_emulator.bind(problem.galaxy, problem.x, problem.y))(70.0, 0.1, 2.0)
    np.testing.assert_allclose(problem.posterior.vrms(70.0, 0.1, 2.0), np.asarray(expect), rtol=1e-6)
    shipped = build_problem(load_config(EXAMPLE))
    assert not np.allclose(shipped.posterior.vrms(70.0, 0.1, 2.0), problem.posterior.vrms(70.0, 0.1, 2.0))


def _fit_subset(tmp_path, emulator, rows, backend, name):
    """A short padded fit of the example galaxy on ``rows`` of its data table."""
    from fastjam.emulator.jax_model import BUCKETS
    from fastjam.fit import fit

    lines = (ROOT / "examples/example_galaxy/vrms_bins.txt").read_text().splitlines()
    data = [line for line in lines if not line.startswith("#")]
    (tmp_path / name).write_text("\n".join([line for line in lines if line.startswith("#")] + data[:rows]) + "\n")
    cfg = load_config(EXAMPLE, {"data.path": str(tmp_path / name), "sampler.steps": 60, "sampler.walkers": 8,
                                "sampler.warmup": 20, "sampler.samples": 20, "sampler.chains": 2,
                                "sampler.ess": 0})
    return fit(cfg, backend=backend, emulator=emulator, progress=False, buckets=BUCKETS)


@pytest.mark.parametrize("backend", ["emcee", pytest.param("numpyro", marks=pytest.mark.slow)])
def test_padded_galaxies_of_one_bucket_compile_once(random_emulator, tmp_path, backend):
    """The second galaxy of a bucket (another number of bins) traces and compiles nothing: MAP,
    sampler, predictive check and best model all reuse the first galaxy's compiled functions."""
    from fastjam.compilation import compilations

    first = _fit_subset(tmp_path, random_emulator, 150, backend, "a.txt")
    before = compilations()
    second = _fit_subset(tmp_path, random_emulator, 140, backend, "b.txt")
    assert compilations() == before
    assert first.timings["compilation"] > 0 and second.timings["compilation"] == 0
    assert (first.problem.x.size, second.problem.x.size) == (150, 140)
    assert second.best_model().shape == (140,) and second.problem.posterior.n_bins == 140
    assert np.isfinite(second.checks.goodness.chi2_per_dof)


def test_the_command_line_quietens_dask_unless_verbose(monkeypatch, capsys):
    """distributed sets its loggers from dask's configuration when first imported (a fit's --refine, a survey):
    without --verbose the command line asks it for errors only, with it leaves it be."""
    import os

    from fastjam.cli import main

    monkeypatch.delenv("DASK_LOGGING__DISTRIBUTED", raising=False)
    assert main(["--verbose"]) == 0 and "DASK_LOGGING__DISTRIBUTED" not in os.environ
    assert main([]) == 0 and os.environ["DASK_LOGGING__DISTRIBUTED"] == "error"
    capsys.readouterr()

"""Interrupted fits resume from their checkpoint and give the posterior of an uninterrupted run;
the output directory is guarded against mixing runs."""
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from fastjam import rundir

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "example_galaxy" / "galaxy.toml"
MEAN = np.array([1.0, 2.0, 3.0])


def _gaussian(theta):
    import jax.numpy as jnp

    return -0.5 * jnp.sum((theta - jnp.asarray(MEAN)) ** 2 / jnp.asarray([1.0, 4.0, 0.25]))


def test_numpyro_checkpointed_run_equals_one_run_and_resumes_exactly(tmp_path, monkeypatch):
    """A checkpointed NUTS run = the same run without checkpoints, bit for bit; interrupted after its
    first checkpoint (in the warm-up) or its third (in the sampling) and resumed = uninterrupted."""
    import fastjam.samplers.numpyro_backend as nb
    from fastjam.samplers import Target
    from fastjam.samplers.numpyro_backend import NumPyroSampler

    kw = dict(chains=2, warmup=60, samples=90, check_every=30, seed=3, progress=False, target=Target(0))
    plain = NumPyroSampler(**kw).run(_gaussian, np.zeros(3))
    checkpointed = NumPyroSampler(checkpoint=tmp_path / "a.pkl", **kw).run(_gaussian, np.zeros(3))
    assert np.array_equal(plain.theta, checkpointed.theta)
    save = nb.save_checkpoint
    for k, stop_after in enumerate((1, 3)):
        saves = []

        def interrupt(path, state):
            save(path, state)
            saves.append(path)
            if len(saves) == stop_after:
                raise KeyboardInterrupt

        monkeypatch.setattr(nb, "save_checkpoint", interrupt)
        with pytest.raises(KeyboardInterrupt):
            NumPyroSampler(checkpoint=tmp_path / f"b{k}.pkl", **kw).run(_gaussian, np.zeros(3))
        monkeypatch.setattr(nb, "save_checkpoint", save)
        resumed = NumPyroSampler(checkpoint=tmp_path / f"b{k}.pkl", **kw).run(_gaussian, np.zeros(3))
        assert np.array_equal(resumed.theta, plain.theta)
        assert np.array_equal(resumed.log_density, plain.log_density)


def test_emcee_resumes_exactly_from_its_hdf_checkpoint(tmp_path):
    """Ctrl-C inside the log-density part-way; the resumed chain equals the uninterrupted one."""
    from fastjam.samplers.emcee_backend import EmceeSampler

    calls = {"n": 0, "limit": None}

    def log_prob(theta):
        calls["n"] += 1
        if calls["limit"] is not None and calls["n"] > calls["limit"]:
            raise KeyboardInterrupt
        return -0.5 * float(np.sum((theta - MEAN) ** 2))

    kw = dict(walkers=8, steps=200, vectorize=False, seed=5, progress=False, checkpoint_every=10)
    plain = EmceeSampler(**kw).run(log_prob, np.zeros(3))
    calls.update(n=0, limit=8 * 90 + 3)
    with pytest.raises(KeyboardInterrupt):
        EmceeSampler(checkpoint=tmp_path / "c.pkl", **kw).run(log_prob, np.zeros(3))
    calls["limit"] = None
    resumed = EmceeSampler(checkpoint=tmp_path / "c.pkl", **kw).run(log_prob, np.zeros(3))
    assert np.array_equal(resumed.theta, plain.theta)
    with pytest.raises(ValueError, match="walkers"):
        EmceeSampler(checkpoint=tmp_path / "c.pkl", **dict(kw, walkers=10)).run(log_prob, np.zeros(3))


def test_fit_directory_guard(tmp_path):
    out = tmp_path / "out"
    rundir.prepare_fit_dir(out)
    (out / "summary.json").write_text("{}")
    with pytest.raises(ValueError, match="holds an earlier fit: pass --overwrite"):
        rundir.prepare_fit_dir(out)
    with pytest.raises(ValueError, match="nothing to resume"):
        rundir.prepare_fit_dir(out, resume=True)
    rundir.prepare_fit_dir(out, overwrite=True)
    assert (out / "summary.json").exists()          # kept until the new save replaces it
    rundir.checkpoint_path(out, "emcee", {"config": 1})
    with pytest.raises(ValueError, match="interrupted fit"):
        rundir.prepare_fit_dir(out)
    rundir.prepare_fit_dir(out, resume=True)
    with pytest.raises(ValueError, match="different run"):
        rundir.checkpoint_path(out, "emcee", {"config": 2}, resume=True)
    with pytest.raises(ValueError, match="is a file"):
        rundir.prepare_fit_dir(out / "summary.json")
    with pytest.raises(ValueError, match="exclude each other"):
        rundir.prepare_fit_dir(out, overwrite=True, resume=True)


def test_killed_save_leaves_a_marker(tmp_path):
    with pytest.raises(RuntimeError):
        with rundir.saving(tmp_path):
            raise RuntimeError("killed")
    assert (tmp_path / rundir.SAVING).exists()
    with pytest.raises(ValueError, match="half-saved"):
        rundir.prepare_fit_dir(tmp_path)


def _cli(backend):
    opts = {"emcee": ["--set", "sampler.steps=1500", "--set", "sampler.walkers=16"],
            "numpyro": ["--set", "sampler.warmup=100", "--set", "sampler.samples=3000", "--set", "sampler.chains=2"]}
    return [sys.executable, "-m", "fastjam.cli", "fit", str(EXAMPLE), "--backend", backend, *opts[backend],
            "--no-progress", "--out"]


@pytest.mark.slow
@pytest.mark.parametrize("backend, sig", [("emcee", signal.SIGKILL), ("emcee", signal.SIGINT),
                                          ("numpyro", signal.SIGKILL), ("numpyro", signal.SIGINT)])
def test_cli_fit_killed_then_resumed_equals_uninterrupted(tmp_path, backend, sig):
    """``fastjam fit`` killed (kill -9) or interrupted (Ctrl-C) after its first checkpoint, then
    ``--resume``: posterior.nc equals that of an uninterrupted run with the same seed. (Runs long
    enough to be still sampling a second after the first checkpoint.)"""
    import arviz as az

    out, ref = tmp_path / "out", tmp_path / "ref"
    cmd = _cli(backend)
    proc = subprocess.Popen(cmd + [str(out)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    checkpoint = out / "checkpoint" / f"{backend}.pkl"
    while not checkpoint.exists() and proc.poll() is None:
        time.sleep(0.1)
    time.sleep(1.0)
    proc.send_signal(sig)
    stderr = proc.communicate(timeout=120)[1]
    if sig == signal.SIGINT:
        assert "--resume" in stderr and "Traceback" not in stderr
    subprocess.run(cmd + [str(out), "--resume"], check=True, capture_output=True, timeout=900)
    subprocess.run(cmd + [str(ref)], check=True, capture_output=True, timeout=900)
    a, b = az.from_netcdf(out / "posterior.nc"), az.from_netcdf(ref / "posterior.nc")
    for name in ("inclination", "beta_z", "ml"):
        assert np.array_equal(a.posterior[name].values, b.posterior[name].values)
    assert not (out / "checkpoint").exists()

"""Survey: catalog checks, mock writers, a small survey with broken rows, kill and resume, a Dask cluster."""
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from astropy.table import Table

from fastjam import io
from fastjam.catalog import read_catalog, read_settings
from fastjam.jam import JAMSettings
from fastjam.mock_survey import rotate_to_sky, write_manga_maps, write_mock_survey, write_text
from fastjam.survey_table import fitted

ROOT = Path(__file__).resolve().parents[1]
TINY = "[data]\ndrop_outside_field = true\n[sampler]\nbackend = \"emcee\"\nwalkers = 8\nsteps = 40\nseed = 1\n"
ROW = dict(id="g1", sersic_n=3.0, r_e=6.0, q_obs=0.7, l_tot=3e10, distance=20.0, sigma_psf=0.6, pixsize=0.5,
           pa=30.0, kin_path="k.txt", kin_format="text")


def _catalog(tmp_path, rows, name="catalog.csv"):
    path = tmp_path / name
    Table(rows=rows).write(path, format="ascii.csv", overwrite=True)
    return path


def test_catalog_reads_rows_with_overrides(tmp_path):
    rows = [dict(ROW), dict(ROW, id="g2", pa=np.nan, **{"sampler.seed": 7})]
    rows[0]["sampler.seed"] = 3
    cat = read_catalog(_catalog(tmp_path, rows), read_settings(None))
    assert cat.ids == ["g1", "g2"]
    assert cat.configs[0]["galaxy"]["pa"] == 30.0 and cat.configs[1]["galaxy"]["pa"] is None
    assert [c["sampler"]["seed"] for c in cat.configs] == [3, 7]
    assert cat.configs[0]["data"]["path"] == str(tmp_path / "k.txt")


def test_catalog_missing_column_is_named(tmp_path):
    rows = [{k: v for k, v in ROW.items() if k != "distance"}]
    with pytest.raises(ValueError, match="lacks column.*distance"):
        read_catalog(_catalog(tmp_path, rows))


@pytest.mark.parametrize("column, value, message", [
    ("r_e", -2.0, r"row 3 \(id g3\), column 'r_e'.*outside"),
    ("distance", "far", r"row 3 \(id g3\), column 'distance': 'far' is not a number"),
    ("kin_format", "pdf", r"row 3 \(id g3\), column 'kin_format'.*choose one of"),
    ("sigma_psf", "", r"row 3 \(id g3\).*sigma_psf or fwhm_psf"),
])
def test_catalog_bad_value_names_row_and_column(tmp_path, column, value, message):
    rows = [dict(ROW, id=f"g{k}") for k in (1, 2, 3)]
    for r in rows:
        r[column] = str(r[column])
    rows[2][column] = value
    with pytest.raises(ValueError, match=message):
        read_catalog(_catalog(tmp_path, rows))


def test_catalog_rejects_duplicate_ids_and_unknown_settings(tmp_path):
    with pytest.raises(ValueError, match=r"row 2, column 'id': id 'g1' repeats row 1"):
        read_catalog(_catalog(tmp_path, [dict(ROW), dict(ROW)]))
    with pytest.raises(ValueError, match="column 'sampler.step' names no per-row setting"):
        read_catalog(_catalog(tmp_path, [dict(ROW, **{"sampler.step": 5})]))
    settings = tmp_path / "s.toml"
    settings.write_text("[galaxy]\ndistance = 3.0\n")
    with pytest.raises(ValueError, match=r"\[galaxy\] is per galaxy"):
        read_settings(settings)


@pytest.mark.parametrize("pa", [0.0, 37.0, 200.0])
def test_mock_writers_round_trip_through_the_readers(tmp_path, rng, pa):
    x, y = rng.uniform(-6, 6, 40), rng.uniform(-4, 4, 40)
    vrms, err = rng.uniform(100, 250, 40), rng.uniform(2, 8, 40)
    xs, ys = rotate_to_sky(x, y, pa)
    write_text(tmp_path / "k.txt", xs, ys, vrms, err)
    kin = io.read_text(tmp_path / "k.txt", pa_deg=pa)
    np.testing.assert_allclose(np.c_[kin.x, kin.y, kin.vrms, kin.vrms_err], np.c_[x, y, vrms, err], atol=2e-5)
    n = write_manga_maps(tmp_path / "m.fits", xs, ys, vrms, err, rotation=0.6)
    maps = io.read_manga_maps(tmp_path / "m.fits", pa_deg=pa)
    assert len(maps) == n >= 30
    k = np.array([np.argmin(np.hypot(x - a, y - b)) for a, b in zip(maps.x, maps.y)])
    np.testing.assert_allclose(np.c_[maps.x, maps.y], np.c_[x[k], y[k]], atol=1e-9)
    np.testing.assert_allclose(maps.vrms, vrms[k], rtol=1e-9)
    np.testing.assert_allclose(maps.vrms_err, err[k], rtol=1e-9)
    write_manga_maps(tmp_path / "bad.fits", xs, ys, vrms, err, masked_fraction=1.0)
    with pytest.raises(ValueError, match="no valid"):
        io.read_manga_maps(tmp_path / "bad.fits")


def _mock_survey(tmp_path, n=3):
    """``n`` tiny jampy mocks plus three broken rows: a missing file, an all-masked MAPS, a refusal."""
    path = write_mock_survey(tmp_path / "mock", n, seed=5, jam_settings=JAMSettings(nrad=10, nang=6), progress=False)
    table = Table.read(path, format="ascii.csv")
    good = dict(zip(table.colnames, table[0]))
    kin = tmp_path / "mock" / "kinematics"
    xs, ys = rotate_to_sky(np.linspace(-3, 3, 20), np.zeros(20), 0.0)
    write_manga_maps(kin / "masked_MAPS.fits", xs, ys, np.full(20, 200.0), np.full(20, 5.0), masked_fraction=1.0)
    table.add_row(dict(good, id="missing", kin_path="kinematics/nowhere.txt", kin_format="text"))
    table.add_row(dict(good, id="masked", kin_path="kinematics/masked_MAPS.fits", kin_format="manga"))
    table.add_row(dict(good, id="unresolved", sigma_psf=good["r_e"]))  # sigma_psf/R_e = 1: beyond both emulators
    table.write(path, format="ascii.csv", overwrite=True)
    settings = tmp_path / "tiny.toml"
    settings.write_text(TINY)
    return path, settings


def _check_results(out, n_good):
    table = Table.read(out / "results.fits")
    status = dict(zip(table["id"], table["status"]))
    assert int(np.sum(fitted(table["status"]))) == n_good
    assert status["missing"] == "failed" and status["masked"] == "failed" and status["unresolved"] == "refused"
    reasons = dict(zip(table["id"], table["reason"]))
    assert "nowhere.txt" in reasons["missing"] and "no valid" in reasons["masked"]
    assert re.search(r"sigma_psf/R_e = 0\.99\d* is outside \[0\.01, 0\.5\]", reasons["unresolved"])  # R_e of its MGE
    ok = table[fitted(table["status"])]
    for row in ok:  # 8 walkers x 40 steps: the diagnostics say so
        assert row["status"] == "warning" and "not_converged" in row["checks"].split(",")
        assert row["reason"].startswith(row["checks"].split(",")[0] + ": ")
    assert np.all(np.isfinite(ok["chi2_per_dof"]) & (ok["ppc_p_value"] >= 0) & (ok["compile_seconds"] >= 0))
    assert np.all(np.isfinite(ok["inclination_median"]) & (ok["n_bins"] > 100) & np.isfinite(ok["r_hat"]))
    assert np.all((ok["ml_p16"] <= ok["ml_median"]) & (ok["ml_median"] <= ok["ml_p84"]))
    for gid in ok["id"]:
        assert (out / gid / "summary.json").exists() and (out / gid / "posterior.nc").exists()
    assert len(Table.read(out / "results.csv", format="ascii.csv")) == len(table)
    return table


def test_small_survey_with_broken_rows(tmp_path):
    from fastjam.survey import survey

    catalog, settings = _mock_survey(tmp_path, n=1)
    summary = survey(catalog, tmp_path / "out", settings=settings, workers=0, progress=False)
    assert summary.counts == dict(ok=0, warning=1, refused=1, failed=2)
    _check_results(tmp_path / "out", 1)
    with pytest.raises(ValueError, match="pass --resume"):
        survey(catalog, tmp_path / "out", settings=settings, workers=0, progress=False)


def _cli(*args):
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.Popen([sys.executable, "-m", "fastjam", *map(str, args), "--no-progress"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


@pytest.mark.slow
def test_kill_and_resume_keeps_every_finished_galaxy_once(tmp_path):
    catalog, settings = _mock_survey(tmp_path, n=4)
    out = tmp_path / "out"
    proc = _cli("survey", catalog, "--out", out, "--config", settings, "--workers", "0")
    deadline = time.time() + 300
    while len(list(out.glob("*/row.json"))) < 2 and time.time() < deadline and proc.poll() is None:
        time.sleep(0.2)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    done = {p.parent.name: p.stat().st_mtime_ns for p in out.glob("*/row.json")}
    assert 2 <= len(done) < 7
    proc = _cli("survey", catalog, "--out", out, "--config", settings, "--workers", "2", "--resume")
    stdout, stderr = proc.communicate(timeout=600)
    assert proc.returncode == 0, stderr
    assert f"{len(done)} done before" in stdout
    table = _check_results(out, 4)
    assert sorted(table["id"]) == sorted(set(table["id"])) and len(table) == 7
    assert {gid: (out / gid / "row.json").stat().st_mtime_ns for gid in done} == done


@pytest.mark.slow
def test_survey_on_an_external_scheduler(tmp_path):
    from fastjam.survey import survey

    catalog, settings = _mock_survey(tmp_path, n=2)
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    sched_file = tmp_path / "scheduler.json"
    procs = [subprocess.Popen(["dask", "scheduler", "--host", "127.0.0.1", "--port", "0", "--dashboard-address",
                               "127.0.0.1:0", "--scheduler-file", str(sched_file)], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)]
    try:
        deadline = time.time() + 60
        while not sched_file.exists() and time.time() < deadline:
            time.sleep(0.2)
        address = json.loads(sched_file.read_text())["address"]
        procs.append(subprocess.Popen(["dask", "worker", address, "--host", "127.0.0.1", "--nworkers", "2",
                                       "--nthreads", "1", "--no-dashboard"], env=env, stdout=subprocess.DEVNULL,
                                      stderr=subprocess.DEVNULL))
        _wait_for_workers(address, 2)
        summary = survey(catalog, tmp_path / "out", settings=settings, scheduler=address, progress=False)
    finally:
        for proc in reversed(procs):
            proc.terminate()
            proc.wait(timeout=60)
    assert summary.workers == 2 and summary.dashboard.startswith("http://127.0.0.1:")
    table = _check_results(tmp_path / "out", 2)
    assert "local" not in set(table["worker"][fitted(table["status"])])


def _wait_for_workers(address, n):
    from dask.distributed import Client

    with Client(address, timeout=60) as client:
        client.wait_for_workers(n, timeout=120)


REFINE = "[refine]\nenabled = true\nnrad = 10\nnang = 6\nn_start = 5\nmax_nodes = 12\nn_draws = 2000\n"


@pytest.mark.parametrize("workers", [0, pytest.param(2, marks=pytest.mark.slow)])
def test_refinement_fills_the_exact_columns(tmp_path, workers):
    """``[refine] enabled``: the exact JAM posterior of each galaxy (jampy serially, or as tasks of
    the survey's own cluster) fills ``*_exact`` and the emulator's shifts in exact sigma."""
    from fastjam.survey import survey

    path = write_mock_survey(tmp_path / "mock", 1, seed=5, jam_settings=JAMSettings(nrad=10, nang=6), progress=False)
    settings = tmp_path / "refine.toml"
    settings.write_text(TINY + REFINE)
    summary = survey(path, tmp_path / "out", settings=settings, workers=workers, progress=False)
    assert summary.counts["ok"] + summary.counts["warning"] == 1
    row = Table.read(tmp_path / "out" / "results.fits")[0]
    assert row["refined"]
    gid = row["id"]
    refine = json.loads((tmp_path / "out" / gid / "refine.json").read_text())
    for p in ("inclination", "beta_z", "ml"):
        assert row[f"{p}_exact"] == pytest.approx(refine["exact"]["summary"][p]["median"])
        assert row[f"{p}_shift"] == pytest.approx(refine["comparison"][p]["shift_sigma"])
        assert np.isfinite(row[f"{p}_shift"])
    assert row["ml_exact"] == pytest.approx(row["ml_truth"], rel=0.3)
    assert (tmp_path / "out" / gid / "exact" / "summary.json").exists()
    assert list((tmp_path / "out" / gid / "exact_nodes").iterdir())


def test_recovery_counts_every_fitted_row_and_no_other():
    """Pulls use the ``ok`` and ``warning`` rows with a true value (read back from FITS as bytes too)."""
    from fastjam.recovery import pulls, recovery_summary

    table = Table(dict(status=["ok", "warning", "failed", "refused", "ok"], inclination_truth=[60.0, 50, 40, 30, np.nan],
                       inclination_median=[62.0, 49, 0, 0, 70], inclination_p16=[61.0, 47, 0, 0, 60],
                       inclination_p84=[63.0, 51, 0, 0, 80]))
    np.testing.assert_allclose(pulls(table, "inclination"), [2.0, -0.5])
    table["status"] = table["status"].astype("S8")
    np.testing.assert_allclose(pulls(table, "inclination"), [2.0, -0.5])
    assert recovery_summary(table, ("inclination",))["inclination"]["n"] == 2

"""Design, storage and the resumable generator."""
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from fastjam import simulate as sim
from fastjam.dataset import finished, load_dataset
from fastjam.design import ParameterSpace, sobol_design
from fastjam.jam import JAMSettings
from fastjam.physics import beta_z_max, min_inclination, qintr_from_inclination
from fastjam.physics import grid

FAST = JAMSettings(nrad=10, nang=5)


def test_design_reproducible_constrained_and_seed_dependent():
    a, b, c = sobol_design(500, 1), sobol_design(500, 1), sobol_design(500, 2)
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)
    ParameterSpace().check(a)
    n, q_obs, inc, beta, sig, pix = a.T
    assert np.all(inc >= min_inclination(q_obs) - 1e-9)
    assert np.all(beta <= beta_z_max(qintr_from_inclination(q_obs, inc)) + 1e-12)
    assert 1 <= n.min() and n.max() <= 8 and 0.02 <= sig.min() and sig.max() <= 0.3
    # space filling: every tenth of every axis of the unit cube is populated
    for col in (n, q_obs, np.log(sig)):
        counts, _ = np.histogram(col, bins=10)
        assert counts.min() > 20


def test_parameter_space_rejects_violations():
    p = sobol_design(4, 1)
    bad = p.copy()
    bad[0, 3] = 0.9  # beta_z above 0.7 (1 - q_intr)
    with pytest.raises(ValueError, match="beta_z"):
        ParameterSpace().check(bad)
    bad = p.copy()
    bad[1, 2] = 1.0  # inclination below the minimum
    with pytest.raises(ValueError, match="inclination"):
        ParameterSpace().check(bad)


def test_compute_map_matches_direct_call_and_image():
    p = sobol_design(3, 5)[2]
    res = sim.compute_map(2, p, FAST)
    assert res["error"] is None and res["arrays"]["f"].shape == (grid.NTHETA, grid.NR)
    from fastjam.jam import dimensionless_map

    np.testing.assert_allclose(res["arrays"]["f"], dimensionless_map(*p, FAST), rtol=1e-6)
    # photometry image: brightest at the centre, flattened like q_obs
    img = res["arrays"]["image"]
    c = grid.IMAGE_SIZE // 2
    assert img.argmax() in {np.ravel_multi_index((i, j), img.shape) for i in (c - 1, c) for j in (c - 1, c)}
    assert img[c, -1] > img[-1, c]  # brighter along the major axis than along the minor axis


def test_failed_map_is_recorded_not_stored(tmp_path, monkeypatch):
    design = sobol_design(3, 9)
    design[1, 2] = 1.0  # impossible inclination: JAM cannot compute it
    monkeypatch.setattr(sim, "sobol_design", lambda n, seed, space: design[:n])
    summary = sim.simulate(tmp_path / "set", 3, 9, workers=0, settings=FAST, progress=False)
    assert summary.n_computed == 3 and summary.n_failed == 1
    ds = load_dataset(tmp_path / "set")
    np.testing.assert_array_equal(ds.index, [0, 2])
    np.testing.assert_array_equal(ds.failed_index, [1])
    assert np.all(np.isfinite(ds.f))


def test_existing_output_without_resume_is_refused_and_kept(tmp_path):
    out = tmp_path / "set"
    sim.simulate(out, 2, 4, workers=0, settings=FAST, progress=False)
    before = sorted(p.name for p in out.rglob("*"))
    with pytest.raises(ValueError, match="--resume"):
        sim.simulate(out, 2, 4, workers=0, settings=FAST, progress=False)
    with pytest.raises(ValueError, match="seed differs"):
        sim.simulate(out, 2, 5, workers=0, settings=FAST, progress=False, resume=True)
    assert sorted(p.name for p in out.rglob("*")) == before
    assert len(load_dataset(out)) == 2


def _run_cli(args, **kw):
    return subprocess.Popen([sys.executable, "-m", "fastjam", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, **kw)


def test_kill_minus_nine_then_resume_keeps_every_map_once(tmp_path):
    out = tmp_path / "set"
    args = ["simulate", "--n", "10", "--seed", "11", "--out", str(out), "--workers", "0",
            "--nrad", "10", "--nang", "5", "--no-progress"]
    proc = _run_cli(args)
    deadline = time.time() + 120
    while time.time() < deadline and len(finished(out / "parts", "map_*.h5")) < 3:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    n_before = len(finished(out / "parts", "map_*.h5"))  # a map killed while being written is not done
    assert 3 <= n_before < 10, "the run must be killed mid-way"
    done = subprocess.run([sys.executable, "-m", "fastjam", *args, "--resume"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert f"{n_before} already done" in done.stdout
    ds = load_dataset(out)
    np.testing.assert_array_equal(ds.index, np.arange(10))
    assert not list(out.rglob("*.tmp*")) and not list(out.glob("parts/*"))
    # the stored maps are the maps of the design
    np.testing.assert_allclose(ds.params, sobol_design(10, 11))
    ref = sim.compute_map(7, ds.params[7], FAST)["arrays"]["f"]
    np.testing.assert_allclose(ds.f[7], ref, rtol=1e-6)


def test_cli_reports_bad_input_in_one_line(tmp_path):
    res = subprocess.run([sys.executable, "-m", "fastjam", "simulate", "--n", "0", "--seed", "1", "--out",
                          str(tmp_path / "x"), "--workers", "0"], capture_output=True, text=True)
    assert res.returncode == 2
    assert res.stderr.strip().count("\n") == 0 and "--n: must be an integer >= 1, got 0" in res.stderr


@pytest.mark.slow
def test_dask_local_cluster_gives_the_serial_answer(tmp_path):
    a = sim.simulate(tmp_path / "a", 4, 3, workers=0, settings=FAST, progress=False)
    b = sim.simulate(tmp_path / "b", 4, 3, workers=2, settings=FAST, progress=False)
    assert a.n_computed == b.n_computed == 4 and b.workers == 2
    np.testing.assert_allclose(load_dataset(tmp_path / "a").f, load_dataset(tmp_path / "b").f, rtol=1e-6)


def test_runs_on_an_existing_dask_scheduler(tmp_path):
    """--scheduler: a user who outgrows one machine points the generator at a cluster."""
    from dask.distributed import LocalCluster

    with LocalCluster(n_workers=1, threads_per_worker=1, processes=False, dashboard_address=":0") as cluster:
        summary = sim.simulate(tmp_path / "set", 2, 21, scheduler=cluster.scheduler_address, settings=FAST,
                               progress=False)
    assert summary.n_computed == 2 and summary.n_failed == 0
    ds = load_dataset(tmp_path / "set")
    np.testing.assert_allclose(ds.f[1], sim.compute_map(1, ds.params[1], FAST)["arrays"]["f"], rtol=1e-6)


def test_family_map_is_jams_linear_decomposition():
    """The stored a, b of the MGE family give jampy's V_RMS at a third beta_z (and both anchors)."""
    from fastjam.family import family_design, unpad_mge
    from fastjam.jam import REFERENCE, jam_vrms
    from fastjam.physics.mge import MGE
    from fastjam.physics.scaling import PC_PER_ARCSEC_PER_MPC, velocity_scale

    p = family_design(4, 21)[3]
    res = sim.compute_map(3, p, FAST, family="mge")
    assert res["error"] is None
    a, b = res["arrays"]["a"], res["arrays"]["b"]
    surf, sigma, qobs = unpad_mge(res["arrays"]["mge"])
    assert surf.size == 10 * int(p[0])
    np.testing.assert_allclose(np.sum(2 * np.pi * surf * qobs * sigma**2), 1.0, rtol=1e-10)
    ref = REFERENCE
    r_pc = ref["r_e"] * ref["distance"] * PC_PER_ARCSEC_PER_MPC
    mge = MGE(surf * ref["l_tot"] / r_pc**2, sigma * ref["r_e"], qobs)
    x, y = grid.polar_grid()
    beta = 0.2
    v = jam_vrms(mge, p[1], beta, 1.0, ref["distance"], p[2], p[3], x.ravel(), y.ravel(), FAST)
    f2 = (v / velocity_scale(1.0, ref["l_tot"], ref["r_e"], ref["distance"])) ** 2
    np.testing.assert_allclose((a + b / (1 - beta)).ravel(), f2, rtol=1e-7)


def test_family_simulate_writes_mge_fields(tmp_path):
    summary = sim.simulate(tmp_path / "fam", 2, 5, workers=0, settings=FAST, progress=False, family="mge")
    assert summary.n_computed == 2
    ds = load_dataset(tmp_path / "fam")
    assert ds.meta["fields"] == ["params", "mge", "a", "b"]
    assert ds.params.shape == (2, 14) and ds.mge.shape == (2, 30, 3) and ds.a.shape == (2, grid.NTHETA, grid.NR)
    with pytest.raises(ValueError, match="family"):
        sim.simulate(tmp_path / "bad", 2, 5, workers=0, progress=False, family="sersics")


def test_family_inclination_range_is_sampled_and_checked():
    from fastjam.family import FamilySpace, family_design

    inc = family_design(256, 14, FamilySpace(inclination=(60.0, 90.0)))[:, 1]
    assert inc.min() >= 60.0 and inc.max() <= 90.0
    cos_i = np.cos(np.radians(inc))  # uniform in cos i over [0, 0.5]
    assert abs(np.mean(cos_i) - 0.25) < 0.01
    with pytest.raises(ValueError, match=r"inclination range .* got 60 95"):
        FamilySpace(inclination=(60.0, 95.0))
    out = subprocess.run([sys.executable, "-m", "fastjam", "simulate", "--n", "2", "--seed", "1", "--out", "x",
                          "--inclination", "60", "90"], capture_output=True, text=True)
    assert out.returncode != 0 and "--family mge" in out.stderr.strip().splitlines()[-1]


def test_family_ranges_narrow_the_design_inside_the_domain():
    from fastjam.family import FamilySpace, family_design

    thin = FamilySpace().restricted(disk_q=(0.06, 0.2), bulge_fraction=(0.05, 0.5), inclination=(60.0, 90.0))
    design = family_design(512, 15, thin)
    has_disk = design[:, 0] >= 2
    assert np.all((design[has_disk, 7] >= 0.06) & (design[has_disk, 7] <= 0.2))
    assert np.all(design[has_disk, 9] <= 0.5) and np.all(design[:, 1] >= 60.0)
    assert thin.single_q == FamilySpace().single_q  # the others are untouched
    with pytest.raises(ValueError, match=r"disk_q range 0\.01 0\.2 is not inside the family's 0\.06 0\.35"):
        FamilySpace().restricted(disk_q=(0.01, 0.2))
    with pytest.raises(ValueError, match="no family range 'disk_z'"):
        FamilySpace().restricted(disk_z=(0.1, 0.2))
    out = subprocess.run([sys.executable, "-m", "fastjam", "simulate", "--family", "mge", "--n", "2", "--seed", "1",
                          "--out", "x", "--family-range", "disk_q", "0.1", "x"], capture_output=True, text=True)
    assert out.returncode != 0 and "--family-range disk_q: LO and HI must be numbers" in out.stderr


def test_explicit_design_gives_the_sobol_maps_at_its_points(tmp_path):
    points = sobol_design(3, 9)[[2, 0]]  # two points of a Sobol design, in another order
    sim.simulate(tmp_path / "sobol", 3, 9, workers=0, settings=FAST, progress=False)
    sobol = load_dataset(tmp_path / "sobol")
    summary = sim.simulate(tmp_path / "chosen", None, None, workers=0, settings=FAST, progress=False, design=points)
    assert summary.n_requested == 2
    ds = load_dataset(tmp_path / "chosen")
    assert ds.meta["design"] == "explicit" and len(ds.meta["design_sha256"]) == 64
    np.testing.assert_array_equal(ds.params, points)
    np.testing.assert_array_equal(ds.f, sobol.f[[2, 0]])
    # resuming with the same points computes nothing; with other points it is refused
    again = sim.simulate(tmp_path / "chosen", None, None, workers=0, settings=FAST, progress=False, design=points,
                         resume=True)
    assert again.n_computed == 0
    with pytest.raises(ValueError, match="design_sha256 differs"):
        sim.simulate(tmp_path / "chosen", None, None, workers=0, settings=FAST, progress=False,
                     design=points[::-1], resume=True)


@pytest.mark.parametrize("points, match", [
    (np.zeros((2, 5)), r"shape \(N >= 1, 6\)"),
    (np.zeros((0, 6)), r"shape \(N >= 1, 6\)"),
    (np.array([[2.0, 0.5, 60.0, 0.1, 0.05, np.nan]]), "row 0 is not"),
])
def test_explicit_design_is_checked(tmp_path, points, match):
    with pytest.raises(ValueError, match=match):
        sim.simulate(tmp_path / "bad", None, None, workers=0, settings=FAST, progress=False, design=points)
    with pytest.raises(ValueError, match="differs from the 2 design points"):
        sim.simulate(tmp_path / "bad2", 3, None, workers=0, settings=FAST, progress=False, design=sobol_design(2, 1))


def test_cli_design_file(tmp_path, capsys):
    from fastjam.cli import main

    points = tmp_path / "points.npy"
    np.save(points, sobol_design(2, 9))
    out = tmp_path / "set"
    assert main(["simulate", "--design", str(points), "--out", str(out), "--workers", "0", "--nrad", "10",
                 "--nang", "5", "--no-progress"]) == 0
    np.testing.assert_array_equal(load_dataset(out).params, np.load(points))
    assert main(["simulate", "--n", "2", "--out", str(tmp_path / "x")]) == 2
    assert "simulate needs --seed (or --design FILE.npy)" in capsys.readouterr().err
    (tmp_path / "bad.npy").write_text("not an array")
    assert main(["simulate", "--design", str(tmp_path / "bad.npy"), "--out", str(tmp_path / "y")]) == 2
    assert "not a readable .npy array" in capsys.readouterr().err


def test_family_maps_with_the_fixed_line_of_sight_rule(tmp_path):
    """--los-nodes: recorded in meta.json, the maps within 1e-4 of jampy's quadrature, a resume with
    the other quadrature refused, a too small rule a one-line error."""
    from dataclasses import replace

    fixed = replace(FAST, los_nodes=128)
    sim.simulate(tmp_path / "fixed", 2, 5, workers=0, settings=fixed, progress=False, family="mge")
    sim.simulate(tmp_path / "jampy", 2, 5, workers=0, settings=FAST, progress=False, family="mge")
    a, b = load_dataset(tmp_path / "fixed"), load_dataset(tmp_path / "jampy")
    assert a.meta["jam_settings"]["los_nodes"] == 128 and "los_nodes" not in b.meta["jam_settings"]
    for beta in (0.0, -0.5, 0.5):
        np.testing.assert_allclose(a.a + a.b / (1 - beta), b.a + b.b / (1 - beta), rtol=1e-4)
    with pytest.raises(ValueError, match="jam_settings differs"):
        sim.simulate(tmp_path / "fixed", 3, 5, workers=0, settings=FAST, progress=False, family="mge", resume=True)
    out = subprocess.run([sys.executable, "-m", "fastjam", "simulate", "--family", "mge", "--n", "2", "--seed", "1",
                          "--out", str(tmp_path / "x"), "--los-nodes", "5"], capture_output=True, text=True)
    assert out.returncode != 0 and "los_nodes = 5" in out.stderr.strip().splitlines()[-1]


def test_truncated_family_fits_each_mge_only_out_to_its_outer_radius(tmp_path):
    """outer_radius: a 15th, log-uniform design column; each MGE has no Gaussian wider than R_max and is
    in units of its own R_e and light; the set records the range, and untruncated sets record none."""
    from fastjam.family import (FAMILY_PARAM_NAMES, FamilySpace, components, family_design, family_mge,
                                sersic_components_mge, unit_mge)
    from fastjam.physics.mge import unit_sersic_mge

    space = FamilySpace(outer_radius=(1.5, 8.0))
    design = family_design(256, 21, space)
    assert design.shape == (256, 15) and space.param_names == FAMILY_PARAM_NAMES + ("outer_radius",)
    log_r = np.log(design[:, 14])
    assert log_r.min() >= np.log(1.5) and log_r.max() <= np.log(8.0)
    assert abs(np.mean(log_r) - np.log(np.sqrt(12.0))) < 0.02  # log-uniform
    for p in design[:3]:
        surf, sigma, qobs = family_mge(p)
        whole = family_mge(p[:14])
        r_e_whole = unit_mge(*sersic_components_mge(components(p), p[1]))[3]
        r_e_cut = unit_mge(*sersic_components_mge(components(p), p[1], r_max=p[14] * r_e_whole))[3]
        # no Gaussian wider than R_max = outer_radius R_e (untruncated), in units of the truncated R_e
        assert sigma.max() <= p[14] * r_e_whole / r_e_cut * (1 + 1e-9) < whole[1].max()
        assert np.sum(2 * np.pi * surf * qobs * sigma**2) == pytest.approx(1.0)
        assert unit_mge(surf, sigma, qobs)[3] == pytest.approx(1.0)
    assert unit_sersic_mge(4.0, 10, 2.0)[1].max() <= 2.0
    with pytest.raises(ValueError, match="r_max = 0.001 R_e must exceed"):
        unit_sersic_mge(4.0, 10, 0.001)
    with pytest.raises(ValueError, match="outer_radius range"):
        FamilySpace(outer_radius=(3.0, 2.0))
    assert "outer_radius" not in FamilySpace().as_dict()  # sets made before it resume unchanged
    assert FamilySpace.from_dict(space.as_dict()) == space
    sim.simulate(tmp_path / "cut", 2, 5, workers=0, settings=FAST, progress=False, family="mge", space=space)
    ds = load_dataset(tmp_path / "cut")
    assert ds.params.shape == (2, 15) and ds.meta["param_names"][-1] == "outer_radius"
    assert ds.meta["space"]["outer_radius"] == [1.5, 8.0]
    out = subprocess.run([sys.executable, "-m", "fastjam", "simulate", "--n", "2", "--seed", "1", "--out", "x",
                          "--outer-radius", "2", "4"], capture_output=True, text=True)
    assert out.returncode != 0 and "--family mge" in out.stderr.strip().splitlines()[-1]


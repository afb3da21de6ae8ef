"""The neural emulator: training and resume, torch vs JAX, the training domain, the scaling law,
and (when shipped) the accuracy of the shipped weights against fresh jampy maps.

A tiny network is trained once per module on 24 coarse JAM maps; it is far from accurate, so
the tests here check *consistency* (torch = JAX, cached = uncached, interpolation, scaling,
resume = the same numbers) rather than accuracy, which only the shipped-emulator test measures.
"""
import json
import re
import shutil
from dataclasses import replace

import numpy as np
import pytest

torch = pytest.importorskip("torch")
jax = pytest.importorskip("jax")
import jax.numpy as jnp  # noqa: E402

from fastjam.dataset import load_dataset  # noqa: E402
from fastjam.design import ParameterSpace  # noqa: E402
from fastjam.emulator import Emulator  # noqa: E402
from fastjam.emulator import jax_model  # noqa: E402
from fastjam.emulator.features import image_features, param_features  # noqa: E402
from fastjam.emulator.model import sersic_image  # noqa: E402
from fastjam.emulator.network import EmulatorNetwork, NetworkConfig  # noqa: E402
from fastjam.emulator.store import default_path, load_arrays  # noqa: E402
from fastjam.emulator.train import TrainConfig, _split, train  # noqa: E402
from fastjam.galaxy import Galaxy, Sersic  # noqa: E402
from fastjam.jam import JAMSettings, dimensionless_map  # noqa: E402
from fastjam.physics import MGE, grid  # noqa: E402
from fastjam.physics.geometry import min_inclination  # noqa: E402
from fastjam.physics.scaling import velocity_scale  # noqa: E402
from fastjam.simulate import simulate  # noqa: E402

TINY_NET = NetworkConfig(image_channels=(4, 8, 8, 8), latent=8, hidden=(32, 32), n_basis=8)
TINY_TRAIN = TrainConfig(epochs=8, batch_size=8, patience=100)
COARSE_JAM = JAMSettings(nrad=10, nang=5)
#: (inclination [deg], beta_z, M/L) inside the domain for the test galaxy (q_obs = 0.7)
PARAM_SETS = [(60.0, 0.0, 2.0), (75.0, 0.2, 4.5), (88.0, -0.1, 1.0)]
SHIPPED_CARD = default_path() / "emulator.json"


@pytest.fixture(scope="module", autouse=True)
def _one_torch_thread():
    """The tiny network is fastest on one thread (and the test machine may be shared)."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture(scope="module")
def training_set(tmp_path_factory):
    out = tmp_path_factory.mktemp("emulator") / "train"
    simulate(out, n_maps=24, seed=3, workers=0, settings=COARSE_JAM, progress=False)
    return out


@pytest.fixture(scope="module")
def trained(training_set, tmp_path_factory):
    out = tmp_path_factory.mktemp("emulator") / "model"
    return train(training_set, out, config=TINY_TRAIN, network=TINY_NET, progress=False)


@pytest.fixture(scope="module")
def emulator(trained):
    return Emulator.load(trained.out)


@pytest.fixture(scope="module")
def galaxy():
    """A Sérsic galaxy inside the training domain: sigma_psf / R_e in the middle of its range (log)."""
    r_e = 5.0
    sigma = r_e * np.sqrt(0.02 * 0.3)
    return Galaxy(Sersic(n=3.0, r_e=r_e, q_obs=0.7, l_tot=5e10), distance=20.0, sigma_psf=sigma,
                  pixsize=0.8 * sigma)


@pytest.fixture(scope="module")
def positions(galaxy):
    """50 positions in arcsec inside +-2.5 R_e, all four quadrants, plus the centre."""
    half = 2.45 * galaxy.photometry.r_e
    x, y = np.random.default_rng(5).uniform(-half, half, (2, 49))
    return np.append(x, 0.0), np.append(y, 0.0)


@pytest.fixture(scope="module")
def jax_vrms(emulator, galaxy, positions):
    return jax.jit(emulator.bind(galaxy, *positions))


# --------------------------------------------------------------------------------------- training


def test_training_improves_and_writes_its_outputs(trained, training_set):
    h = trained.history
    assert trained.epochs == len(h["epoch"]) == TINY_TRAIN.epochs
    assert h["epoch"] == list(range(TINY_TRAIN.epochs))
    assert np.all(np.isfinite(h["val_loss"])) and np.all(np.isfinite(h["train_loss"]))
    assert h["val_loss"][-1] < h["val_loss"][0]
    for name in ("checkpoint.pt", "emulator.npz", "emulator.json", "loss.png", "history.json"):
        assert (trained.out / name).is_file(), name
    assert (trained.out / "loss.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    arrays, card = load_arrays(trained.out)
    assert NetworkConfig.from_dict(card["network"]) == TINY_NET
    assert set(arrays) == set(EmulatorNetwork(TINY_NET).state_dict())
    assert all(a.dtype == np.float32 for a in arrays.values())
    best = int(np.argmin(h["val_loss"]))
    assert trained.best_epoch == card["training"]["best_epoch"] == best
    assert card["training"]["best_val_rms_lnf"] == pytest.approx(np.sqrt(h["val_loss"][best]), rel=1e-12)
    assert card["training"]["data_meta"]["jam_settings"] == COARSE_JAM.as_dict()
    assert json.loads((trained.out / "history.json").read_text())["val_loss"] == h["val_loss"]


def _validation_mse(model_dir, training_set):
    """Mean squared error of ln f of a saved emulator on the maps ``train`` held out."""
    ds = load_dataset(training_set)
    _, va = _split(len(ds), TINY_TRAIN.val_fraction, TINY_TRAIN.seed)
    pred = Emulator.load(model_dir).log_maps(ds.params[va]).reshape(len(va), -1)
    return np.mean((pred - np.log(ds.f[va].reshape(len(va), -1).astype(float))) ** 2)


def test_saved_weights_reproduce_the_best_validation_loss(trained, training_set):
    assert _validation_mse(trained.out, training_set) == pytest.approx(trained.best_val_loss, rel=1e-4)


def test_resume_continues_from_checkpoint(trained, training_set, tmp_path):
    out = tmp_path / "resumed"
    shutil.copytree(trained.out, out)
    more = replace(TINY_TRAIN, epochs=TINY_TRAIN.epochs + 4)
    resumed = train(training_set, out, config=more, network=TINY_NET, resume=True, progress=False)
    h0, h1 = trained.history, resumed.history
    assert len(h1["epoch"]) == more.epochs and h1["epoch"] == list(range(more.epochs))
    for key in h0:
        assert h1[key][: len(h0[key])] == h0[key], key
    # resuming gives the same numbers as one uninterrupted run
    straight = train(training_set, tmp_path / "straight", config=more, network=TINY_NET, progress=False)
    np.testing.assert_allclose(h1["val_loss"], straight.history["val_loss"], rtol=1e-6)
    np.testing.assert_allclose(h1["train_loss"], straight.history["train_loss"], rtol=1e-6)
    # the saved weights are the best epoch's, not the last (with this seed the validation loss of this run is not
    # monotonic, so this would fail if the last epoch were saved)
    assert resumed.best_epoch == int(np.argmin(h1["val_loss"]))
    assert json.loads((out / "emulator.json").read_text())["training"]["epochs_run"] == more.epochs
    mse = _validation_mse(out, training_set)
    assert mse == pytest.approx(resumed.best_val_loss, rel=1e-4)
    if resumed.best_epoch != h1["epoch"][-1]:
        assert mse != pytest.approx(h1["val_loss"][-1], rel=1e-4)


def test_resume_of_a_finished_run_trains_no_further(training_set, tmp_path):
    done = replace(TINY_TRAIN, lr=1e-5, min_lr=1e-5)  # the learning rate at its floor: stops after epoch 0
    first = train(training_set, tmp_path / "net", config=done, network=TINY_NET, progress=False)
    again = train(training_set, tmp_path / "net", config=done, network=TINY_NET, resume=True, progress=False)
    assert first.history["epoch"] == again.history["epoch"] == [0]
    assert again.best_val_loss == first.best_val_loss


def test_train_refuses_existing_output_without_resume(trained, training_set):
    with pytest.raises(ValueError, match="--resume"):
        train(training_set, trained.out, config=TINY_TRAIN, network=TINY_NET, progress=False)


# ------------------------------------------------------------------------------------ torch vs JAX


def test_torch_and_jax_vrms_agree(emulator, galaxy, positions, jax_vrms):
    x, y = positions
    for inc, beta, ml in PARAM_SETS:
        ref = emulator.vrms(galaxy, inc, beta, ml, x, y)
        assert ref.shape == (1, x.size) and np.all(np.isfinite(ref)) and np.all(ref > 0)
        out = np.asarray(jax_vrms(inc, beta, ml), dtype=float)
        np.testing.assert_allclose(out, ref[0], rtol=1e-5)
    # a batch through the torch interface equals one call per parameter set
    inc, beta, ml = map(np.array, zip(*PARAM_SETS))
    batch = emulator.vrms(galaxy, inc, beta, ml, x, y)
    for k, p in enumerate(PARAM_SETS):
        np.testing.assert_allclose(batch[k], emulator.vrms(galaxy, *p, x, y)[0], rtol=1e-6)


def test_jax_gradient_is_finite_and_matches_finite_differences(emulator, galaxy, positions, jax_vrms):
    x, y = positions
    inc, beta, ml = PARAM_SETS[1]
    grad = jax.grad(lambda *p: jnp.sum(jax_vrms(*p)), argnums=(0, 1, 2))
    g_inc, g_beta, g_ml = (float(g) for g in grad(jnp.float32(inc), jnp.float32(beta), jnp.float32(ml)))
    assert np.isfinite([g_inc, g_beta, g_ml]).all()
    h = 0.5  # deg
    fd = (emulator.vrms(galaxy, inc + h, beta, ml, x, y).sum()
          - emulator.vrms(galaxy, inc - h, beta, ml, x, y).sum()) / (2 * h)
    assert g_inc == pytest.approx(fd, rel=1e-2)
    hb = 0.02
    fd_beta = (emulator.vrms(galaxy, inc, beta + hb, ml, x, y).sum()
               - emulator.vrms(galaxy, inc, beta - hb, ml, x, y).sum()) / (2 * hb)
    assert g_beta == pytest.approx(fd_beta, rel=1e-2)
    # V_RMS ~ sqrt(M/L): d sum / d ml = sum / (2 ml) exactly
    assert g_ml == pytest.approx(float(jnp.sum(jax_vrms(inc, beta, ml))) / (2 * ml), rel=1e-5)


def test_jax_vmap_equals_loop(jax_vrms):
    inc, beta, ml = (jnp.asarray(v, dtype=jnp.float32) for v in zip(*PARAM_SETS))
    batched = np.asarray(jax.vmap(jax_vrms)(inc, beta, ml))
    looped = np.stack([np.asarray(jax_vrms(*p)) for p in PARAM_SETS])
    assert batched.shape == looped.shape == (len(PARAM_SETS), 50)
    np.testing.assert_allclose(batched, looped, rtol=1e-6)


@pytest.fixture(scope="module")
def grid_params():
    """Parameter sets (m, 6) with three different photometries, interior of the design space."""
    u = np.array([[0.1, 0.2, 0.5, 0.5, 0.5, 0.5], [0.5, 0.5, 0.1, 0.9, 0.0, 1.0], [0.9, 0.8, 0.9, 0.2, 1.0, 0.0],
                  [0.1, 0.2, 0.8, 0.1, 0.3, 0.7]])
    return ParameterSpace().from_unit(u)


def test_full_grid_log_maps_torch_equals_jax(trained, emulator, grid_params):
    arrays, card = load_arrays(trained.out)
    weights = jax_model.to_jax(arrays)
    config = card["network"]
    n, q_obs, inc, beta, sig, pix = grid_params.T
    images = np.stack([image_features(sersic_image(a, b)) for a, b in zip(n, q_obs)])[:, None]
    latent = jax_model.encode(weights, jnp.asarray(images, dtype=jnp.float32), config)
    with torch.no_grad():
        latent_torch = emulator.net.encode(torch.as_tensor(images, dtype=torch.float32)).numpy()
    np.testing.assert_allclose(np.asarray(latent), latent_torch, rtol=1e-5, atol=1e-6)
    pf = param_features(jnp.asarray(q_obs), jnp.asarray(inc), jnp.asarray(beta), jnp.asarray(sig), jnp.asarray(pix),
                        card["space"], xp=jnp).astype(jnp.float32)
    logf_jax = np.asarray(jax.jit(lambda a, b: jax_model.log_maps(weights, a, b, config))(latent, pf))
    logf_torch = emulator.log_maps(grid_params)
    assert logf_torch.shape == (len(grid_params), grid.NTHETA, grid.NR)
    assert np.all(np.isfinite(logf_torch))
    np.testing.assert_allclose(logf_jax.reshape(logf_torch.shape), logf_torch, rtol=0, atol=1e-5)


def test_latent_cache_gives_the_same_maps(trained, grid_params):
    emu = Emulator.load(trained.out)
    uncached = emu.log_maps(grid_params, cache=False)
    assert emu._latent_cache == {}
    first = emu.log_maps(grid_params, cache=True)
    second = emu.log_maps(grid_params, cache=True)
    np.testing.assert_array_equal(first, second)
    np.testing.assert_allclose(first, uncached, rtol=0, atol=1e-6)
    # each row gets its own photometry: permuting the rows permutes the maps
    perm = np.array([2, 0, 3, 1])
    np.testing.assert_allclose(emu.log_maps(grid_params[perm]), first[perm], rtol=0, atol=1e-6)


def test_vrms_at_grid_nodes_equals_the_map_in_every_quadrant(emulator, galaxy):
    ph = galaxy.photometry
    xg, yg = grid.polar_grid()
    rows, cols = np.meshgrid([0, 7, 31, 63], [0, 5, 40, 63], indexing="ij")
    xn, yn = xg[rows, cols].ravel(), yg[rows, cols].ravel()
    inc, beta, ml = PARAM_SETS[0]
    params = np.array([[ph.n, ph.q_obs, inc, beta, galaxy.sigma_psf / ph.r_e, galaxy.pixsize / ph.r_e]])
    expect = np.exp(emulator.log_maps(params)[0][rows, cols].ravel())
    expect *= velocity_scale(ml, ph.l_tot, ph.r_e, galaxy.distance)
    for sx, sy in [(1, 1), (-1, 1), (1, -1), (-1, -1)]:
        v = emulator.vrms(galaxy, inc, beta, ml, sx * xn * ph.r_e, sy * yn * ph.r_e)[0]
        np.testing.assert_allclose(v, expect, rtol=1e-6)


# --------------------------------------------------------------------------------- training domain


def _case_galaxy(base, n=None, q_obs=None, sigma_re=None, pix_ratio=None):
    ph = base.photometry
    sigma = ph.r_e * sigma_re if sigma_re is not None else base.sigma_psf
    pixsize = sigma * pix_ratio if pix_ratio is not None else base.pixsize * sigma / base.sigma_psf
    return Galaxy(Sersic(n or ph.n, ph.r_e, q_obs or ph.q_obs, ph.l_tot), base.distance, sigma, pixsize)


#: (id, galaxy changes, call changes, message): all outside the domain but physically valid
DOMAIN_CASES = [
    ("n_high", dict(n=9.0), {}, "sersic n"),
    ("n_low", dict(n=0.8), {}, "sersic n"),
    ("q_obs_low", dict(q_obs=0.2), {}, "q_obs"),
    ("q_obs_high", dict(q_obs=0.995), {}, "q_obs"),
    ("sigma_psf_high", dict(sigma_re=0.5), {}, "sigma_psf / R_e"),
    ("sigma_psf_low", dict(sigma_re=0.01), {}, "sigma_psf / R_e"),
    ("pixsize", dict(pix_ratio=3.0), {}, "pixsize / sigma_psf"),
    ("beta_z", {}, dict(beta_z=0.5), "beta_z"),
    ("beta_z_low", {}, dict(beta_z=-0.5), "beta_z"),
    ("position", {}, dict(x_re=2.6), "beyond the emulated field"),
    ("position_y", {}, dict(y_re=-3.0), "beyond the emulated field"),
]


def _call_args(galaxy, positions, change):
    x, y = (np.array(v, dtype=float) for v in positions)
    r_e = galaxy.photometry.r_e
    if "x_re" in change:
        x[3] = change["x_re"] * r_e
    if "y_re" in change:
        y[3] = change["y_re"] * r_e
    return dict(inclination=85.0, beta_z=change.get("beta_z", 0.0), ml=2.0, x=x, y=y)


@pytest.mark.parametrize("gal_change, call_change, match", [c[1:] for c in DOMAIN_CASES],
                         ids=[c[0] for c in DOMAIN_CASES])
def test_outside_the_domain_raises_unless_extrapolation_allowed(trained, emulator, galaxy, positions, gal_change,
                                                                call_change, match):
    g = _case_galaxy(galaxy, **gal_change)
    args = _call_args(g, positions, call_change)
    with pytest.raises(ValueError, match=re.escape(match)):
        emulator.vrms(g, **args)
    if "beta_z" not in call_change:  # the JAX port checks the galaxy and the positions once, up front
        with pytest.raises(ValueError, match=re.escape(match)):
            emulator.bind(g, args["x"], args["y"])
    loose = Emulator.load(trained.out, allow_extrapolation=True)
    v = loose.vrms(g, **args)
    assert v.shape == (1, args["x"].size) and np.all(np.isfinite(v)) and np.all(v > 0)
    f = loose.bind(g, args["x"], args["y"])
    np.testing.assert_allclose(np.asarray(f(args["inclination"], args["beta_z"], args["ml"])), v[0], rtol=1e-5)


def test_physically_impossible_or_unsupported_input_always_raises(trained, emulator, galaxy, positions):
    x, y = positions
    loose = Emulator.load(trained.out, allow_extrapolation=True)
    i_min = float(min_inclination(galaxy.q_obs))
    mge = galaxy.mge
    g_mge = Galaxy(MGE(mge.surf, mge.sigma, mge.qobs), galaxy.distance, galaxy.sigma_psf, galaxy.pixsize)
    for emu in (emulator, loose):
        with pytest.raises(ValueError, match="inclination"):
            emu.vrms(galaxy, i_min - 1.0, 0.0, 2.0, x, y)
        with pytest.raises(ValueError, match="Sérsic"):
            emu.vrms(g_mge, 80.0, 0.0, 2.0, x, y)
        with pytest.raises(ValueError, match="Sérsic"):
            emu.bind(g_mge, x, y)
        with pytest.raises(ValueError, match="M/L"):
            emu.vrms(galaxy, 80.0, 0.0, 0.0, x, y)


# ------------------------------------------------------------------------------------- scaling law


@pytest.mark.parametrize("s", [1.0, 3.0, 0.37])
def test_bound_vrms_is_the_network_map_times_the_physical_scale(emulator, galaxy, s):
    """At map-grid nodes, the pure-JAX V_RMS of a galaxy (all lengths scaled by s, 4x the light,
    twice the distance) equals the torch network's f times sqrt(G (M/L) L / (R_e D)) computed here
    with astropy's constants: the JAX path, the interpolation and the units against the network."""
    from astropy import constants, units

    ph = galaxy.photometry
    g = Galaxy(Sersic(ph.n, ph.r_e * s, ph.q_obs, 4 * ph.l_tot), 2 * galaxy.distance, galaxy.sigma_psf * s,
               galaxy.pixsize * s)
    xg, yg = grid.polar_grid()
    rows, cols = np.meshgrid([3, 20, 50], [2, 30, 60], indexing="ij")
    x_re, y_re = xg[rows, cols].ravel(), yg[rows, cols].ravel()
    bound = emulator.bind(g, x_re * ph.r_e * s, -y_re * ph.r_e * s)
    r_e_phys = (ph.r_e * s * units.arcsec).to(units.rad).value * 2 * galaxy.distance * units.Mpc
    for inc, beta, ml in PARAM_SETS:
        params = np.array([[ph.n, ph.q_obs, inc, beta, galaxy.sigma_psf / ph.r_e, galaxy.pixsize / ph.r_e]])
        f = np.exp(emulator.log_maps(params)[0][rows, cols].ravel())
        scale = np.sqrt(constants.G * ml * units.Msun * 4 * ph.l_tot / r_e_phys).to(units.km / units.s).value
        np.testing.assert_allclose(np.asarray(bound(inc, beta, ml)), f * scale, rtol=2e-5)


# --------------------------------------------------------------------------------- shipped weights

#: interior points of the unit cube of the design (mapped through the card's parameter space)
SHIPPED_POINTS = np.array([[0.3, 0.4, 0.5, 0.5, 0.5, 0.5], [0.7, 0.25, 0.3, 0.7, 0.2, 0.8],
                           [0.45, 0.75, 0.8, 0.3, 0.8, 0.3]])
#: Accuracy the shipped emulator must keep at those points (fractions of V_RMS, fixed here, not read
#: from the card under test): median and maximum |emulator / JAM - 1| over each map.
SHIPPED_MEDIAN_ERROR = 0.005
SHIPPED_MAX_ERROR = 0.03


@pytest.mark.slow
@pytest.mark.skipif(not SHIPPED_CARD.exists(), reason=f"no shipped emulator in {SHIPPED_CARD.parent}")
def test_shipped_emulator_against_fresh_jampy_maps():
    card = json.loads(SHIPPED_CARD.read_text())
    emu = Emulator.load()
    settings = JAMSettings(**card["training"]["data_meta"]["jam_settings"])
    params = ParameterSpace.from_dict(card["space"]).from_unit(SHIPPED_POINTS)
    emu_maps = np.exp(emu.log_maps(params))
    for p, emu_map in zip(params, emu_maps):
        jam = dimensionless_map(*p, settings)
        err = np.abs(emu_map / jam - 1)
        assert np.median(err) < SHIPPED_MEDIAN_ERROR, f"median |error| {np.median(err):.3g} at {p}"
        assert err.max() < SHIPPED_MAX_ERROR, f"max |error| {err.max():.3g} at {p}"


# ------------------------------------------------------------------------------------- benchmark


def test_benchmark_script_runs_on_a_tiny_emulator(trained, tmp_path, capsys, monkeypatch):
    """Smoke test of ``bench/emulator.py`` (tiny sizes; the real run is documented in the script)."""
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "bench" / "emulator.py"
    monkeypatch.syspath_prepend(str(path.parent))  # as when run as `python bench/emulator.py`
    spec = importlib.util.spec_from_file_location("bench_emulator", path)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    out = tmp_path / "bench.json"
    result = bench.main(["--model", str(trained.out), "--json", str(out), "--batch", "16", "--npos", "20",
                         "--repeats", "1", "--min-time", "0", "--sigmas", "--nrad", "6", "--nang", "3", "-q"])
    saved = json.loads(out.read_text())
    assert saved["main"] == result["main"] and saved["sweep"] == []
    cases = {r["case"]: r for r in saved["main"]}
    assert {"jampy_grid", "torch_b1_cached", "torch_batch_uncached", "jax_vrms_b1", "jax_grid_batch"} <= set(cases)
    for r in saved["main"]:
        assert r["ms_per_map"] > 0
        assert (r["speedup_vs_jampy"] is None) == (r["engine"] == "jampy")
    ref = cases["jampy_grid"]["ms_per_map"]
    assert cases["torch_b1_cached"]["speedup_vs_jampy"] == pytest.approx(ref / cases["torch_b1_cached"]["ms_per_map"])
    assert saved["jam_settings"]["nrad"] == 6 and "torch" in saved["versions"]
    assert "jampy, map grid" in capsys.readouterr().out


def test_mlp_only_network_torch_equals_jax(tmp_path):
    """The MLP-only variant ((n, q_obs) inputs, no CNN) through both implementations."""
    import jax

    from fastjam.design import ParameterSpace
    from fastjam.emulator.model import Emulator
    from fastjam.emulator.network import EmulatorNetwork, NetworkConfig
    from fastjam.emulator.store import save_emulator
    from fastjam.galaxy import Galaxy, Sersic
    from fastjam.jam import DEFAULT_SETTINGS
    from fastjam.simulate import dataset_meta

    torch.manual_seed(3)
    net = EmulatorNetwork(NetworkConfig(use_image=False, hidden=(32, 32), n_basis=8))
    meta = dataset_meta(1, 0, ParameterSpace(), DEFAULT_SETTINGS)
    save_emulator(tmp_path, net, meta["space"], meta["grid"], {})
    emu = Emulator.load(tmp_path)
    galaxy = Galaxy(Sersic(2.5, 6.0, 0.55, 2e10), 30.0, 0.5, 0.4)
    rng = np.random.default_rng(5)
    x, y = rng.uniform(-14, 14, (2, 40))
    fn = jax.jit(emu.bind(galaxy, x, y))
    for inc, beta, ml in [(70.0, 0.1, 2.0), (85.0, -0.1, 5.0)]:
        np.testing.assert_allclose(np.asarray(fn(inc, beta, ml)), emu.vrms(galaxy, inc, beta, ml, x, y)[0],
                                   rtol=1e-5)


# ------------------------------------------------------------------ stored features, images, shipped JAX


def test_training_and_inference_photometry_images_are_equal():
    """The image stored with a training map (fastjam.simulate) is the one the emulator encodes at fit time."""
    from fastjam.simulate import compute_map

    params = ParameterSpace().from_unit(np.array([[0.3, 0.6, 0.5, 0.5, 0.5, 0.5]]))[0]
    out = compute_map(0, params, JAMSettings(nrad=10, nang=6))
    assert out["error"] is None
    np.testing.assert_array_equal(out["arrays"]["image"], sersic_image(params[0], params[1]))


def test_loading_refuses_weights_with_another_feature_definition(trained, tmp_path):
    from fastjam.emulator.store import update_card

    out = tmp_path / "model"
    shutil.copytree(trained.out, out)
    card = json.loads((out / "emulator.json").read_text())
    changed = json.loads(json.dumps(card["features"]))
    changed["params"][2]["range"][1] = 0.8  # beta_z mapped from another range
    update_card(out, features=changed)
    with pytest.raises(ValueError, match="other input features"):
        Emulator.load(out)
    card.pop("features")
    (out / "emulator.json").write_text(json.dumps(card))
    with pytest.raises(ValueError, match="no feature definition"):
        Emulator.load(out)


@pytest.mark.skipif(not SHIPPED_CARD.exists(), reason=f"no shipped emulator in {SHIPPED_CARD.parent}")
def test_shipped_emulator_torch_equals_pure_jax():
    """The shipped weights through torch and through the pure-JAX bound model agree to 1e-5."""
    emu = Emulator.load()
    galaxy = Galaxy(Sersic(4.0, 8.0, 0.65, 3e10), 25.0, 0.8, 0.8)
    x, y = np.random.default_rng(9).uniform(-19.5, 19.5, (2, 60))
    bound = jax.jit(emu.bind(galaxy, x, y))
    for inc, beta, ml in [(55.0, 0.0, 3.0), (70.0, 0.25, 5.0), (89.0, -0.15, 1.5)]:
        np.testing.assert_allclose(np.asarray(bound(inc, beta, ml)), emu.vrms(galaxy, inc, beta, ml, x, y)[0],
                                   rtol=1e-5)

"""General-photometry emulator: unit photometry, domain, exact anchors, torch = JAX, shipped model."""
import os
from pathlib import Path

import numpy as np
import pytest

from fastjam.emulator.general_features import (BETA_LO, PIXSIZE_RATIO_CLAMP, PROFILE_ANGLES, PROFILE_FLOOR,
                                               PROFILE_RADII, anchor_weight, beta_hi, f_from_anchors,
                                               global_features, jeans_features, profile_features, q_intr)
from fastjam.photometry import check_domain, domain_violations, unit_photometry
from fastjam.physics.mge import MGE, sersic_mge


def _sersic_unit(n=4.0, q=0.7, r_e=10.0):
    return unit_photometry(sersic_mge(n, q, r_e=r_e, l_tot=1e10, distance=20.0), 20.0)


def test_unit_photometry_of_a_sersic_mge_recovers_r_e_and_l_tot():
    for n in (1.0, 4.0):  # (an n = 8 MGE truncated at 100 R_e misses 3% of the light)
        unit = _sersic_unit(n)
        assert unit.r_e == pytest.approx(10.0, rel=0.01)
        assert unit.l_tot == pytest.approx(1e10, rel=0.01)
        assert np.sum(unit.weight) == pytest.approx(1.0, rel=1e-10)


def test_profile_features_project_the_density_and_ignore_splitting():
    """Edge-on, the surface brightness on the major axis is the density integrated along the line of sight,
    nu(x, 0) sqrt(2 pi) sigma for one Gaussian; splitting a Gaussian in two equal halves changes nothing."""
    ln_sigma, qobs, weight, cos_i = np.log([0.7]), np.array([0.4]), np.array([1.0]), np.array(0.0)
    feat = profile_features(ln_sigma, qobs, weight, cos_i) * 10
    n_r = PROFILE_RADII.size
    nu, surf = np.exp(feat[:n_r]) - PROFILE_FLOOR, np.exp(feat[feat.size // 2:][:n_r]) - PROFILE_FLOOR
    np.testing.assert_allclose(surf, nu * np.sqrt(2 * np.pi) * 0.7, rtol=1e-9)
    assert PROFILE_ANGLES[0] == 0
    split = profile_features(np.log([0.7, 0.7, 0.2]), np.array([0.4, 0.4, 0.9]), np.array([0.3, 0.3, 0.4]),
                             np.array(0.5))
    whole = profile_features(np.log([0.7, 0.2]), np.array([0.4, 0.9]), np.array([0.6, 0.4]), np.array(0.5))
    np.testing.assert_allclose(split, whole, rtol=1e-12)


def test_jeans_features_are_jampy_intrinsic_moments():
    """sigma_z^2 and v_phi^2 rebuilt from the features equal jampy's isotropic intrinsic moments (jam.axi.intr,
    align='cyl', mass follows light), down to a flat (q_intr = 0.08) Gaussian; splitting a Gaussian changes nothing."""
    jam = pytest.importorskip("jampy")
    rng = np.random.default_rng(3)
    sigma, qobs, weight = np.geomspace(0.05, 3, 6), rng.uniform(0.2, 0.95, 6), rng.uniform(0.1, 1, 6)
    qobs[2], weight = 0.12, weight / weight.sum()
    cos_i = np.cos(np.radians(85.0))
    feat = jeans_features(np.log(sigma), qobs, weight, np.array(cos_i))
    n = PROFILE_RADII.size * PROFILE_ANGLES.size
    sig2z, gamma, v_c2 = np.exp(feat[:n] * 5), np.sinh(feat[n:2 * n] * 3), np.exp(feat[2 * n:] * 5)
    big_r, z = (np.outer(trig(PROFILE_ANGLES), PROFILE_RADII).ravel() for trig in (np.cos, np.sin))
    off_axis = big_r > 1e-6  # jampy's R = 0 is singular
    q = q_intr(qobs, cos_i)
    dens = weight / ((2 * np.pi) ** 1.5 * sigma**3 * q)
    g = 0.004301  # jampy's G [(km/s)^2 pc / Msun]: lengths in pc, R_e = 1 pc, L_tot = 1 Lsun
    out = jam.axi.intr(dens, sigma, q, dens, sigma, q, 0.0, big_r[off_axis], z[off_axis], align="cyl",
                       beta=np.zeros(6), plot=False, quiet=True, interp=False)
    _, jam_sig2z, _, jam_v2phi = out.model
    np.testing.assert_allclose(g * sig2z[off_axis], jam_sig2z, rtol=5e-3)
    np.testing.assert_allclose(g * (sig2z * (1 + gamma) + v_c2)[off_axis], jam_v2phi, rtol=5e-3)
    split = jeans_features(np.log([0.7, 0.7, 0.2]), np.array([0.4, 0.4, 0.9]), np.array([0.3, 0.3, 0.4]),
                           np.array(0.5))
    whole = jeans_features(np.log([0.7, 0.2]), np.array([0.4, 0.9]), np.array([0.6, 0.4]), np.array(0.5))
    np.testing.assert_allclose(split, whole, rtol=1e-10, atol=1e-12)


def test_domain_violations_name_the_feature_and_value():
    unit = _sersic_unit(q=0.3)
    assert domain_violations(unit, 80.0, 0.1, 0.1, 0.05) == []
    with pytest.raises(ValueError, match=r"sigma_psf/R_e = 0\.8 "):
        check_domain(unit, sigma_psf_re=0.8, pixsize_re=0.1)
    with pytest.raises(ValueError, match=r"pixsize/sigma_psf = 3 "):
        check_domain(unit, sigma_psf_re=0.1, pixsize_re=0.3)
    with pytest.raises(ValueError, match=r"inclination = 60 deg is below 72\.\d+ deg.*q_obs = 0\.3"):
        check_domain(unit, inclination=60.0)
    with pytest.raises(ValueError, match=r"beta_z = 0\.6 is outside \[-0\.2, 0\.\d+\]"):
        check_domain(unit, inclination=80.0, beta_z=0.6)
    big = MGE(np.ones(31), np.geomspace(0.1, 10, 31), np.full(31, 0.8))
    with pytest.raises(ValueError, match="number of Gaussians = 31"):
        check_domain(unit_photometry(big, 10.0))
    nucleus = MGE([1.0, 1e6], [1.0, 1e-4], [0.8, 0.8])  # 1% of the light in a 1e-4 R_e nucleus
    with pytest.raises(ValueError, match=r"sigma/R_e of Gaussian 1 = 0\.000\d+ \(light fraction 0\.0099"):
        check_domain(unit_photometry(nucleus, 10.0))


def test_pixsize_below_the_clamp_is_emulated_at_the_clamp():
    """pixsize -> 0 is inside the domain and is given the features of pixsize/sigma_psf = 0.05."""
    unit = _sersic_unit()
    assert domain_violations(unit, sigma_psf_re=0.1, pixsize_re=0.0) == []
    small = global_features(np.array([0.5]), np.array([0.1]), np.array([1e-6]), np.array([0.2]))
    clamp = global_features(np.array([0.5]), np.array([0.1]), np.array([0.1 * PIXSIZE_RATIO_CLAMP]), np.array([0.2]))
    np.testing.assert_array_equal(small, clamp)


def test_anchor_combination_is_exact_in_beta_z():
    rng = np.random.default_rng(1)
    a, b = rng.uniform(0.1, 1, 50), rng.uniform(-0.05, 0.5, 50)
    b_hi = 0.5

    def ln_f(beta):
        return 0.5 * np.log(a + b / (1 - beta))

    for beta in (BETA_LO, -0.1, 0.0, 0.3, b_hi):
        f = f_from_anchors(ln_f(BETA_LO), ln_f(b_hi), anchor_weight(beta, b_hi))
        np.testing.assert_allclose(f, np.exp(ln_f(beta)), rtol=1e-12)


def test_beta_hi_is_set_by_the_roundest_gaussian_with_light():
    qobs = np.array([[0.3, 0.9, 1.0]])
    weight = np.array([[0.5, 0.5, 0.0]])  # the round one is padding
    q_intr_round = np.sqrt(0.9**2 - 0.25) / np.sqrt(0.75)
    assert beta_hi(qobs, weight, np.array([0.5]))[0] == pytest.approx(0.7 * (1 - q_intr_round))


@pytest.mark.parametrize("encoder, extra", [(e, {}) for e in ("pairs", "singles", "profile", "hybrid", "jeans")]
                         + [("hybrid", dict(profile_outer=(4.0, 9.0), profile_angles=(3.0,), decoder=(8, 8))),
                            ("hybrid", dict(profile_outer=(4.0,), profile_psf=True))])
def test_torch_and_jax_agree(tmp_path, encoder, extra):
    torch = pytest.importorskip("torch")
    from fastjam.emulator import general_jax
    from fastjam.emulator.jax_model import to_jax
    from fastjam.emulator.general import GeneralConfig, GeneralEmulatorNetwork
    from fastjam.emulator.general_data import network_inputs, with_profile_input
    from fastjam.emulator.general_evaluate import predict_ln_f
    from fastjam.emulator.general_features import smoothing_width
    from fastjam.emulator.store import load_arrays, save_emulator
    from fastjam.galaxy import Galaxy
    from fastjam.physics import grid
    from fastjam.physics.scaling import velocity_scale

    torch.manual_seed(0)
    net = GeneralEmulatorNetwork(GeneralConfig(encoder=encoder, token_hidden=(16,), latent=8, hidden=(32,),
                                               n_basis=8, **extra))
    with torch.no_grad():
        net.basis.weight.normal_(0, 0.05)
        if extra.get("decoder"):
            net.dec.out.weight.normal_(0, 0.05)  # a decoder starts at zero
    from fastjam.emulator.general_features import feature_definition

    save_emulator(tmp_path, net, dict(kind="general"), None, {}, features=feature_definition())
    arrays, card = load_arrays(tmp_path)
    galaxy = Galaxy(sersic_mge(2.5, 0.6, r_e=8.0, l_tot=1e10, distance=20.0), 20.0, 0.8, 0.5)
    unit = unit_photometry(galaxy.mge, galaxy.distance)
    xg, yg = grid.polar_grid()
    x, y = xg.ravel()[::97] * unit.r_e, yg.ravel()[::97] * unit.r_e
    vrms = general_jax.make_vrms_function(arrays, card, galaxy, x, y)
    inc, beta = 70.0, 0.1
    inp = dict(ln_sigma=np.log(unit.sigma)[None], qobs=unit.qobs[None], weight=unit.weight[None],
               cos_i=np.array([np.cos(np.radians(inc))]), sigma_psf_re=np.array([0.8 / unit.r_e]),
               pixsize_re=np.array([0.5 / unit.r_e]))
    inp["beta_hi"] = beta_hi(inp["qobs"], inp["weight"], inp["cos_i"])
    ln_f = predict_ln_f(net, inp, np.array([beta]))[0][::97]  # grid nodes: interpolation is exact there
    scale = velocity_scale(2.0, unit.l_tot, unit.r_e, galaxy.distance)
    np.testing.assert_allclose(np.asarray(vrms(inc, beta, 2.0)), np.exp(ln_f) * scale, rtol=1e-5)
    inputs = network_inputs(with_profile_input(inp, net.config), np.array([0]))
    out_t = net(*inputs).detach().numpy()
    out_j = general_jax.forward(to_jax(arrays), card["network"],
                                *[np.float32(inp[k][[0]]) for k in ("ln_sigma", "qobs", "weight", "cos_i")],
                                np.float32(inputs[4].numpy()),
                                smoothing=np.float32(smoothing_width(inp["sigma_psf_re"], inp["pixsize_re"])))
    np.testing.assert_allclose(np.asarray(out_j), out_t, atol=1e-5)


#: The general emulator under test: FASTJAM_EMULATOR_MGE or the shipped data/emulator_mge.
REPO = Path(__file__).resolve().parents[1]
MODEL = Path(os.environ.get("FASTJAM_EMULATOR_MGE", REPO / "data" / "emulator_mge"))


@pytest.fixture(scope="module")
def shipped():
    from fastjam.emulator.store import load_arrays

    if not (MODEL / "emulator.npz").exists():
        pytest.skip(f"no general emulator in {MODEL}: set FASTJAM_EMULATOR_MGE to a trained one")
    return load_arrays(MODEL)


def test_a_sersic_mge_gives_the_sersic_emulator_answer(shipped):
    """Both paths on one Sérsic galaxy inside both domains agree within the sum of their cards' p99."""
    from fastjam.emulator.general_jax import make_vrms_function
    from fastjam.emulator.model import Emulator
    from fastjam.galaxy import Galaxy, Sersic

    arrays, card = shipped
    sersic = Emulator.load()
    galaxy = Galaxy(Sersic(3.0, 8.0, 0.7, 2e10), 20.0, 0.8, 0.6)
    g = np.linspace(-2.2, 2.2, 9) * 8.0
    x, y = (v.ravel() for v in np.meshgrid(g, g))
    general = make_vrms_function(arrays, card, galaxy, x, y)
    tol = card["test_accuracy"]["pixel_p99"] + sersic.card["metrics"]["pixel"]["p99"]
    for inc, beta in ((60.0, 0.0), (80.0, 0.15)):
        e = np.asarray(general(inc, beta, 3.0)) / sersic.vrms(galaxy, inc, beta, 3.0, x, y)[0] - 1
        assert np.percentile(np.abs(e), 99) < tol, (inc, beta, np.abs(e).max(), tol)


@pytest.mark.slow
def test_shipped_network_on_fresh_jampy_maps(shipped):
    """Three random multi-component galaxies (a design seed never trained on) on 100 grid nodes:
    no more than 5% of the pixels beyond the card's pixel p99 (1% expected)."""
    from fastjam.emulator.general import GeneralEmulatorNetwork
    from fastjam.emulator.general_evaluate import predict_ln_f
    from fastjam.family import family_design, family_mge
    from fastjam.jam import JAMSettings, dimensionless_linear_maps
    from fastjam.physics import grid

    arrays, card = shipped
    net = GeneralEmulatorNetwork.from_arrays(arrays, card)
    nodes = np.random.default_rng(3).choice(grid.NTHETA * grid.NR, 100, replace=False)
    xg, yg = (v.ravel()[nodes] for v in grid.polar_grid())
    errs = []
    for p in family_design(3, seed=777):
        surf, sigma, qobs = family_mge(p)
        a, b = dimensionless_linear_maps((surf, sigma, qobs), p[1], p[2], p[3], JAMSettings(), xg, yg)
        weight = 2 * np.pi * surf * qobs * sigma**2
        inp = dict(ln_sigma=np.log(sigma)[None], qobs=qobs[None], weight=weight[None],
                   cos_i=np.array([np.cos(np.radians(p[1]))]), sigma_psf_re=p[2:3], pixsize_re=p[3:4])
        inp["beta_hi"] = beta_hi(inp["qobs"], inp["weight"], inp["cos_i"])
        for beta in (BETA_LO, 0.5 * (BETA_LO + inp["beta_hi"][0])):
            ln_f = predict_ln_f(net, inp, np.array([beta]))[0][nodes]
            errs.append(np.exp(ln_f) / np.sqrt(a + b / (1 - beta)) - 1)
    frac = np.mean(np.abs(np.concatenate(errs)) > card["test_accuracy"]["pixel_p99"])
    assert frac < 0.05, frac


def test_real_galaxy_mges_are_inside_the_domain_or_say_why():
    from fastjam.photometry import GeneralDomain

    root = REPO / "examples" / "real_mges"
    for name in ("m32", "ngc4342", "ngc5831"):
        mge = MGE(*np.loadtxt(root / f"{name}_mge.txt", unpack=True))
        unit = unit_photometry(mge, 10.0)
        assert unit.sigma.size <= GeneralDomain().max_gaussians
        assert domain_violations(unit, 89.0, -0.1, 0.64 / unit.r_e, 0.8 / unit.r_e) == []
    with pytest.raises(ValueError, match=r"inclination = 60 deg is below 80\.\d+ deg.*q_obs = 0\.179"):
        check_domain(unit_photometry(MGE(*np.loadtxt(root / "ngc4342_mge.txt", unpack=True)), 10.0), 60.0)


def test_novelty_ranks_maps_by_their_distance_from_the_training_maps(rng):
    """Synthetic coefficients: held-out maps from the training distribution spread over all percentiles,
    a map far outside it is beyond every held-out map and read in the last band; distances are linear in
    between the inclinations of a curve."""
    from fastjam.emulator.novelty import BANDS, K_NEAREST, NoveltyCurve, calibration, distance, reference
    from fastjam.physics import grid

    train, test = rng.normal(size=(400, 40)), rng.normal(size=(200, 40))
    arrays = reference(train)
    assert arrays["novelty.points"].shape == (400, 32)
    assert np.mean(distance(arrays, train[:50])) < np.mean(distance(arrays, test))  # each is its own neighbour
    d_test = distance(arrays, test)
    size = 0.001 * d_test[:, None]  # errors growing with novelty, |e| the same over each map
    sign = np.where(np.arange(grid.NTHETA * grid.NR) % 2, 1.0, -1.0)
    err = np.concatenate([size * np.ones_like(sign), size * sign])  # two anisotropies: a bias, then none
    entry = calibration(d_test, err)
    assert entry["k_nearest"] == K_NEAREST and [b["percentiles"] for b in entry["bands"]] == \
        [list(p) for p in zip(BANDS[:-1], BANDS[1:])]
    assert entry["n_maps"] == 200 and entry["n_betas"] == 2 and sum(b["n_maps"] for b in entry["bands"]) >= 200
    assert np.all(np.diff([b["rms_median"] for b in entry["bands"]]) > 0)
    for band in entry["bands"]:  # each band's error model: the RMS of its maps' e by radius
        a, b = np.percentile(d_test, band["percentiles"])
        sel = (d_test >= a) & (d_test <= b)
        np.testing.assert_allclose(band["error_model"]["frac_rms"], np.sqrt(np.mean(size[sel] ** 2)), rtol=1e-9)
        biases = np.concatenate([size[sel, 0], np.zeros(sel.sum())])
        assert band["bias_p95"] == pytest.approx(np.percentile(biases, 95), rel=1e-9)
    with pytest.raises(ValueError, match=r"err_test has shape \(3, 4096\)"):
        calibration(d_test, err[:3])
    far = distance(arrays, 10 + test[:1])
    curve = NoveltyCurve(np.array([40.0, 90.0]), np.array([np.median(d_test), far[0]]), entry)
    assert curve.at(40.0).percentile == pytest.approx(50, abs=1)
    assert curve.at(90.0).percentile == 100 and curve.at(90.0).rms_median == entry["bands"][-1]["rms_median"]
    assert curve.at(65.0).distance == pytest.approx(0.5 * (np.median(d_test) + far[0]))
    three = NoveltyCurve(np.array([40.0, 65.0, 90.0]), np.array([far[0], np.percentile(d_test, 60), 0.0]), entry)
    assert three.median().inclination == 65.0 and three.median().band is entry["bands"][1]  # 50-75: not the farthest


def test_coherent_share_is_the_part_of_the_error_that_is_each_maps_mean():
    from fastjam.emulator.general_evaluate import error_stats

    offset = np.full((2, 4), 0.01)
    ln_pattern = np.array([[0.01, -0.01, 0.01, -0.01], [-0.02, 0.02, -0.02, 0.02]])  # zero mean per map
    assert error_stats(offset)["coherent_share"] == pytest.approx(1.0, rel=1e-12)
    assert error_stats(np.expm1(ln_pattern))["coherent_share"] < 1e-20
    # in ln(1 + e): a 0.01 offset on the pattern of mean square 2.5e-4
    assert error_stats(np.expm1(ln_pattern + 0.01))["coherent_share"] == pytest.approx(1e-4 / 3.5e-4, rel=1e-9)


def test_local_features_are_the_light_at_the_position():
    """For one Gaussian the decoder's local inputs are ln r, the angle, the analytic ln nu and ln Sigma and
    its q_obs; positions are folded into the first quadrant; numpy = torch."""
    torch = pytest.importorskip("torch")
    from fastjam.emulator.general_decoder import N_LOCAL, local_features

    sigma, q, cos_i = 0.8, 0.5, np.array(0.3)
    x, y = np.array([0.3, -0.3, 1.5]), np.array([0.4, -0.4, 0.0])
    feat = local_features(np.log([sigma]), np.array([q]), np.array([1.0]), cos_i, x, y)
    assert feat.shape == (3, N_LOCAL)
    np.testing.assert_allclose(feat[0], feat[1], rtol=1e-12)
    np.testing.assert_allclose(np.exp(3 * feat[:, 0]), np.sqrt(x**2 + y**2 + 0.01**2), rtol=1e-12)
    np.testing.assert_allclose(feat[:, 1], [4 / np.pi * np.arctan2(0.4, 0.3) - 1] * 2 + [-1], rtol=1e-9)
    surf = np.exp(-(x**2 + (y / q) ** 2) / (2 * sigma**2)) / (2 * np.pi * sigma**2 * q)
    np.testing.assert_allclose(np.exp(10 * feat[:, 3]) - PROFILE_FLOOR, surf, rtol=1e-9)
    qi = q_intr(q, cos_i)
    nu = np.exp(-(x**2 + (y / qi) ** 2) / (2 * sigma**2)) / ((2 * np.pi) ** 1.5 * sigma**3 * qi)
    np.testing.assert_allclose(np.exp(10 * feat[:, 2]) - PROFILE_FLOOR, nu, rtol=1e-9)
    np.testing.assert_allclose(feat[:, 4], 2 * q - 1, rtol=1e-9)
    two = local_features(np.log([0.3, 2.0]), np.array([0.2, 0.9]), np.array([0.5, 0.5]), cos_i, x, y)
    assert np.all((two[:, 4] > 2 * 0.2 - 1) & (two[:, 4] < 2 * 0.9 - 1))  # a light-weighted mean of the two
    t = local_features(*(torch.as_tensor(v, dtype=torch.float64) for v in (np.log([0.3, 2.0]), [0.2, 0.9],
                                                                             [0.5, 0.5], cos_i)), x, y, torch)
    np.testing.assert_allclose(t.numpy(), two, rtol=1e-10)


def test_outer_radii_and_a_decoder_extend_a_network_that_starts_as_the_old_one():
    """warm_start into a design with further profile radii and a decoder reproduces the old network's maps
    (the new inputs start with zero weights, the decoder with a zero output); a node subset is the full map's
    subset; other designs, a decoder without anchors and outer radii without a profile are refused."""
    torch = pytest.importorskip("torch")
    from fastjam.emulator.general import GeneralConfig, GeneralEmulatorNetwork

    torch.manual_seed(1)
    small = dict(encoder="hybrid", token_hidden=(16,), latent=8, hidden=(32,), n_basis=8)
    old = GeneralEmulatorNetwork(GeneralConfig(**small, profile_outer=(4.0,)))
    new = GeneralEmulatorNetwork(GeneralConfig(**small, profile_outer=(4.0, 8.0), decoder=(8,))).warm_start(old)
    unit = _sersic_unit(2.0, 0.6)
    k = unit.sigma.size
    args = [torch.as_tensor(v, dtype=torch.float32)[None] for v in (np.log(unit.sigma), unit.qobs, unit.weight)]
    args += [torch.tensor([0.4]), torch.as_tensor(global_features(0.4, 0.1, 0.05, 0.2), dtype=torch.float32)[None]]
    with torch.no_grad():
        np.testing.assert_allclose(new(*args).numpy(), old(*args).numpy(), rtol=0, atol=1e-6)
        new.dec.out.weight.normal_(0, 0.1)
        nodes = np.array([0, 5, 4000])
        full = new(*args).numpy().reshape(1, 2, -1)[:, :, nodes].reshape(1, -1)
        np.testing.assert_allclose(new(*args, nodes=nodes).numpy(), full, rtol=0, atol=1e-6)
    assert k == args[0].shape[1]
    with pytest.raises(ValueError, match="another design"):
        GeneralEmulatorNetwork(GeneralConfig(**small)).warm_start(old)  # fewer radii
    with pytest.raises(ValueError, match="anchors"):
        GeneralConfig(**dict(small, output="direct"), decoder=(8,))
    with pytest.raises(ValueError, match="profile_outer"):
        GeneralConfig(**dict(small, encoder="singles"), profile_outer=(4.0,))


def test_wider_layers_extend_a_network_that_starts_as_the_old_one_and_learns():
    """warm_start into wider encoders, latent and MLP (Net2Net-style) reproduces the old network's maps, the
    new units get gradients from the first step (their outgoing weights are zero, their incoming ones not);
    a narrower or deeper network is refused."""
    torch = pytest.importorskip("torch")
    from fastjam.emulator.general import GeneralConfig, GeneralEmulatorNetwork

    torch.manual_seed(3)
    small = dict(encoder="hybrid", n_basis=8, profile_outer=(4.0,))
    old = GeneralEmulatorNetwork(GeneralConfig(**small, token_hidden=(16,), latent=8, hidden=(32, 32)))
    wide = GeneralConfig(**small, token_hidden=(24,), latent=12, hidden=(48, 40))
    new = GeneralEmulatorNetwork(wide).warm_start(old)
    unit = _sersic_unit(2.0, 0.6)
    args = [torch.as_tensor(v, dtype=torch.float32)[None] for v in (np.log(unit.sigma), unit.qobs, unit.weight)]
    args += [torch.tensor([0.4]), torch.as_tensor(global_features(0.4, 0.1, 0.05, 0.2), dtype=torch.float32)[None]]
    np.testing.assert_allclose(new(*args).detach().numpy(), old(*args).detach().numpy(), rtol=0, atol=1e-6)
    assert torch.all(new.coeff.weight[:, 32:] == 0) and torch.all(new.mlp[0].weight[:32, 8:12] == 0)
    assert torch.all(new.mlp[0].weight[32:] != 0)  # the new units' incoming weights are random
    new(*args).sum().backward()
    assert new.coeff.weight.grad[:, 32:].abs().max() > 0  # and they learn from the first step
    for narrower in (dict(token_hidden=(8,), latent=12, hidden=(48, 40)), dict(token_hidden=(24,), latent=12,
                                                                                hidden=(48, 40, 40))):
        with pytest.raises(ValueError, match="another design"):
            GeneralEmulatorNetwork(GeneralConfig(**small, **narrower)).warm_start(old)


def test_further_angles_extend_a_network_and_sample_the_light_where_named():
    """profile_angles append the light at those angles at every radius (the 0-deg columns equal the
    major-axis columns of the base grid, at the outer radii too); warm_start into more angles reproduces
    the old network; outer radii added after angles, and angles outside [0, 90] deg, are refused."""
    torch = pytest.importorskip("torch")
    from fastjam.emulator.general import GeneralConfig, GeneralEmulatorNetwork
    from fastjam.emulator.general_features import (PROFILE_ANGLES, PROFILE_RADII, n_profile_input, profile_input)

    unit = _sersic_unit(2.0, 0.3)
    mge = (np.log(unit.sigma)[None], unit.qobs[None], unit.weight[None], np.array([0.2]))
    outer = (4.0, 8.0)
    full = profile_input("hybrid", *mge, outer=outer, angles=(0.0, 5.0))
    assert full.shape == (1, n_profile_input("hybrid", 2, 2))
    n_r, n_phi = PROFILE_RADII.size, PROFILE_ANGLES.size
    base_nu = full[0, :n_r * n_phi].reshape(n_phi, n_r)[0]  # nu on the major axis (angle 0)
    outer_nu = full[0, 2 * n_r * n_phi:][[0, 2 * n_phi]]  # nu at 4 and 8 R_e, angle 0
    new_nu = full[0, 2 * (n_r + 2) * n_phi:][:n_r + 2]  # the first further angle (0 deg), nu at all radii
    np.testing.assert_allclose(new_nu, np.concatenate([base_nu, outer_nu]), rtol=1e-12)
    tilted = full[0, -2 * (n_r + 2):][:n_r + 2]  # nu at 5 deg: below the major axis for a flattened galaxy
    assert np.all(tilted[2:] < new_nu[2:])

    torch.manual_seed(2)
    small = dict(encoder="hybrid", token_hidden=(16,), latent=8, hidden=(32,), n_basis=8, profile_outer=outer)
    old = GeneralEmulatorNetwork(GeneralConfig(**small, profile_angles=(5.0,)))
    new = GeneralEmulatorNetwork(GeneralConfig(**small, profile_angles=(5.0, 2.0))).warm_start(old)
    args = [torch.as_tensor(v, dtype=torch.float32) for v in mge]
    args.append(torch.as_tensor(global_features(0.2, 0.1, 0.05, 0.2), dtype=torch.float32)[None])
    with torch.no_grad():
        np.testing.assert_allclose(new(*args).numpy(), old(*args).numpy(), rtol=0, atol=1e-6)
    with pytest.raises(ValueError, match="another design"):
        GeneralEmulatorNetwork(GeneralConfig(**dict(small, profile_outer=outer + (12.0,)),
                                             profile_angles=(5.0,))).warm_start(old)
    with pytest.raises(ValueError, match="profile_angles"):
        GeneralConfig(**small, profile_angles=(95.0,))


def test_the_smoothed_surface_brightness_is_the_convolution_and_extends_a_network():
    """smoothed_surface_features equals the surface brightness convolved numerically with a round Gaussian
    (to 1e-5 in ln), tends to the unsmoothed profile as the width goes to 0, and a network given it by
    warm_start starts as the old one; a network with it refuses to run without the smoothing width."""
    torch = pytest.importorskip("torch")
    from fastjam.emulator.general import GeneralConfig, GeneralEmulatorNetwork
    from fastjam.emulator.general_features import light_at, profile_features, smoothed_surface_features

    mge = (np.log([[0.15, 0.5, 1.5]]), np.array([[0.9, 0.25, 0.6]]), np.array([[0.3, 0.5, 0.2]]))  # resolved by the sum
    s, radii, angles = 0.2, np.array([0.1, 0.5, 1.5]), np.radians([0.0, 60.0])
    got = smoothed_surface_features(*mge, np.array([s]), radii=radii, angles=angles)[0]
    step = s / 12
    u = np.arange(-6 * s, 6 * s + step / 2, step)
    du, dv = (a.ravel() for a in np.meshgrid(u, u))
    kernel = np.exp(-(du**2 + dv**2) / (2 * s**2)) * step**2 / (2 * np.pi * s**2)
    along, across = (np.outer(trig(angles), radii).ravel() for trig in (np.cos, np.sin))
    expected = [np.sum(kernel * light_at(*mge, np.array([0.5]), a + du, c + dv)[1][0]) for a, c in zip(along, across)]
    np.testing.assert_allclose(got, np.log(np.array(expected) + PROFILE_FLOOR) / 10, rtol=0, atol=1e-5)
    sharp = smoothed_surface_features(*mge, np.array([1e-6]))[0]
    unsmoothed = profile_features(*mge, np.array([0.5]))[0, PROFILE_RADII.size * PROFILE_ANGLES.size:]  # ln Sigma
    np.testing.assert_allclose(sharp, unsmoothed, rtol=0, atol=1e-7)

    torch.manual_seed(4)
    small = dict(encoder="hybrid", token_hidden=(16,), latent=8, hidden=(32,), n_basis=8, profile_outer=(4.0,))
    old = GeneralEmulatorNetwork(GeneralConfig(**small))
    new = GeneralEmulatorNetwork(GeneralConfig(**small, profile_psf=True)).warm_start(old)
    args = [torch.as_tensor(v, dtype=torch.float32) for v in mge] + [torch.tensor([0.4])]
    glob = torch.as_tensor(global_features(0.4, 0.1, 0.05, 0.2), dtype=torch.float32)[None]
    prof = new.config.profile_input(*args, torch, smoothing=torch.tensor([0.1]))
    assert prof.shape == (1, new.config.n_profile_input)
    with torch.no_grad():
        np.testing.assert_allclose(new(*args, glob, prof).numpy(), old(*args, glob).numpy(), rtol=0, atol=1e-6)
    with pytest.raises(ValueError, match="smoothing width"):
        new(*args, glob)
    with pytest.raises(ValueError, match="another design"):  # outer radii after the smoothed columns
        GeneralEmulatorNetwork(GeneralConfig(**dict(small, profile_outer=(4.0, 8.0)), profile_psf=True)).warm_start(new)
    with pytest.raises(ValueError, match="profile_psf"):
        GeneralConfig(encoder="singles", profile_psf=True)

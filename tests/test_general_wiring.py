"""The general emulator in a fit: the loader, the bound JAX model, the domain, the error model.

A tiny general network trained for a few epochs on six jampy maps (coarse JAM grid) stands in
for a trained one: these tests check the wiring, not the accuracy.
"""
from types import SimpleNamespace

import numpy as np
import pytest

from fastjam.config import load_config
from fastjam.galaxy import Galaxy, Sersic
from fastjam.physics.mge import MGE, sersic_mge

DISTANCE = 20.0
TRUTH = dict(inclination=80.0, beta_z=0.05, ml=3.0)


def _bulge_disk(distance=DISTANCE):
    """A bulge (n = 4, q = 0.8, every other Gaussian) and a flat disk (n = 1, q = 0.3).

    mgefit drops Gaussians of zero weight, so the count depends on its fit: 24 and 26 on different machines.
    """
    bulge, disk = sersic_mge(4.0, 0.8, r_e=5.0, l_tot=1.4e10, distance=distance), \
        sersic_mge(1.0, 0.3, r_e=12.0, l_tot=3e9, distance=distance)
    return MGE(*(np.concatenate([getattr(bulge, k)[::2], getattr(disk, k)]) for k in ("surf", "sigma", "qobs")))


def _family_inputs(n, seed):
    """Network inputs of ``n`` family galaxies (Sobol ``seed``) with coarse jampy maps (10 x 6 grid)."""
    from fastjam.emulator.general_data import map_inputs
    from fastjam.family import FamilySpace, family_design, family_mge, pad_mge
    from fastjam.jam import JAMSettings, dimensionless_linear_maps

    design = family_design(n, seed=seed, space=FamilySpace(sigma_psf_re=(0.05, 0.3)))
    mges = [family_mge(p) for p in design]
    ab = [dimensionless_linear_maps(m, p[1], p[2], p[3], JAMSettings(nrad=10, nang=6)) for m, p in zip(mges, design)]
    return map_inputs(SimpleNamespace(mge=np.stack([pad_mge(*m) for m in mges]), params=design,
                                      a=np.stack([a for a, _ in ab]), b=np.stack([b for _, b in ab])))


@pytest.fixture(scope="module")
def general(tmp_path_factory):
    """A general emulator artefact (weights and a card with its error model) and its torch network."""
    pytest.importorskip("torch")
    from fastjam.emulator.general import GeneralConfig
    from fastjam.atomic import write_npz
    from fastjam.emulator.general_evaluate import error_card, novelty_card
    from fastjam.emulator.general_train import GeneralTrainConfig, train_general
    from fastjam.emulator.store import update_card

    inp = _family_inputs(6, seed=21)
    out = tmp_path_factory.mktemp("general")
    part = [{k: v[idx] for k, v in inp.items()} for idx in (slice(0, 5), slice(5, 6))]
    _, net = train_general(*part, out, GeneralConfig(encoder="singles", token_hidden=(16,), latent=8, hidden=(32,),
                                                     n_basis=8),
                           GeneralTrainConfig(epochs=20, batch_size=5, patience=20, lr=3e-3), progress=False)
    novelty_arrays, novelty = novelty_card(net, part[0], inp)
    write_npz(out / "emulator.npz", **dict(np.load(out / "emulator.npz")), **novelty_arrays)
    update_card(out, **error_card(net, inp), novelty=novelty)
    return SimpleNamespace(path=out, net=net)


@pytest.fixture()
def general_default(general, monkeypatch):
    """The artefact as the default general emulator ($FASTJAM_EMULATOR_MGE)."""
    monkeypatch.setenv("FASTJAM_EMULATOR_MGE", str(general.path))
    return general


def _positions(r_e, n=9, half=2.2):
    g = np.linspace(-half, half, n) * r_e
    x, y = (v.ravel() for v in np.meshgrid(g, 0.6 * g))
    return x + 0.013 * r_e, y  # off the map grid's nodes


def test_bound_model_is_the_torch_network_times_the_velocity_scale(general):
    """Emulator.load + bind (pure JAX) at off-grid data positions = the torch network's two anchors
    interpolated there, combined at beta_z, times the analytic scale sqrt(G M/L L_tot/(R_e D))."""
    import jax
    import torch

    from fastjam.emulator import Emulator
    from fastjam.emulator.general_features import anchor_weight, beta_hi, f_from_anchors
    from fastjam.emulator.general_data import network_inputs
    from fastjam.emulator.jax_model import interpolation_weights
    from fastjam.photometry import unit_photometry
    from fastjam.physics.scaling import velocity_scale

    galaxy = Galaxy(_bulge_disk(), DISTANCE, 0.6, 0.5)
    unit = unit_photometry(galaxy.mge, DISTANCE)
    x, y = _positions(unit.r_e)
    model = jax.jit(Emulator.load(general.path).bind(galaxy, x, y))
    inp = dict(ln_sigma=np.log(unit.sigma)[None], qobs=unit.qobs[None], weight=unit.weight[None],
               sigma_psf_re=np.array([0.6 / unit.r_e]), pixsize_re=np.array([0.5 / unit.r_e]))
    for inc, beta, ml in ((80.0, 0.05, 3.0), (88.0, -0.15, 0.7)):
        inp["cos_i"] = np.array([np.cos(np.radians(inc))])
        inp["beta_hi"] = beta_hi(inp["qobs"], inp["weight"], inp["cos_i"])
        with torch.no_grad():
            out = general.net(*network_inputs(inp, np.array([0])))[0].double().numpy()
        w = interpolation_weights(x / unit.r_e, y / unit.r_e)
        lo, hi = w @ out[: out.size // 2], w @ out[out.size // 2:]
        f = f_from_anchors(lo, hi, anchor_weight(beta, inp["beta_hi"][0]))
        expect = f * velocity_scale(ml, unit.l_tot, unit.r_e, DISTANCE)
        np.testing.assert_allclose(np.asarray(model(inc, beta, ml)), expect, rtol=1e-5)


def test_galaxies_with_other_numbers_of_gaussians_share_one_compilation(general):
    """Tokens are padded to MAX_GAUSSIANS: a bound model of a 24- and of a 12-Gaussian MGE run through one
    compiled function, and the novelty curve of the second galaxy compiles nothing either."""
    import jax

    from fastjam.compilation import compilations
    from fastjam.emulator import Emulator

    emulator = Emulator.load(general.path)
    big = Galaxy(_bulge_disk(), DISTANCE, 0.6, 0.5)
    small = Galaxy(MGE(*(getattr(big.mge, k)[::2] for k in ("surf", "sigma", "qobs"))), DISTANCE, 0.6, 0.5)
    x, y = _positions(5.0)
    call = jax.jit(lambda model, inc: model(inc, 0.05, 3.0))
    values = [call(emulator.bind(big, x, y), 80.0), emulator.novelty(big)]
    before = compilations()
    values += [call(emulator.bind(small, x, y), 80.0), emulator.novelty(small)]
    assert compilations() == before
    assert not np.allclose(values[0], values[2])  # another galaxy, another answer


def _config(tmp_path, galaxy_lines, extra=""):
    """A fit configuration of the mock of :func:`_write_mock`, with the given [galaxy] lines."""
    path = tmp_path / "galaxy.toml"
    path.write_text(f"[galaxy]\n{galaxy_lines}\ndistance = {DISTANCE}\nsigma_psf = 0.6\npixsize = 0.5\n\n"
                    '[data]\npath = "vrms_bins.txt"\nformat = "text"\n\n[priors]\nml = [0.5, 20.0]\n\n'
                    f"[sampler]\nbackend = \"emcee\"\nseed = 3\nwalkers = 16\nsteps = 600\ness = 0\n{extra}")
    return path


def _mge_config(tmp_path, mge=None, extra=""):
    mge = _bulge_disk() if mge is None else mge
    np.savetxt(tmp_path / "mge.txt", np.column_stack([mge.surf, mge.sigma, mge.qobs]))
    if not (tmp_path / "vrms_bins.txt").exists():
        x, y = _positions(7.0, n=7)  # R_e of the bulge + disk: 7.19 arcsec
        np.savetxt(tmp_path / "vrms_bins.txt", np.column_stack([x, y, np.full(x.size, 200.0), np.full(x.size, 5.0)]))
    return _config(tmp_path, 'mge = "mge.txt"', extra)


def test_the_loader_picks_the_network_of_the_photometry(general_default, tmp_path):
    """An MGE galaxy gets the general emulator (default or [forward] emulator), a Sérsic galaxy the Sérsic one."""
    from fastjam.emulator import Emulator
    from fastjam.emulator.general_jax import BoundGeneralEmulator
    from fastjam.emulator.general_model import GeneralEmulator
    from fastjam.emulator.jax_model import BoundEmulator
    from fastjam.emulator.store import default_path
    from fastjam.fit import build_problem

    mge_galaxy = Galaxy(_bulge_disk(), DISTANCE, 0.6, 0.5)
    sersic_galaxy = Galaxy(Sersic(3.0, 8.0, 0.7, 2e10), DISTANCE, 0.6, 0.5)
    assert isinstance(Emulator.load(galaxy=mge_galaxy), GeneralEmulator)
    assert isinstance(Emulator.load(general_default.path), GeneralEmulator)
    if (default_path() / "emulator.npz").exists():
        sersic = Emulator.load(galaxy=sersic_galaxy)
        assert type(sersic) is Emulator and sersic.kind == "sersic"
    mge_problem = build_problem(load_config(_mge_config(tmp_path)))
    assert isinstance(mge_problem.posterior.model, BoundGeneralEmulator)
    novelty = mge_problem.novelty.at(75.0)  # the card's novelty calibration, read at an inclination
    assert 0 <= novelty.percentile <= 100 and novelty.inclination == 75.0 and novelty.rms_median > 0
    with_path = build_problem(load_config(_mge_config(tmp_path), {"forward.emulator": str(general_default.path)}))
    np.testing.assert_allclose(with_path.posterior.vrms(80.0, 0.0, 2.0), mge_problem.posterior.vrms(80.0, 0.0, 2.0))
    if (default_path() / "emulator.npz").exists():
        sersic_cfg = _config(tmp_path, "sersic_n = 3.0\nr_e = 10.0\nq_obs = 0.7\nl_tot = 2e10")
        model = build_problem(load_config(sersic_cfg)).posterior.model
        assert type(model) is BoundEmulator


def test_a_sersic_galaxy_outside_the_sersic_domain_is_fitted_with_the_general_emulator(general_default, tmp_path,
                                                                                      monkeypatch, caplog):
    """A Sérsic set-up the Sérsic emulator was not trained on (a pixel much smaller than the PSF, a round
    n < 1 galaxy) goes to the general emulator by default, saying which feature; an explicitly given
    emulator is kept; without general weights the Sérsic emulator refuses as before."""
    import logging

    from fastjam.emulator import Emulator
    from fastjam.emulator.general_jax import BoundGeneralEmulator
    from fastjam.emulator.general_model import GeneralEmulator
    from fastjam.emulator.model import for_galaxy
    from fastjam.emulator.store import default_path
    from fastjam.fit import build_problem

    if not (default_path() / "emulator.npz").exists():
        pytest.skip("no shipped Sérsic emulator")
    inside = Galaxy(Sersic(3.0, 8.0, 0.7, 2e10), DISTANCE, 0.8, 0.6)
    fine_pixel = Galaxy(Sersic(3.0, 8.0, 0.7, 2e10), DISTANCE, 2.0, 0.5)
    round_disk = Galaxy(Sersic(0.7, 8.0, 1.0, 2e10), DISTANCE, 0.8, 0.6)
    with caplog.at_level(logging.INFO, logger="fastjam.emulator.model"):
        assert type(Emulator.load(galaxy=inside)) is Emulator and not caplog.records
        assert isinstance(Emulator.load(galaxy=fine_pixel), GeneralEmulator)
        assert "pixsize/sigma_psf = 0.25 is outside [0.3, 1.5]" in caplog.text
        assert isinstance(Emulator.load(galaxy=round_disk), GeneralEmulator)
        assert "sersic n = 0.7 is outside [1, 8]; q_obs = 1 is outside [0.3, 0.99]" in caplog.text
    cached_default, explicit = Emulator.load(kind="sersic"), Emulator.load(default_path())
    assert isinstance(for_galaxy(cached_default, fine_pixel), GeneralEmulator)  # a survey worker's default
    assert for_galaxy(cached_default, inside) is cached_default and for_galaxy(explicit, fine_pixel) is explicit
    _mge_config(tmp_path)  # writes the bins
    cfg = load_config(_config(tmp_path, "sersic_n = 3.0\nr_e = 10.0\nq_obs = 0.7\nl_tot = 2e10"), {"galaxy.sigma_psf": 2.0})
    assert isinstance(build_problem(cfg).posterior.model, BoundGeneralEmulator)
    monkeypatch.setenv("FASTJAM_EMULATOR_MGE", str(tmp_path / "none"))
    refusing = Emulator.load(galaxy=fine_pixel)
    assert type(refusing) is Emulator
    with pytest.raises(ValueError, match=r"pixsize / sigma_psf"):
        refusing.bind(fine_pixel, np.array([1.0]), np.array([0.5]))


def test_no_general_weights_is_a_one_line_error_saying_what_to_do(tmp_path, monkeypatch, random_emulator):
    from fastjam.fit import build_problem

    monkeypatch.setenv("FASTJAM_EMULATOR_MGE", str(tmp_path / "none"))
    cfg = load_config(_mge_config(tmp_path))
    with pytest.raises(ValueError, match=r"^no general-photometry emulator for an MGE galaxy \(none in .*none\): "
                                         r"fit with --forward jam, or set \[forward\] emulator") as err:
        build_problem(cfg)
    assert "\n" not in str(err.value)
    with pytest.raises(ValueError, match=r"Sérsic photometry only: an MGE galaxy needs general-photometry weights "
                                         r"\(\[forward\] emulator = their directory.*--forward jam"):
        build_problem(cfg, emulator=random_emulator)
    assert build_problem(cfg, forward="jam").forward == "jam"


def test_every_single_sersic_mge_is_inside_the_general_domain():
    """The Sérsic MGEs of n = 0.5-8 (their outermost Gaussian reaches 65 R_e near n = 4.8) are all taken."""
    from fastjam.photometry import domain_violations, unit_photometry

    for n in np.r_[np.arange(0.5, 8.01, 0.5), 4.8, 5.2]:
        unit = unit_photometry(sersic_mge(n, 0.7, r_e=10.0, l_tot=1e10, distance=DISTANCE), DISTANCE)
        assert not domain_violations(unit), (n, domain_violations(unit))


def test_domain_errors_name_the_feature_value_and_range(general):
    from fastjam.emulator import Emulator

    emulator = Emulator.load(general.path)
    mge = _bulge_disk()
    r_e = emulator.effective_radius(Galaxy(mge, DISTANCE, 0.6, 0.5))
    x, y = _positions(r_e)
    with pytest.raises(ValueError, match=r"sigma_psf/R_e = 0\.8 is outside \[0\.01, 0\.5\]: use the JAM forward"):
        emulator.bind(Galaxy(mge, DISTANCE, 0.8 * r_e, 0.5), x, y)
    with pytest.raises(ValueError, match=r"pixsize/sigma_psf = 3 is outside \[0, 2\]"):
        emulator.bind(Galaxy(mge, DISTANCE, 0.6, 1.8), x, y)
    many = MGE(*(np.concatenate([v, v]) for v in (mge.surf, mge.sigma, mge.qobs)))
    with pytest.raises(ValueError, match=rf"number of Gaussians = {many.surf.size} exceeds 30"):
        emulator.bind(Galaxy(many, DISTANCE, 0.6, 0.5), x, y)
    with pytest.raises(ValueError, match=r"positions reach 3\.\d+ R_e, outside the emulated field"):
        emulator.bind(Galaxy(mge, DISTANCE, 0.6, 0.5), 1.5 * x, y)
    roundest = r"beta_z = 0\.5 is outside \[-0\.2, 0\.1449\] \(0\.7 \(1 - q_intr\) of the roundest Gaussian"
    with pytest.raises(ValueError, match=roundest):
        emulator.vrms(Galaxy(mge, DISTANCE, 0.6, 0.5), 80.0, 0.5, 2.0, x, y)


def test_the_priors_keep_every_draw_inside_the_domain(general):
    """beta_z up to 0.7 (1 - q_intr) of the roundest Gaussian (not the flattest), i >= the domain's lowest."""
    from fastjam.emulator import Emulator
    from fastjam.model import Priors
    from fastjam.photometry import domain_violations, unit_photometry

    galaxy = Galaxy(_bulge_disk(), DISTANCE, 0.6, 0.5)
    priors = Emulator.load(general.path).priors_within(Priors(galaxy.q_obs, beta_z_min=-0.5), galaxy)
    assert priors.q_obs_beta == pytest.approx(0.8) and priors.beta_z_min == -0.2
    draws = priors.sample(2000, np.random.default_rng(0))
    unit = unit_photometry(galaxy.mge, DISTANCE)
    bad = [v for i, b in zip(draws["inclination"], draws["beta_z"]) for v in domain_violations(unit, i, b)]
    assert not bad, bad[:3]
    assert np.max(draws["beta_z"]) > 0.9 * np.max(priors.beta_max(draws["inclination"]))


def test_pixsize_to_zero_is_emulated_at_the_clamp(general):
    """pixsize/sigma_psf below 0.05 gives the map of 0.05 exactly (the documented clamp)."""
    import jax

    from fastjam.emulator import Emulator
    from fastjam.emulator.general_features import PIXSIZE_RATIO_CLAMP

    emulator, mge = Emulator.load(general.path), _bulge_disk()
    x, y = _positions(7.0, n=5)
    call = jax.jit(lambda model: model(80.0, 0.05, 3.0))
    tiny, clamp = (call(emulator.bind(Galaxy(mge, DISTANCE, 0.6, pix), x, y))
                   for pix in (1e-5, 0.6 * PIXSIZE_RATIO_CLAMP))
    np.testing.assert_array_equal(np.asarray(tiny), np.asarray(clamp))


def test_the_likelihood_reads_the_general_card_error_model(general_default, tmp_path):
    """The card writer's radial RMS error and coherent bias enter the likelihood as a Sérsic card's do, raised
    to those of the held-out maps of the novelty band of the galaxy's median novelty over its prior's inclinations."""
    from fastjam.emulator.store import load_arrays
    from fastjam.fit import build_problem, error_band
    from fastjam.model import Z95, emulator_error_at
    from fastjam.photometry import unit_photometry

    _, card = load_arrays(general_default.path)
    assert card["metrics"]["per_map_bias"]["p95"] == pytest.approx(card["test_accuracy"]["map_bias_p95"])
    assert len(card["error_model"]["frac_rms"]) == len(card["error_model"]["radius_re"]) - 1
    problem = build_problem(load_config(_mge_config(tmp_path)))
    lik = problem.likelihood
    band = error_band(problem.novelty)
    mid = problem.novelty.median()
    assert band is mid.band and problem.error_band is band and mid.distance == np.median(problem.novelty.distances)  # 9 inclinations: one of them
    overall_bias = card["metrics"]["per_map_bias"]["p95"]
    assert lik.coherent_sigma == pytest.approx(max(band["bias_p95"], overall_bias) / Z95) and lik.coherent_sigma > 0
    r_e = unit_photometry(problem.galaxy.mge, DISTANCE).r_e
    expect = emulator_error_at(card, np.hypot(problem.x, problem.y) / r_e, band)
    np.testing.assert_allclose(np.asarray(lik.frac_model_err), expect)
    assert np.all(expect >= emulator_error_at(card, np.hypot(problem.x, problem.y) / r_e))  # never below the card's
    assert np.all(expect > 0)
    off = build_problem(load_config(_mge_config(tmp_path), {"likelihood.emulator_error": False,
                                                             "likelihood.coherent_error": False}))
    assert not np.any(np.asarray(off.likelihood.frac_model_err)) and off.likelihood.coherent_sigma == 0


def test_the_novelty_bench_takes_the_band_a_fit_of_the_same_galaxy_takes(general):
    """``bench/general_novelty.py``'s fit rule, from a set's map inputs (torch), gives each galaxy the novelty
    percentile a fit of it computes (:meth:`GeneralEmulator.novelty` from its MGE in arcsec, in JAX): the median
    of the curve over the inclinations its flattest Gaussian allows, not the one at its own inclination."""
    from conftest import load_bench

    from fastjam.emulator import Emulator
    from fastjam.emulator.novelty import prior_inclinations
    from fastjam.emulator.store import load_arrays
    from fastjam.family import FamilySpace, family_design, family_mge
    from fastjam.photometry import GeneralDomain

    bench = load_bench("general_novelty")
    arrays, card = load_arrays(general.path)
    inp = _family_inputs(6, seed=21)
    i_lowest = GeneralDomain().inclination[0]
    fit_pct = bench.fit_rule_percentiles(general.net, arrays, card["novelty"], inp, i_lowest)
    emulator = Emulator.load(general.path)
    design = family_design(6, seed=21, space=FamilySpace(sigma_psf_re=(0.05, 0.3)))
    for p, got in zip(design, fit_pct):
        mge = MGE(*family_mge(p))
        curve = emulator.novelty(Galaxy(mge, DISTANCE, p[2], p[3]))  # R_e = 1 arcsec
        np.testing.assert_allclose(curve.inclinations, prior_inclinations(mge.qobs.min(), i_lowest))
        assert got == pytest.approx(curve.median().percentile, abs=0.01)


def test_a_fit_of_a_mock_made_with_the_emulator_recovers_its_parameters(general_default, tmp_path):
    """Self-consistency of the wiring: noiseless V_RMS of the emulator at the truth with 1% errors, read back
    through the configuration. The MAP is within 0.005 of beta_z and 0.2% of M/L; every posterior median
    (emcee) within 2 posterior sd of the truth. (The tiny network barely depends on the inclination: its
    posterior is about as wide as the prior, sd ~ 5 deg.)"""
    from fastjam.fit import build_problem, find_map, fit

    path = _mge_config(tmp_path)
    problem = build_problem(load_config(path))
    vrms = problem.posterior.vrms(*TRUTH.values())
    np.savetxt(tmp_path / "vrms_bins.txt", np.column_stack([problem.x, problem.y, vrms, 0.01 * vrms]))
    cfg = load_config(path, {"likelihood.emulator_error": False, "likelihood.coherent_error": False})
    problem = build_problem(cfg)
    best = problem.posterior.to_physical(find_map(problem))
    assert best["beta_z"] == pytest.approx(TRUTH["beta_z"], abs=0.005)
    assert best["ml"] == pytest.approx(TRUTH["ml"], rel=0.002)
    result = fit(cfg, progress=False)
    for name, value in TRUTH.items():
        s = result.summary[name]
        assert abs(s["median"] - value) < 2 * s["sd"], (name, s)


def test_the_command_line_fits_an_mge_with_the_emulator_when_asked(general_default, tmp_path, capsys):
    """`fastjam fit CONFIG --forward emulator` overrides the configuration's `[forward] model = "jam"`."""
    from fastjam.cli import main

    path = _mge_config(tmp_path, extra='\n[forward]\nmodel = "jam"\n')
    main(["fit", str(path), "--forward", "emulator", "--no-progress", "--set", "sampler.steps=200"])
    assert "forward model emulator (general)" in capsys.readouterr().out


def test_a_survey_fits_sersic_and_mge_rows_each_with_its_emulator(general_default, tmp_path, monkeypatch):
    """One catalog, a Sérsic row and an MGE row: each gets the default emulator of its photometry; without
    general weights the MGE row is refused with the loader's message and the Sérsic row is still fitted."""
    from astropy.table import Table

    from fastjam import survey as survey_module
    from fastjam.emulator.store import default_path

    if not (default_path() / "emulator.npz").exists():
        pytest.skip("no shipped Sérsic emulator")
    _mge_config(tmp_path)
    (tmp_path / "catalog.csv").write_text(
        "id,sersic_n,r_e,q_obs,l_tot,mge,distance,sigma_psf,pixsize,kin_path,kin_format\n"
        f"sersic,3.0,7.0,0.7,3e10,,{DISTANCE},0.6,0.5,vrms_bins.txt,text\n"
        f"bulge_disk,,,,,mge.txt,{DISTANCE},0.6,0.5,vrms_bins.txt,text\n")
    (tmp_path / "tiny.toml").write_text('[sampler]\nbackend = "emcee"\nwalkers = 8\nsteps = 40\nseed = 1\n')

    def run(out):
        monkeypatch.setattr(survey_module, "_CACHE", {})
        survey_module.survey(tmp_path / "catalog.csv", tmp_path / out, settings=tmp_path / "tiny.toml", workers=0,
                             progress=False)
        table = Table.read(tmp_path / out / "results.fits")
        bands.update({gid: (lo, hi) for gid, lo, hi in zip(table["id"], table["error_band_lo"], table["error_band_hi"])})
        return {gid: (status, reason) for gid, status, reason in zip(table["id"], table["status"], table["reason"])}

    bands = {}
    rows = run("both")
    assert np.all(np.isnan(bands["sersic"])) and 0 <= bands["bulge_disk"][0] < bands["bulge_disk"][1] <= 100, bands
    assert {gid: status for gid, (status, _) in rows.items()} == dict(sersic="warning", bulge_disk="warning"), rows
    monkeypatch.setenv("FASTJAM_EMULATOR_MGE", str(tmp_path / "nowhere"))
    rows = run("no_general")
    assert rows["sersic"][0] == "warning" and rows["bulge_disk"][0] == "refused"
    assert "no general-photometry emulator" in rows["bulge_disk"][1]


def test_warm_start_begins_from_the_given_network(general, tmp_path):
    """train_general(init=net) starts at net's weights (one epoch at a negligible learning rate keeps its
    predictions), and refuses a network of another design."""
    import torch

    from fastjam.emulator.general import GeneralConfig
    from fastjam.emulator.general_data import network_inputs
    from fastjam.emulator.general_train import GeneralTrainConfig, train_general

    inp = _family_inputs(3, seed=22)
    part = [{k: v[idx] for k, v in inp.items()} for idx in (slice(0, 2), slice(2, 3))]
    config = general.net.config
    _, net = train_general(*part, tmp_path / "warm", config, GeneralTrainConfig(epochs=1, batch_size=2, lr=1e-12),
                           progress=False, init=general.net)
    with torch.no_grad():
        x = network_inputs(inp, np.arange(3))
        np.testing.assert_allclose(net(*x).numpy(), general.net(*x).numpy(), rtol=0, atol=1e-6)
    other = GeneralConfig(**{**config.as_dict(), "latent": 4})
    with pytest.raises(ValueError, match="another design"):
        train_general(*part, tmp_path / "other", other, GeneralTrainConfig(epochs=1), progress=False, init=general.net)


def test_hard_maps_and_radial_weights_train_and_validate_on_the_weighted_loss(general, tmp_path):
    """hard_share, radial_weight and centre_bias_weight run through training; the validation loss is the mean of
    omega r^2 over the pixels, omega = radial_weights(c), plus b_c times the mean over maps of the squared mean
    residual over the centre's nodes, at the validation anisotropies."""
    from fastjam.emulator.general_loss import centre_nodes, radial_weights
    from fastjam.emulator.general_data import draw_betas, true_ln_f
    from fastjam.emulator.general_evaluate import predict_ln_f
    from fastjam.emulator.general_train import GeneralTrainConfig, train_general

    inp = _family_inputs(4, seed=23)
    train, val = ({k: v[idx] for k, v in inp.items()} for idx in (slice(0, 3), slice(3, 4)))
    config = GeneralTrainConfig(epochs=3, batch_size=2, lr=1e-12, min_lr=0.0, hard_share=0.5, radial_weight=1.0,
                                centre_bias_weight=2.0, seed=5)
    result, net = train_general(train, val, tmp_path / "hard", general.net.config, config, progress=False,
                                init=general.net)
    assert result.epochs == 3
    rng = np.random.default_rng(5)
    betas = np.concatenate([draw_betas(val, rng) for _ in range(config.val_betas)])
    vinp = {k: np.concatenate([v] * config.val_betas) for k, v in val.items()}
    r = predict_ln_f(net, vinp, betas) - true_ln_f(vinp, betas)
    r2 = r**2
    expected = np.mean(r2 * radial_weights(1.0)) + 2.0 * np.mean(r[:, centre_nodes()].mean(1) ** 2)
    assert result.history["val_loss"][-1] == pytest.approx(expected, rel=1e-5)
    assert expected != pytest.approx(np.mean(r2), rel=1e-2)  # the weights matter on this map


def test_a_decoder_trains_on_node_subsets_and_the_bound_model_reads_it_at_the_data(general, tmp_path):
    """A network extended by a per-position decoder (warm start from the artefact) trains on random node
    subsets (decoder_nodes) and validates on whole maps; the bound JAX model evaluates the decoder at off-grid
    data positions: the torch basis maps interpolated there plus the torch decoder there, to 1e-5."""
    import torch

    from fastjam.emulator.general import GeneralConfig
    from fastjam.emulator.general_decoder import local_features
    from fastjam.emulator.general_loss import centre_nodes
    from fastjam.emulator.general_features import anchor_weight, beta_hi, f_from_anchors
    from fastjam.emulator.general_jax import bind
    from fastjam.emulator.general_data import network_inputs, draw_betas, true_ln_f
    from fastjam.emulator.general_evaluate import predict_ln_f
    from fastjam.emulator.general_train import GeneralTrainConfig, train_general
    from fastjam.emulator.jax_model import interpolation_weights
    from fastjam.emulator.store import load_arrays
    from fastjam.photometry import unit_photometry
    from fastjam.physics.scaling import velocity_scale

    inp = _family_inputs(4, seed=24)
    train, val = ({k: v[idx] for k, v in inp.items()} for idx in (slice(0, 3), slice(3, 4)))
    design = GeneralConfig.from_dict({**general.net.config.as_dict(), "decoder": [8, 8]})
    config = GeneralTrainConfig(epochs=2, batch_size=2, lr=3e-3, decoder_nodes=64, centre_bias_weight=1.0, seed=6)
    result, net = train_general(train, val, tmp_path / "dec", design, config, progress=False, init=general.net)
    rng = np.random.default_rng(6)
    betas = np.concatenate([draw_betas(val, rng) for _ in range(config.val_betas)])
    vinp = {k: np.concatenate([v] * config.val_betas) for k, v in val.items()}
    r = predict_ln_f(net, vinp, betas) - true_ln_f(vinp, betas)  # the loss's centre term too
    expected = np.mean(r**2) + np.mean(r[:, centre_nodes()].mean(1) ** 2)
    assert min(result.history["val_loss"]) == pytest.approx(expected, rel=1e-5)  # net: the best epoch
    assert np.abs(net.dec.out.weight.detach().numpy()).max() > 0  # the decoder was trained

    galaxy = Galaxy(_bulge_disk(), DISTANCE, 0.6, 0.5)
    unit = unit_photometry(galaxy.mge, DISTANCE)
    x, y = _positions(unit.r_e)
    model = bind(*load_arrays(tmp_path / "dec"), galaxy, x, y)
    one = dict(ln_sigma=np.log(unit.sigma)[None], qobs=unit.qobs[None], weight=unit.weight[None],
               sigma_psf_re=np.array([0.6 / unit.r_e]), pixsize_re=np.array([0.5 / unit.r_e]))
    inc, beta, ml = 84.0, 0.1, 2.0
    one["cos_i"] = np.array([np.cos(np.radians(inc))])
    one["beta_hi"] = beta_hi(one["qobs"], one["weight"], one["cos_i"])
    t = network_inputs(one, np.array([0]))
    with torch.no_grad():
        h = net.hidden(net.encode(*t[:4]), t[4])
        grid_maps = net.basis(net.coeff(h))[0].double().numpy().reshape(2, -1)
        dec = net.dec(h, local_features(*t[:4], x / unit.r_e, y / unit.r_e, torch))[0].double().numpy()
    ln_f = interpolation_weights(x / unit.r_e, y / unit.r_e) @ grid_maps.T + dec.T
    f = f_from_anchors(ln_f[:, 0], ln_f[:, 1], anchor_weight(beta, one["beta_hi"][0]))
    expect = f * velocity_scale(ml, unit.l_tot, unit.r_e, DISTANCE)
    np.testing.assert_allclose(np.asarray(model(inc, beta, ml)), expect, rtol=1e-5)
    padded = model.padded(128)
    np.testing.assert_allclose(np.asarray(padded(inc, beta, ml))[:x.size], expect, rtol=1e-5)


@pytest.mark.slow
def test_a_sersic_mock_the_sersic_emulator_refuses_is_recovered_by_the_general_one(tmp_path, monkeypatch):
    """A jampy mock of a Sérsic galaxy with n = 0.8 (outside the Sérsic emulator's n >= 1) is fitted by the
    shipped general emulator by default and its parameters recovered within 2 sigma."""
    from fastjam.emulator.store import default_path
    from fastjam.fit import fit
    from fastjam.mock import make_mock

    monkeypatch.delenv("FASTJAM_EMULATOR_MGE", raising=False)
    if not (default_path("general") / "emulator.npz").exists() or not (default_path() / "emulator.npz").exists():
        pytest.skip("no shipped emulators")
    galaxy = dict(sersic_n=0.8, r_e=10.0, q_obs=0.6, l_tot=2e10, distance=20.0, sigma_psf=0.7, pixsize=0.5)
    truth = dict(inclination=70.0, beta_z=0.1, ml=3.0)
    cfg = load_config(make_mock(galaxy, truth, seed=7).write(tmp_path / "low_n"), {"sampler.backend": "numpyro"})
    result = fit(cfg, progress=False)
    assert result.forward_model == "emulator (general)"
    for name, value in truth.items():
        s = result.summary[name]
        assert abs(s["median"] - value) < 2 * 0.5 * (s["p84"] - s["p16"]), (name, s, value)

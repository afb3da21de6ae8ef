"""``bench/general_novelty.py``: the card's novelty bands against the maps of a set, and how well the
likelihood's error model predicts each map's errors."""
import numpy as np
import pytest


@pytest.fixture(scope="module")
def novelty_bench():
    from conftest import load_bench

    return load_bench("general_novelty")


def _card(d, e):
    """A card with the overall error model, bias and the novelty calibration of errors ``e`` at novelty ``d``."""
    from fastjam.emulator.evaluate import radial_error_model
    from fastjam.emulator.novelty import calibration

    return dict(error_model=radial_error_model(e), metrics=dict(per_map_bias=dict(p95=float(
        np.percentile(np.abs(e.mean(1)), 95)))), novelty=calibration(d, e))


def _errors(d, n_betas, size):
    """|e| = ``size`` over every map: a coherent error (one sign per map), the same RMS at every radius."""
    from fastjam.physics import grid

    sign = np.where(np.arange(d.size * n_betas) % 2, 1.0, -1.0)[:, None]
    return size * sign * np.ones((d.size * n_betas, grid.NTHETA * grid.NR))


@pytest.mark.filterwarnings("ignore:An input array is constant")  # the same RMS on every map: no Spearman rho
def test_bands_of_the_calibrating_maps_are_the_cards_and_errors_twice_as_large_are_seen(novelty_bench):
    from fastjam.emulator.novelty import percentile

    n_betas = novelty_bench.N_BETAS
    d = np.random.default_rng(5).uniform(0.0, 10.0, 300)
    e = _errors(d, n_betas, 0.002)
    card = _card(d, e)
    entry = card["novelty"]
    pct = percentile(entry, d)
    rows = novelty_bench.band_rows(entry, pct, e)
    assert [r["percentiles"] for r in rows] == [b["percentiles"] for b in entry["bands"]]
    assert sum(r["n_maps"] for r in rows) == 300 and sum(r["share"] for r in rows) == pytest.approx(1.0)
    for r in rows:
        assert r["rms_median"] == pytest.approx(r["card_rms_median"], rel=1e-12)
        assert r["radial_ratio"] == pytest.approx([1.0, 1.0, 1.0], rel=1e-12)
    for name, check in novelty_bench.model_check(card, entry, pct, e).items():
        assert check["rms_ratio_median"] == pytest.approx(1.0, rel=1e-12), name
        assert check["rms_over_twice"] == 0.0 and check["bias_beyond_95"] == 0.0, name
    # the same maps with errors 2.5 times as large: every map beyond twice the model and beyond the bound
    for name, check in novelty_bench.model_check(card, entry, pct, 2.5 * e).items():
        assert check["rms_ratio_median"] == pytest.approx(2.5, rel=1e-12), name
        assert check["rms_over_twice"] == 1.0 and check["bias_beyond_95"] == 1.0, name


def test_the_fit_rule_is_checked_with_the_band_a_fit_takes():
    """The error model of the band a fit takes (``fit_pct``) is the by-novelty one when the fit's band is the
    map's own; put every map in the lowest band, it is the card's overall one (the band never lowers it), the
    maps of the higher bands, whose errors are larger, are underpredicted, and only the lowest band's maps
    (half) keep their band."""
    from conftest import load_bench
    from fastjam.emulator.novelty import percentile

    bench = load_bench("general_novelty")
    d = np.random.default_rng(6).uniform(0.0, 10.0, 400)
    e = _errors(d, bench.N_BETAS, 0.002) * (1.0 + np.tile(d, bench.N_BETAS))[:, None]  # errors grow with novelty
    card = _card(d, e)
    entry = card["novelty"]
    pct = percentile(entry, d)
    same = bench.model_check(card, entry, pct, e, pct)
    assert same["fit rule"] == {**same["by novelty"], "same_band": 1.0}
    lowest = bench.model_check(card, entry, pct, e, np.zeros_like(pct))
    assert lowest["fit rule"]["same_band"] == pytest.approx(0.5, abs=0.01)
    assert lowest["fit rule"] == {**lowest["overall"], "same_band": lowest["fit rule"]["same_band"]}
    assert lowest["fit rule"]["rms_ratio_p90"] > 1.3 * lowest["by novelty"]["rms_ratio_p90"]


def test_sets_joined_keep_each_maps_errors_with_its_novelty():
    """Two calibrating sets joined: each error row stays with its map's novelty in every anisotropy block."""
    from conftest import load_bench

    bench = load_bench("general_novelty")
    nb, rng = bench.N_BETAS, np.random.default_rng(7)
    sets = []
    for n, size in ((40, 0.001), (25, 0.004)):
        d = rng.uniform(0.0, 10.0, n)
        sets.append((d, np.tile(d, nb)[:, None] * np.ones((1, 6)) + size))  # each row = its map's d + set's size
    d, e = bench.joined(sets)
    assert d.shape == (65,) and e.shape == (nb * 65, 6)
    np.testing.assert_array_equal(e[:, 0] - np.where(np.tile(np.arange(65), nb) < 40, 0.001, 0.004), np.tile(d, nb))

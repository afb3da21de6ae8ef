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

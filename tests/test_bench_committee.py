"""``bench/general_committee.py``: disagreement of two networks against the error of the first."""
import numpy as np
import pytest


@pytest.fixture(scope="module")
def committee():
    from conftest import load_bench

    return load_bench("general_committee").committee


def _errors(rng, n=2000, npix=50):
    scale = rng.lognormal(0, 1, n)[:, None]  # per-map error size
    return scale * rng.normal(0, 0.01, (n, npix))


def test_disagreement_equal_to_the_error_ranks_the_worst_maps_first(committee):
    e = _errors(np.random.default_rng(0))
    res = committee(np.abs(e).max(1), e)
    assert res["rho_max"] == pytest.approx(1.0)
    assert [r["capture"] for r in res["rows"]] == [1.0, 1.0, 1.0]
    assert all(r["map_max_median_in"] > r["map_max_median_out"] for r in res["rows"])


def test_unrelated_disagreement_captures_by_chance(committee):
    rng = np.random.default_rng(1)
    e = _errors(rng)
    res = committee(np.abs(_errors(rng)).max(1), e)  # independent of the error
    assert abs(res["rho_max"]) < 0.1
    for r in res["rows"]:  # the worst 5% (100 maps) fall in a top share at its rate: binomial sd <= 0.05
        assert r["capture"] == pytest.approx(r["top"], abs=0.15)

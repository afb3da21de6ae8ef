"""``bench/general_committee.py``: disagreement of two networks against the error of the first."""
import numpy as np
import pytest


@pytest.fixture(scope="module")
def committee():
    from conftest import load_bench

    return load_bench("general_committee").committee


def _maps(rng, n=2000, npix=50, sigma=0.01):
    scale = rng.lognormal(0, 1, n)[:, None]  # per-map error size
    return scale * rng.normal(0, sigma, (n, npix))


def test_exact_second_network_ranks_the_worst_maps_first(committee):
    rng = np.random.default_rng(0)
    err = _maps(rng, sigma=1e-4)  # e = expm1(d) ~ d
    res = committee(err, np.zeros_like(err), np.zeros_like(err))  # network 2 = JAM: d is the error itself
    assert res["rho_max"] == pytest.approx(1.0, abs=1e-4) and res["rho_rms"] == pytest.approx(1.0, abs=1e-4)
    assert [r["capture"] for r in res["rows"]] == [1.0, 1.0, 1.0]


def test_unrelated_disagreement_captures_by_chance(committee):
    rng = np.random.default_rng(1)
    err, other = _maps(rng), _maps(rng)
    res = committee(err, err - other, np.zeros_like(err))  # d = other, independent of the error
    assert abs(res["rho_max"]) < 0.1
    for r in res["rows"]:  # the worst 5% (100 maps) fall in a top share at its rate: binomial sd <= 0.05
        assert r["capture"] == pytest.approx(r["top"], abs=0.15)

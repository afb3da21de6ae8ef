"""The coverage statistics (:func:`fastjam.compare.stats.coverage_table`) on posteriors of known
calibration, and ``bench/coverage.py``'s draws of mock galaxies."""
import numpy as np
import pytest
from scipy import stats

from fastjam.compare.stats import coverage_table, posterior_row

@pytest.fixture(scope="module")
def coverage():
    from conftest import load_bench

    return load_bench("coverage")


def _rows(rng, n, width=1.0, offset=0.0):
    """Gaussian posteriors N(truth + e, 1) with e ~ N(offset, 1), reported with sigma ``width``:
    calibrated when width = 1 and offset = 0."""
    rows = []
    for _ in range(n):
        row = dict(truth={})
        for p in ("inclination", "beta_z", "ml"):
            truth = rng.normal()
            centre = truth + rng.normal(offset, 1.0)
            q = centre + width * stats.norm.ppf([0.025, 0.16, 0.5, 0.84, 0.975])
            row["truth"][p] = truth
            row[p] = dict(zip(("p2.5", "p16", "median", "p84", "p97.5"), q),
                          rank=float(stats.norm.cdf((truth - centre) / width)))
        rows.append(row)
    return rows


def test_calibrated_posteriors_cover_at_the_nominal_level(rng):
    table = coverage_table(_rows(rng, 2000))
    for c in table.values():
        for level in ("68", "95"):
            assert abs(c[level]["z"]) < 4, c[level]
        assert c["rank_ks_pvalue"] > 1e-3
        assert abs(c["mean_offset_sigma"]) < 4 * c["mean_offset_sigma_error"]


def test_overconfident_and_biased_posteriors_are_flagged(rng):
    narrow = coverage_table(_rows(rng, 2000, width=0.6))
    for c in narrow.values():
        assert c["68"]["z"] < -5 and c["rank_ks_pvalue"] < 1e-6
    biased = coverage_table(_rows(rng, 2000, offset=0.5))
    for c in biased.values():
        assert c["mean_offset_sigma"] == pytest.approx(0.5, abs=5 * c["mean_offset_sigma_error"])
        assert c["mean_rank"] < 0.45


def test_galaxies_and_truths_lie_in_the_prior_and_domain(coverage, rng):
    from fastjam.design import ParameterSpace
    from fastjam.model import Priors

    space = ParameterSpace()
    for g, truth in coverage.draw_galaxies(50, rng, space):
        priors = Priors(g["q_obs"], (0.5, 20.0)).within_emulator(space)
        assert priors.inclination_min <= truth["inclination"] <= 90
        assert priors.beta_z_min <= truth["beta_z"] <= priors.beta_max(truth["inclination"])
        assert 0.5 <= truth["ml"] <= 20
        space.check([[g["sersic_n"], g["q_obs"], truth["inclination"], truth["beta_z"], g["sigma_psf"] / g["r_e"],
                      g["pixsize"] / g["r_e"]]])


def test_posterior_row_of_samples_matches_the_gaussian_quantiles(rng):
    samples = rng.normal(2.0, 0.5, 200000)
    row = posterior_row(samples, truth=2.5)
    expected = 2.0 + 0.5 * stats.norm.ppf([0.025, 0.16, 0.5, 0.84, 0.975])
    np.testing.assert_allclose([row[k] for k in ("p2.5", "p16", "median", "p84", "p97.5")], expected, atol=0.01)
    assert row["rank"] == pytest.approx(stats.norm.cdf(1.0), abs=0.005)
    with pytest.raises(ValueError, match="at least 2"):
        coverage_table([dict(truth={})])

"""``scripts/select_by_committee.py``: design points where two general emulators disagree most."""
import numpy as np
import pytest


@pytest.fixture(scope="module")
def script():
    from conftest import load_bench

    return load_bench("select_by_committee", "scripts")


def test_select_keeps_the_largest_share_in_pool_order(script):
    d = np.array([0.1, 0.5, 0.2, 0.9, 0.3, 0.05, 0.7, 0.4, 0.6, 0.8])
    np.testing.assert_array_equal(script.select(d, 0.3), [3, 6, 9])
    np.testing.assert_array_equal(script.select(d, 1e-6), [3])  # at least one
    for bad in (0.0, 1.5):
        with pytest.raises(ValueError, match=f"--keep must be in \\(0, 1\\], got {bad}"):
            script.select(d, bad)


def test_a_network_agrees_with_itself_not_with_a_perturbed_copy(script):
    from fastjam.emulator.general import GeneralEmulatorNetwork
    from fastjam.emulator.general_evaluate import committee_disagreement
    from fastjam.emulator.store import load_arrays
    from fastjam.family import family_design

    from pathlib import Path

    arrays, card = load_arrays(Path(__file__).resolve().parents[1] / "data" / "emulator_mge")
    net = GeneralEmulatorNetwork.from_arrays(arrays, card)
    points = family_design(4, 16)
    inp = script.inputs_of(points, script.pool_mge(points, workers=0, progress=False))
    assert inp["weight"].shape == (4, 30) and np.all(inp["beta_hi"] > 0)
    assert np.all(committee_disagreement([net, net], inp) == 0)
    other = dict(arrays)
    key = next(k for k, v in other.items() if v.ndim == 2)
    other[key] = other[key] * 1.01
    d = committee_disagreement([net, GeneralEmulatorNetwork.from_arrays(other, card)], inp)
    assert np.all(d > 0) and np.all(np.isfinite(d))


def test_select_leaves_out_earlier_rounds(script, tmp_path):
    import json

    d = np.array([0.1, 0.5, 0.2, 0.9, 0.3, 0.05, 0.7, 0.4, 0.6, 0.8])
    prev = tmp_path / "round1.json"
    prev.write_text(json.dumps(dict(pool=10, seed=16, pool_indices=[3, 6, 9])))
    exclude = script.excluded([prev], 10, 16)
    np.testing.assert_array_equal(script.select(d, 0.3, exclude), [1, 7, 8])
    np.testing.assert_array_equal(script.select(d, 0.9, exclude), [0, 1, 2, 4, 5, 7, 8])  # all that is left
    with pytest.raises(ValueError, match="round1.json is a round of pool 10 seed 16, not of pool 10 seed 17"):
        script.excluded([prev], 10, 17)


def test_the_pool_cache_is_reused_for_its_points_only(script, tmp_path, monkeypatch):
    from fastjam.family import family_design

    points = family_design(2, 16)
    cache = tmp_path / "pool.npz"
    first = script.cached_pool_mge(cache, points, workers=0, progress=False)
    assert first.shape == (2, 30, 3) and cache.exists()
    monkeypatch.setattr(script, "pool_mge", lambda *a, **k: pytest.fail("rebuilt a cached pool"))
    np.testing.assert_array_equal(script.cached_pool_mge(cache, points, workers=0, progress=False), first)
    with pytest.raises(ValueError, match="holds the MGEs of another pool"):
        script.cached_pool_mge(cache, family_design(2, 17), workers=0, progress=False)


def test_committed_designs_are_the_pool_points_they_name():
    """Each design in data/designs is the part of its Sobol pool that its JSON lists, so its maps are those chosen."""
    import json
    from pathlib import Path

    from fastjam.family import FAMILY_PARAM_NAMES, family_design

    designs = sorted((Path(__file__).resolve().parents[1] / "data" / "designs").glob("*.npy"))
    assert designs, "no design in data/designs"
    for path in designs:
        points = np.load(path)
        meta = json.loads(path.with_suffix(".json").read_text())
        assert points.shape == (meta["n_kept"], len(FAMILY_PARAM_NAMES))
        assert meta["n_kept"] == round(meta["keep"] * meta["pool"])
        np.testing.assert_array_equal(points, family_design(meta["pool"], meta["seed"])[meta["pool_indices"]])

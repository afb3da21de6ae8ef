"""``bench/learning_curve.py``: power laws fitted to a learning curve and the training maps each target needs."""
import numpy as np
import pytest


@pytest.fixture(scope="module")
def curve():
    from conftest import load_bench

    return load_bench("learning_curve")


def _rows(curve, slopes, sizes=(2048, 4096, 8192)):
    """Rows whose statistics fall exactly as s = 2 target (N / 2048)^slope."""
    return [dict(n_train=n, **{k: 2 * t * (n / 2048) ** slopes[k] for k, t in curve.TARGETS.items()}) for n in sizes]


def test_recovers_power_law_and_maps_needed(curve):
    slopes = dict(pixel_median=-0.3, pixel_p99=-0.5, map_max_p95=-0.7, map_bias_p95=-1.0)
    result = curve.extrapolate(_rows(curve, slopes)[::-1])  # any order
    assert result["n_train"] == [2048, 4096, 8192]
    for key, st in result["statistics"].items():
        assert st["fit_slope"] == pytest.approx(slopes[key], abs=1e-10)
        assert st["last_slope"] == pytest.approx(slopes[key], abs=1e-10)
        # 2 target at 2048 maps: the target is reached at 2048 * 2^(-1/slope)
        assert st["n_fit"] == pytest.approx(2048 * 2 ** (-1 / slopes[key]), rel=1e-8)


def test_flattening_curve_shows_in_last_slope(curve):
    rows = _rows(curve, dict.fromkeys(curve.TARGETS, -0.5))
    for r in rows[-1:]:
        for k in curve.TARGETS:
            r[k] = rows[-2][k]  # no gain from the last doubling
    st = curve.extrapolate(rows)["statistics"]["pixel_p99"]
    assert st["last_slope"] == pytest.approx(0.0, abs=1e-12)
    assert st["n_last"] is None  # never reached
    assert -0.5 < st["fit_slope"] < 0 and st["n_fit"] > 2048 * 4


def test_needs_two_sizes(curve):
    with pytest.raises(ValueError, match="at least 2 training-set sizes, got 1"):
        curve.extrapolate(_rows(curve, dict.fromkeys(curve.TARGETS, -0.5), sizes=(2048,)))


def test_writes_table_json_and_figure(curve, tmp_path, capsys):
    import json

    src = tmp_path / "curve.json"
    src.write_text(json.dumps(dict(rows=_rows(curve, dict.fromkeys(curve.TARGETS, -0.5)))))
    out, png = tmp_path / "lc.json", tmp_path / "lc.png"
    curve.main(["--curve", str(src), "--reference", f"{src}=a network", "--jam", "", "--json", str(out),
                "--plot", str(png)])
    assert "per-map max p95" in capsys.readouterr().out
    saved = json.loads(out.read_text())
    assert saved["references"][0]["label"] == "a network"
    assert np.isclose(saved["statistics"]["map_bias_p95"]["fit_slope"], -0.5)
    assert png.stat().st_size > 10_000

"""Malformed inputs end in a clear error or warning, never silently, never in a traceback
(a representative subset of ``bench/malformed.py``; the whole catalogue is the slow test)."""
import pytest

#: Cases that end before any sampling: every command and input kind, seconds each.
FAST = ["signed V in the V_RMS column", "a single bin", "three bins", "negative errors", "empty table", "ragged columns",
        "binary file as table", "table too large for memory", "data path does not exist", "data path is a directory",
        "all bins beyond the field, drop", "invalid TOML", "missing psf", "M/L prior reversed", "config is a directory",
        "FITS cube without cube = true", "FITS without WCS", "FITS image too large", "text file as FITS",
        "MaNGA no ECOOPA, no pa", "MaNGA all masked", "MGE two columns", "MGE with the emulator",
        "--set without =", "--out is a file", "--out holds an earlier fit", "--resume without --out",
        "simulate --seed -1", "train --data missing", "train --lr nan", "evaluate --json is a directory",
        "compare --grid 1 1", "compare --out is a file"]


@pytest.fixture(scope="module")
def malformed():
    from conftest import load_bench

    return load_bench("malformed")


def test_catalogue_is_large_and_covers_every_input_kind(malformed):
    cases = malformed.catalogue()
    assert len(cases) >= 100 and len({c.name for c in cases}) == len(cases)
    assert {c.kind for c in cases} >= {"fit", "table", "config", "fits", "manga", "mge", "cli", "simulate", "train",
                                       "evaluate", "compare"}
    assert set(FAST) <= {c.name for c in cases}


def test_fast_subset_ends_in_clear_errors(malformed):
    cases = {c.name: c for c in malformed.catalogue()}
    rows = [malformed.run_case(cases[name]) for name in FAST]
    bad = [(r["name"], r["outcome"], r["message"]) for r in rows if r["verdict"] != "pass"]
    assert not bad
    assert all(r["outcome"] == "error" and "error" in r["message"] and "\n" not in r["message"] for r in rows)


@pytest.mark.slow
def test_whole_catalogue(malformed, tmp_path):
    """Every case: none silent, no false alarm on the clean inputs, no traceback."""
    assert malformed.main(["--out", str(tmp_path / "malformed.json")]) == 0

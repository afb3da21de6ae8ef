"""The package as a user installs it: a wheel built from the repository, installed into a clean
folder, fits the bundled example with the shipped emulator from there."""
import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
#: What a source copy leaves out: version control, virtual environments, caches, build products, outputs.
IGNORE = shutil.ignore_patterns(".git", ".venv", "venv", "build", "dist", "*.egg-info", "__pycache__", ".pytest_cache",
                                ".hypothesis", "out", "runs", "dask-worker-space", "plots")

FIT = """
import json, sys

import fastjam
from fastjam.config import load_config
from fastjam.emulator.store import default_path
from fastjam.fit import fit

cfg = load_config(sys.argv[1], {"sampler.steps": 150, "sampler.walkers": 12, "sampler.seed": 2})
res = fit(cfg, backend="emcee", progress=False)
res.save("out")
print(json.dumps(dict(fastjam=fastjam.__file__, emulator=str(default_path()),
                      ml=res.summary["ml"]["median"], truth=res.truth["ml"])))
"""


def _run(args, **kwargs):
    res = subprocess.run(args, capture_output=True, text=True, **kwargs)
    assert res.returncode == 0, f"{' '.join(map(str, args))} failed:\n{res.stdout[-3000:]}\n{res.stderr[-3000:]}"
    return res


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    """A wheel built from a clean copy of the repository (no stale ``build/``)."""
    tmp = tmp_path_factory.mktemp("wheel")
    src = tmp / "src"
    shutil.copytree(ROOT, src, symlinks=True, ignore=IGNORE)
    _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index", "-q", "-w",
          str(tmp / "dist"), str(src)])
    (path,) = (tmp / "dist").glob("fastjam-*.whl")
    return path


def test_wheel_holds_every_module_and_the_shipped_emulator_only(wheel):
    """Every module of the package (samplers/ included, as fastjam/samplers) and the shipped
    emulators (Sérsic and general photometry, with their cards) are in the wheel, and nothing else at its
    top level."""
    names = set(zipfile.ZipFile(wheel).namelist())
    top = {n.split("/")[0] for n in names}
    assert {t for t in top if not t.endswith(".dist-info")} == {"fastjam"}, top
    modules = {f"fastjam/{p.relative_to(ROOT / 'fastjam').as_posix()}" for p in (ROOT / "fastjam").rglob("*.py")}
    modules |= {f"fastjam/samplers/{p.name}" for p in (ROOT / "samplers").glob("*.py")}
    assert "fastjam/samplers/emcee_backend.py" in modules
    assert modules <= names, sorted(modules - names)
    shipped = {f"fastjam/data/{d}/{f}" for d in ("emulator", "emulator_mge") for f in ("emulator.npz", "emulator.json",
                                                                                     "README.md")}
    assert shipped <= names, sorted(shipped - names)


def test_installed_wheel_fits_the_example_with_the_shipped_emulator(wheel, tmp_path):
    target = tmp_path / "site"
    _run([sys.executable, "-m", "pip", "install", "--no-deps", "--no-index", "-q", "--target", str(target),
          str(wheel)])
    installed = {p.name for p in target.iterdir() if not p.name.endswith(".dist-info")}
    assert installed - {"bin"} == {"fastjam"} and not (target / "samplers").exists(), installed
    # the example's configuration and data, away from the repository
    example = tmp_path / "example"
    shutil.copytree(ROOT / "examples" / "example_galaxy", example)
    work = tmp_path / "work"
    work.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "FASTJAM_EMULATOR")}
    env.update(PYTHONPATH=str(target), MPLBACKEND="Agg", JAX_PLATFORMS="cpu")
    res = _run([sys.executable, "-c", FIT, str(example / "galaxy.toml")], cwd=work, env=env, timeout=600)
    info = json.loads(res.stdout.strip().splitlines()[-1])
    assert Path(info["fastjam"]).is_relative_to(target)
    assert Path(info["emulator"]) == target / "fastjam" / "data" / "emulator"
    assert info["ml"] == pytest.approx(info["truth"], rel=0.05)  # the example's M/L is recovered
    for name in ("summary.json", "posterior.nc", "corner.png", "maps.png", "trace.png"):
        assert (work / "out" / name).stat().st_size > 0, name

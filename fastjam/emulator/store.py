"""Saved emulators: ``emulator.npz`` (float32 weights, readable by torch and JAX alike) and
``emulator.json`` (architecture, training domain, input-feature definition, grid, training
record, metrics). :class:`~fastjam.emulator.Emulator` refuses weights whose stored feature
definition differs from the code's."""
import json
import os
from pathlib import Path

import numpy as np

#: Weights shipped with fastjam (override with the FASTJAM_EMULATOR environment variable).
SHIPPED = Path(__file__).resolve().parents[2] / "data" / "emulator"


def default_path():
    """Directory of the shipped emulator."""
    return Path(os.environ.get("FASTJAM_EMULATOR", SHIPPED))


def save_emulator(out, net, space, grid_meta, info):
    """Write ``emulator.npz`` and ``emulator.json`` atomically into ``out``."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    tmp = out / f"emulator.npz.tmp{os.getpid()}"
    with open(tmp, "wb") as fh:
        np.savez(fh, **net.arrays())
    os.replace(tmp, out / "emulator.npz")
    from .features import feature_definition

    card = dict(format_version=1, network=net.config.as_dict(), space=space, features=feature_definition(space),
                grid=grid_meta, training=info)
    tmpj = out / f"emulator.json.tmp{os.getpid()}"
    tmpj.write_text(json.dumps(card, indent=2, default=_jsonable))
    os.replace(tmpj, out / "emulator.json")


def update_card(path, **entries):
    """Add entries (e.g. measured metrics, error model) to ``emulator.json``."""
    path = Path(path) / "emulator.json"
    card = json.loads(path.read_text())
    card.update(entries)
    tmp = path.with_name(f"emulator.json.tmp{os.getpid()}")
    tmp.write_text(json.dumps(card, indent=2, default=_jsonable))
    os.replace(tmp, path)


def load_arrays(path=None):
    """Weights (dict of float32 arrays) and card (dict) of a saved emulator."""
    path = Path(path) if path is not None else default_path()
    if not (path / "emulator.npz").exists() or not (path / "emulator.json").exists():
        raise ValueError(f"no emulator in {path} (expected emulator.npz and emulator.json)")
    with np.load(path / "emulator.npz") as fh:
        arrays = {k: fh[k] for k in fh.files}
    return arrays, json.loads((path / "emulator.json").read_text())


def _jsonable(obj):
    if isinstance(obj, (np.floating, np.integer)):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")

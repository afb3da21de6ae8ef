"""Saved emulators: ``emulator.npz`` (float32 weights, readable by torch and JAX alike) and
``emulator.json`` (architecture, training domain, input-feature definition, grid, training
record, metrics). :class:`~fastjam.emulator.Emulator` refuses weights whose stored feature
definition differs from the code's."""
import json
import os
from importlib import resources
from pathlib import Path

import numpy as np

from ..atomic import write_json, write_npz


#: Shipped emulators by kind (directories of ``fastjam/data``) and the variables that override them.
SHIPPED = dict(sersic=("emulator", "FASTJAM_EMULATOR"), general=("emulator_mge", "FASTJAM_EMULATOR_MGE"))


def shipped_path(kind="sersic"):
    """Directory of the emulator of ``kind`` shipped with fastjam: ``fastjam/data/emulator`` (Sérsic)
    or ``fastjam/data/emulator_mge`` (general photometry) of the installed package (the
    repository's ``data/``, see ``setup.cfg``)."""
    return Path(resources.files("fastjam") / "data" / SHIPPED[kind][0])


def default_path(kind="sersic"):
    """Directory of the default emulator of ``kind``: ``$FASTJAM_EMULATOR`` (Sérsic) or
    ``$FASTJAM_EMULATOR_MGE`` (general) if set, else the shipped one."""
    return Path(os.environ.get(SHIPPED[kind][1]) or shipped_path(kind))


def save_emulator(out, net, space, grid_meta, info, features=None):
    """Write ``emulator.npz`` and ``emulator.json`` atomically into ``out``.

    ``features`` is the input-feature definition stored in the card (default: the Sérsic
    emulator's, :func:`fastjam.emulator.features.feature_definition` of ``space``).
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    write_npz(out / "emulator.npz", **net.arrays())
    if features is None:
        from .features import feature_definition

        features = feature_definition(space)
    card = dict(format_version=1, network=net.config.as_dict(), space=space, features=features,
                grid=grid_meta, training=info)
    write_json(out / "emulator.json", card, default=_jsonable)


def update_card(path, **entries):
    """Add entries (e.g. measured metrics, error model) to ``emulator.json``."""
    path = Path(path) / "emulator.json"
    card = json.loads(path.read_text())
    card.update(entries)
    write_json(path, card, default=_jsonable)


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

"""Shared fixtures: every test starts from fixed seeds."""
import os
import random

import numpy as np
import pytest

os.environ.setdefault("MPLBACKEND", "Agg")


@pytest.fixture(autouse=True)
def _seed_everything():
    random.seed(1234)
    np.random.seed(1234)
    try:
        import torch
    except ImportError:  # pragma: no cover
        torch = None
    if torch is not None:
        torch.manual_seed(1234)
    yield


@pytest.fixture
def rng():
    return np.random.default_rng(20261125)


@pytest.fixture(scope="session")
def random_emulator(tmp_path_factory):
    """An emulator with random weights and a made-up error model: for plumbing, not accuracy."""
    import torch

    from fastjam.design import ParameterSpace
    from fastjam.emulator.model import Emulator
    from fastjam.emulator.network import EmulatorNetwork, NetworkConfig
    from fastjam.emulator.store import save_emulator, update_card
    from fastjam.jam import DEFAULT_SETTINGS
    from fastjam.simulate import dataset_meta

    torch.manual_seed(0)
    net = EmulatorNetwork(NetworkConfig(image_channels=(4, 4, 4, 4), latent=4, hidden=(16,), n_basis=4))
    with torch.no_grad():
        net.basis.bias.fill_(-1.0)
    out = tmp_path_factory.mktemp("emu")
    meta = dataset_meta(1, 0, ParameterSpace(), DEFAULT_SETTINGS)
    save_emulator(out, net, meta["space"], meta["grid"], {})
    update_card(out, error_model=dict(radius_re=[0.0, 1.0, 4.0], frac_rms=[0.01, 0.02]))
    return Emulator.load(out)


def load_bench(name, folder="bench"):
    """A ``bench/NAME.py`` (or ``FOLDER/NAME.py``) script as a module, imported as when run as
    ``python bench/NAME.py``."""
    import importlib.util
    import sys
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / folder / f"{name}.py"
    sys.path.insert(0, str(path.parent))
    try:
        spec = importlib.util.spec_from_file_location(f"{folder}_{name}", path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(path.parent))
    return module

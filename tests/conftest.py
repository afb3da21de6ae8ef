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

"""Sampler checkpoints: a backend's state and draws so far, written atomically, read back to resume."""
import pickle
from pathlib import Path


def save_checkpoint(path, state):
    """Pickle ``state`` (numpy arrays and tuples) to ``path`` through a temporary file and a rename;
    no-op when ``path`` is None."""
    if path is None:
        return
    from ..atomic import write_bytes

    write_bytes(path, pickle.dumps(state))


def load_checkpoint(path):
    """The state saved at ``path``, or None when there is none.

    Raises
    ------
    ValueError
        The file is unreadable (not written by :func:`save_checkpoint`).
    """
    if path is None or not Path(path).exists():
        return None
    try:
        with open(path, "rb") as f:
            return pickle.load(f)
    except (OSError, EOFError, pickle.UnpicklingError, AttributeError, ImportError) as exc:
        raise ValueError(f"checkpoint {path} is unreadable ({exc}): rerun with --overwrite") from None

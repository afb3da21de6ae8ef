"""Atomic file writes: a file appears whole, under its final name, or not at all.

Every writer goes through :func:`atomic_path`: the content is written to a temporary file
``NAME.tmpPID`` beside the target (same directory, so the same file system), flushed to disk
(``fsync``) and renamed over the target (``os.replace``, atomic on POSIX and Windows). A
crash or a kill at any moment leaves either the old file or the new one, never a truncated
one; a leftover ``*.tmp*`` file is a write that never finished and may be deleted.

Writers that take a file name (h5py, arviz's NetCDF, ``numpy.savetxt``, matplotlib's
``savefig``, ``torch.save``) use :func:`atomic_path` directly; text, JSON and NumPy archives
have their own one-line functions. The standard library has no such writer, and the
packages that had one are either archived (``atomicwrites``) or hand over an open file
object, which h5py and NetCDF cannot use.
"""
import json
import os
from contextlib import contextmanager
from pathlib import Path


def temporary_name(path):
    """The temporary name of ``path`` while it is written: ``NAME.tmpPID`` with the suffix kept
    last (``plot.tmp123.png``), so that format-sniffing writers (matplotlib) see the right suffix."""
    path = Path(path)
    return path.with_name(f"{path.stem}.tmp{os.getpid()}{path.suffix}")


@contextmanager
def atomic_path(path):
    """Yield a temporary path to write; on a clean exit it is flushed and renamed to ``path``.

    On an exception the temporary file is removed and ``path`` is left as it was.

    Examples
    --------
    >>> with atomic_path("out/posterior.nc") as tmp:        # doctest: +SKIP
    ...     idata.to_netcdf(str(tmp))
    """
    path = Path(path)
    tmp = temporary_name(path)
    try:
        yield tmp
        _fsync(tmp)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def write_bytes(path, data):
    """Write ``data`` (bytes) to ``path`` atomically."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def write_text(path, text):
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def write_json(path, obj, indent=2, sort_keys=False, default=None):
    """Write ``obj`` as JSON to ``path`` atomically (``default`` as in :func:`json.dumps`)."""
    write_text(path, json.dumps(obj, indent=indent, sort_keys=sort_keys, default=default) + "\n")


def write_npz(path, **arrays):
    """Write NumPy arrays to an ``.npz`` archive at ``path`` atomically (uncompressed)."""
    import numpy as np

    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        np.savez(fh, **arrays)


def _fsync(path):
    with open(path, "rb+") as fh:
        os.fsync(fh.fileno())


__all__ = ["atomic_path", "temporary_name", "write_bytes", "write_json", "write_npz", "write_text"]

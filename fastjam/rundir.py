"""The output directory of a command: checked before any work, guarded against mixing runs.

A fit's ``--out`` directory holds either nothing, a finished fit (``summary.json``), an
interrupted one (``checkpoint/``) or a save that was killed half-way (the ``SAVING`` marker).
Anything but an empty or absent directory is refused unless the user says ``--overwrite``
(replace it: the old files stay until the new ones are saved over them) or ``--resume`` (continue the interrupted fit); see ``docs/diagnostics.md``.
"""
import json
import os
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path

#: Files a fit writes into its output directory.
FIT_FILES = ("summary.txt", "summary.json", "posterior.nc", "best_model.txt", "corner.png", "maps.png", "trace.png")
CHECKPOINT = "checkpoint"
SAVING = "SAVING"
RUN_FILE = "run.json"


def check_writable_dir(path, option="--out"):
    """Raise ``ValueError`` unless ``path`` is (or can be made) a writable directory; creates it.

    Parameters
    ----------
    path : str or Path
    option : str
        Name of the command-line option, for the message.

    Returns
    -------
    Path
    """
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise ValueError(f"{option} {path} is a file, not a directory: choose a directory")
    parent = path
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir():
        raise ValueError(f"{option} {path} cannot be made: {parent} is a file")
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path):
            pass
    except OSError as exc:
        raise ValueError(f"{option} {path} cannot be written ({exc.strerror or exc})") from None
    return path


def check_writable_file(path, option):
    """Raise ``ValueError`` unless a file can be written at ``path`` (its directory is checked)."""
    path = Path(path)
    if path.is_dir():
        raise ValueError(f"{option} {path} is a directory, not a file")
    check_writable_dir(path.parent if str(path.parent) else Path("."), option=f"{option} directory")
    return path


def prepare_fit_dir(out, overwrite=False, resume=False):
    """Check a fit's ``--out`` before any work and clear it when overwriting.

    Returns
    -------
    Path
        The directory (created).

    Raises
    ------
    ValueError
        Not writable, or holding an earlier fit without ``overwrite`` / ``resume``, or
        ``resume`` with no checkpoint to resume.
    """
    if overwrite and resume:
        raise ValueError("--overwrite and --resume exclude each other: choose one")
    out = check_writable_dir(out)
    held = [name for name in FIT_FILES + (CHECKPOINT, SAVING) if (out / name).exists()]
    if resume:
        if not (out / CHECKPOINT).is_dir():
            what = "a finished fit" if (out / "summary.json").exists() else "no checkpoint"
            raise ValueError(f"--resume: {out} holds {what}, nothing to resume (drop --resume, or --overwrite)")
        return out
    if held and not overwrite:
        state = ("an interrupted fit (resume it with --resume)" if CHECKPOINT in held
                 else "a half-saved fit (SAVING marker)" if SAVING in held else "an earlier fit")
        raise ValueError(f"--out {out} holds {state}: pass --overwrite to replace it or choose another --out")
    # the earlier fit's files stay until the new ones replace them at save time (a killed rerun
    # leaves them intact); only its checkpoint goes
    shutil.rmtree(out / CHECKPOINT, ignore_errors=True)
    return out


def checkpoint_path(out, backend, fingerprint, resume=False):
    """The checkpoint file of a fit in ``out``, after matching the run's fingerprint.

    Parameters
    ----------
    out : Path
        Output directory (checked by :func:`prepare_fit_dir`).
    backend : str
    fingerprint : dict
        JSON-able description of the run (configuration, backend, emulator); a resumed run
        must match it.
    resume : bool

    Returns
    -------
    Path
        ``out/checkpoint/<backend>.pkl``.
    """
    directory = Path(out) / CHECKPOINT
    run_file = directory / RUN_FILE
    text = json.dumps(fingerprint, sort_keys=True, default=str)
    if resume:
        old = run_file.read_text() if run_file.exists() else None
        if old != text:
            raise ValueError(f"--resume: the checkpoint in {directory} was made by a different run (configuration, "
                             "backend or emulator changed): rerun with the same ones, or --overwrite")
    else:
        directory.mkdir(parents=True, exist_ok=True)
        run_file.write_text(text)
    return directory / f"{backend}.pkl"


def finish(out):
    """Remove the checkpoint of a fit whose results are saved."""
    shutil.rmtree(Path(out) / CHECKPOINT, ignore_errors=True)


@contextmanager
def saving(out):
    """Mark ``out`` with ``SAVING`` while files are written: a killed save leaves the marker."""
    marker = Path(out) / SAVING
    marker.write_text("a save of this fit was interrupted: the files here may mix two runs; rerun with --overwrite\n")
    yield
    os.remove(marker)

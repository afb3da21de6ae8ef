"""Whitespace tables of binned V_RMS (``x y Vrms eVrms [flux]``) into :class:`~fastjam.io.kinematics.Kinematics`."""
from pathlib import Path

import numpy as np

from .kinematics import InputFileError, _build, _check_pa, _check_size, _value_reasons

#: Columns of the text format read by :func:`read_text`.
TEXT_COLUMNS = "x y Vrms eVrms [flux]"


def read_text(path, pa_deg=None):
    """Read a whitespace-separated table with columns ``x y Vrms eVrms [flux]``.

    This is the format of the jampy examples and of Voronoi-binning pipelines: one bin per
    line, ``#`` starts a comment (whole line or trailing), blank lines are ignored. Bins with
    a non-finite Vrms, a non-finite or non-positive eVrms or a non-finite flux are dropped
    with a logged warning.

    Parameters
    ----------
    path : str or os.PathLike
        UTF-8 text file.
    pa_deg : float or None
        Position angle of the major axis in degrees, North through East
        (see :func:`rotate_to_major_axis`); None when x and y are already along the
        major and minor axes (no rotation).

    Returns
    -------
    Kinematics
        ``x``, ``y`` in arcsec rotated to the major axis, Vrms and its error in km/s, and
        ``flux`` if the table has a fifth column.

    Raises
    ------
    ValueError
        If the file is not UTF-8 text, has no data line, a line has a column count other than
        4 or 5 or different from the first data line, a value is not a number, an ``x`` or
        ``y`` is not finite, or no valid bin remains.
    FileNotFoundError
        If ``path`` does not exist.

    Notes
    -----
    ``x`` and ``y`` in the file are sky offsets from the galaxy centre with ``x`` increasing
    to the West (see the module conventions); use ``pa_deg=270`` to keep them unrotated.
    """
    pa = _check_pa(pa_deg)
    source = f"text file {str(path)!r}"
    table = _parse_table(_read_utf8(path, source), source)
    x, y, vrms, err = (table[:, i] for i in range(4))
    flux = table[:, 4] if table.shape[1] == 5 else None
    return _build(source, x, y, vrms, err, flux, pa, _value_reasons(vrms, err, flux), len(table))


def _read_utf8(path, source):
    _check_size(Path(path).stat().st_size, source, "the file")
    data = Path(path).read_bytes()
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputFileError(f"{source} is not UTF-8 text ({exc.reason} at byte {exc.start})") from exc


def _parse_table(text, source):
    """The numeric rows of a text table, shape (n, 4 or 5)."""
    rows, first_line = [], None
    for lineno, line in enumerate(text.splitlines(), start=1):
        fields = line.split("#", 1)[0].split()
        if not fields:
            continue
        _check_column_count(len(fields), lineno, source)
        if first_line is None:
            first_line = lineno
        elif len(fields) != len(rows[0]):
            raise InputFileError(f"{source}: line {lineno} has {len(fields)} columns but line "
                             f"{first_line} has {len(rows[0])} ({TEXT_COLUMNS})")
        rows.append([_parse_number(field, lineno, source) for field in fields])
    if not rows:
        raise InputFileError(f"{source} has no data line (expected columns {TEXT_COLUMNS})")
    return np.array(rows, dtype=float)


def _check_column_count(ncol, lineno, source):
    if ncol not in (4, 5):
        raise InputFileError(f"{source}: line {lineno} has {ncol} columns, expected 4 or 5 "
                         f"({TEXT_COLUMNS})")


def _parse_number(field, lineno, source):
    try:
        return float(field)
    except ValueError:
        raise InputFileError(f"{source}: line {lineno}: {field[:40]!r} is not a number") from None

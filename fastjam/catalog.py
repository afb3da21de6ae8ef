"""Survey catalogs: one row per galaxy, read with ``astropy.table`` and checked before any fit.

Columns (lengths in arcsec, distance in Mpc, luminosity in Lsun; paths relative to the catalog)
-----------------------------------------------------------------------------------------------
============================  =========  ===============================================
column                        required   meaning (fit configuration key)
============================  =========  ===============================================
``id``                        yes        unique name; outputs go to ``DIR/<id>/``
``sersic_n, r_e, q_obs``      or ``mge`` Sérsic index, major-axis R_e, axis ratio
``l_tot`` or ``magnitude``    with Sérsic total luminosity, or apparent magnitude (+ ``m_sun``,
                                         optional ``extinction``)
``mge``                       or Sérsic  MGE file (surf [Lsun/pc^2], sigma ["], q_obs)
``distance``                  yes        [Mpc]
``sigma_psf`` or ``fwhm_psf`` yes        PSF ["]
``pixsize``                   yes        spaxel / pixel size ["]
``pa``                        no         position angle of the major axis [deg, N through E];
                                         blank when x, y already lie along the axes
``kin_path``                  yes        kinematics file ([data] path)
``kin_format``                no         text | fits | manga ([data] format; default: the
                                         shared settings', else text)
``SECTION.KEY``               no         per-row override of a shared setting, e.g.
                                         ``sampler.seed``, ``priors.beta_z_min``,
                                         ``truth.inclination``
============================  =========  ===============================================

A blank cell (empty, masked or NaN) means "not given". Other columns (RA, Dec, ...) are
carried along and ignored. Every row is validated with :func:`fastjam.config.validate_config`
on the shared settings plus the row, so a catalog either loads completely or raises one
``ValueError`` naming the row, the galaxy and the column.
"""
import copy
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .config import SCHEMA, read_toml, validate_config

#: Catalog column -> (section, key) of the fit configuration (besides ``SECTION.KEY`` columns).
COLUMN_KEYS = {**{k: ("galaxy", k) for k in SCHEMA["galaxy"]}, "kin_path": ("data", "path"),
               "kin_format": ("data", "format")}
#: Columns every catalog needs.
REQUIRED_COLUMNS = ("id", "distance", "pixsize", "kin_path")
#: Characters allowed in an id (it names the galaxy's output directory).
ID_SAFE = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-.+")


@dataclass
class Catalog:
    """A validated survey catalog.

    Attributes
    ----------
    path : Path
    ids : list of str
        Galaxy ids in catalog order.
    configs : list of dict
        The validated fit configuration of each row (:func:`fastjam.config.validate_config`).
    table : astropy.table.Table
        The catalog as read.
    """

    path: Path
    ids: list
    configs: list = field(repr=False)
    table: object = field(repr=False)

    def __len__(self):
        return len(self.ids)


def read_settings(path):
    """Shared settings: the raw sections of a TOML fit configuration (no ``[galaxy]`` needed).

    Raises ``ValueError`` for unreadable TOML, or an unknown section or key.
    """
    if path is None:
        return {}
    raw = read_toml(path, "settings file")
    for section, table in raw.items():
        if section not in SCHEMA or not isinstance(table, dict):
            raise ValueError(f"settings file {path}: unknown section [{section}]; known: {', '.join(SCHEMA)}")
        for key in table:
            if key not in SCHEMA[section]:
                raise ValueError(f"settings file {path}: unknown key {key!r} in [{section}]")
    for section, key in (("data", "path"), ("galaxy", None)):
        if section in raw and (key is None or key in raw[section]):
            what = f"[{section}] {key}" if key else f"[{section}]"
            raise ValueError(f"settings file {path}: {what} is per galaxy and belongs in the catalog")
    return raw


def read_catalog(path, settings=None):
    """Read and validate a survey catalog (CSV, ECSV, FITS: whatever ``astropy.table`` reads).

    Parameters
    ----------
    path : str or Path
        The catalog; relative paths in it are relative to its directory.
    settings : dict, optional
        Shared settings (:func:`read_settings`), overridden per row by the catalog.

    Returns
    -------
    Catalog

    Raises
    ------
    ValueError
        Unreadable catalog, no rows, a missing column, a duplicate or unsafe id, or a bad
        value: the message names the row (1-based, the header not counted), the id and the
        column.
    """
    from astropy.table import Table

    path = Path(path)
    if not path.exists():
        raise ValueError(f"catalog {path} does not exist")
    try:
        fmt = "ascii.csv" if path.suffix.lower() == ".csv" else None
        table = Table.read(path, format=fmt) if fmt else Table.read(path)
    except Exception as exc:  # astropy raises many kinds for unreadable files
        raise ValueError(f"catalog {path} cannot be read as a table: {exc}") from None
    if len(table) == 0:
        raise ValueError(f"catalog {path} has no rows")
    columns = _column_map(table.colnames, path)
    ids = [_cell_text(v) for v in table["id"]]
    _check_ids(ids, path)
    configs = [_row_config(table, i, ids[i], columns, settings or {}, path) for i in range(len(table))]
    return Catalog(path, ids, configs, table)


def _column_map(names, path):
    """Catalog column -> (section, key); raises for a missing required column or unknown setting."""
    missing = [c for c in REQUIRED_COLUMNS if c not in names]
    if not ({"sersic_n", "r_e", "q_obs"} <= set(names) or "mge" in names):
        missing.append("sersic_n, r_e, q_obs (or mge)")
    if not {"sigma_psf", "fwhm_psf"} & set(names):
        missing.append("sigma_psf (or fwhm_psf)")
    if missing:
        raise ValueError(f"catalog {path} lacks column(s) {', '.join(missing)}")
    out = {}
    for name in names:
        if name in COLUMN_KEYS:
            out[name] = COLUMN_KEYS[name]
        elif "." in name:
            section, _, key = name.partition(".")
            if section not in SCHEMA or key not in SCHEMA[section] or section == "galaxy" or name == "data.path":
                raise ValueError(f"catalog {path}: column {name!r} names no per-row setting (use SECTION.KEY "
                                 f"with a section of {', '.join(s for s in SCHEMA if s != 'galaxy')})")
            out[name] = (section, key)
    return out


def _check_ids(ids, path):
    seen = {}
    for i, gid in enumerate(ids):
        row = f"catalog {path} row {i + 1}, column 'id'"
        if gid is None:
            raise ValueError(f"{row}: the id is blank")
        if not set(gid) <= ID_SAFE or gid.startswith("."):
            raise ValueError(f"{row}: id {gid!r} must use only letters, digits and _ - . + (it names a directory)")
        if gid in seen:
            raise ValueError(f"{row}: id {gid!r} repeats row {seen[gid] + 1}")
        seen[gid] = i


def _row_config(table, i, gid, columns, settings, path):
    """Validated fit configuration of row ``i``."""
    where = f"catalog {path} row {i + 1} (id {gid})"
    raw = copy.deepcopy(settings)
    for column, (section, key) in columns.items():
        value = _cell(table[column][i], SCHEMA[section][key], f"{where}, column {column!r}")
        if value is not None:
            raw.setdefault(section, {})[key] = value
    try:
        return validate_config(raw, base=path.parent)
    except ValueError as exc:
        column = _column_of(str(exc), columns)
        raise ValueError(f"{where}{f', column {column!r}' if column else ''}: {exc}") from None


def _column_of(message, columns):
    """The column whose setting a validation message names, if any."""
    for column, (section, key) in columns.items():
        if f"[{section}] {key}" in message or f"{key!r} in [{section}]" in message:
            return column
    return None


def _cell(value, kind, where):
    """A catalog cell as a config value of type ``kind``, or None when blank."""
    if np.ma.is_masked(value):
        return None
    if isinstance(value, (bytes, np.bytes_)):
        value = value.decode()
    if isinstance(value, str):
        value = value.strip()
        if value == "" or value.lower() in ("nan", "none", "--"):
            return None
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    if kind is float or kind is int:
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise ValueError(f"{where}: {value!r} is not a number") from None
        if kind is int:
            if number != round(number):
                raise ValueError(f"{where}: {value!r} is not an integer")
            return int(number)
        return number
    if kind is bool:
        text = str(value).lower()
        if text not in ("true", "false", "1", "0"):
            raise ValueError(f"{where}: {value!r} is not true or false")
        return text in ("true", "1")
    if isinstance(kind, tuple):  # an extension: index or name
        text = str(value)
        return int(text) if text.lstrip("-").isdigit() else text
    if kind is list:
        raise ValueError(f"{where}: list settings cannot be set per row")
    return str(value)


def _cell_text(value):
    return _cell(value, str, "id")


__all__ = ["COLUMN_KEYS", "Catalog", "REQUIRED_COLUMNS", "read_catalog", "read_settings"]

"""The results table of a survey: its columns, one row per galaxy, atomic FITS and CSV files.

Each finished galaxy's row is kept at once in ``out/<id>/row.json`` (atomically); the table
``out/results.fits`` and ``out/results.csv`` holds the rows in catalog order and is rewritten
atomically (temporary file, rename), so a reader never sees a truncated table and a killed
survey loses no finished row.

Columns (:data:`COLUMNS`): ``id``; ``status`` with ``reason`` in words: ``ok`` (every check of
:mod:`fastjam.diagnostics` passed), ``warning`` (fitted, but checks failed: their codes in
``checks``, their messages in ``reason``), ``refused`` or ``failed``; the fit's other logged
``warnings``; median, 16th and 84th percentiles of inclination [deg], beta_z, M/L [Msun/Lsun],
q_intr and log10 mass [Msun]; the largest R-hat and smallest bulk ESS of (inclination, beta_z,
M/L); ``refined`` with the exact-JAM medians ``*_exact`` and the emulator's shifts ``*_shift``
in units of the exact posterior's sigma (NaN unless refinement ran); the diagnostics' chi^2 per
degree of freedom and predictive p-value, bins used and read; ``error_band_lo``, ``error_band_hi``,
the novelty percentiles of the band to whose error model the likelihood's is raised where larger (``fastjam.fit.error_band``;
NaN for the card's overall one); true values when the catalog
gives them; wall and CPU seconds of the task, fit, sampling, JAX compilation, save and
start-up seconds and the worker.
"""
import json
import math
from pathlib import Path

import numpy as np

from .atomic import atomic_path, write_text

#: Parameters whose median and 16/84 percentiles the table holds.
TABLE_PARAMETERS = ("inclination", "beta_z", "ml", "q_intr", "log10_mass")
#: Sampled parameters: R-hat and ESS are taken over them; exact-posterior columns and truth.
SAMPLED = ("inclination", "beta_z", "ml")
#: Columns of the results table and their types.
#: Statuses of a galaxy that was fitted (its posterior columns are filled).
FITTED = ("ok", "warning")
COLUMNS = (
    [("id", str), ("status", str), ("reason", str), ("checks", str), ("warnings", str)]
    + [(f"{p}_{q}", float) for p in TABLE_PARAMETERS for q in ("median", "p16", "p84")]
    + [("r_hat", float), ("ess_bulk", float), ("refined", bool)]
    + [(f"{p}_{q}", float) for p in SAMPLED for q in ("exact", "shift")]
    + [("chi2_per_dof", float), ("ppc_p_value", float), ("n_bins", int), ("n_input", int), ("backend", str)]
    + [("error_band_lo", float), ("error_band_hi", float)]
    + [(f"{p}_truth", float) for p in SAMPLED]
    + [("wall_seconds", float), ("cpu_seconds", float), ("fit_seconds", float), ("sampling_seconds", float),
       ("compile_seconds", float), ("save_seconds", float), ("startup_seconds", float), ("worker", str)]
)


def fitted(status):
    """Boolean mask of the fitted rows (``status`` in :data:`FITTED`) of a table's status column
    (str, or bytes as read back from FITS)."""
    return np.logical_or.reduce([status == s for s in FITTED])


def empty_row(gid):
    """A results row with every value missing (NaN, "" or 0)."""
    blank = {str: "", float: math.nan, int: 0, bool: False}
    return {name: (gid if name == "id" else blank[kind]) for name, kind in COLUMNS}


def result_row(result, refined=None):
    """The table values of a :class:`fastjam.fit.FitResult`: status, percentiles, R-hat, ESS, chi^2.

    ``status`` is ``ok`` when every check of ``result.checks`` passed, else ``warning`` with the
    failed checks' codes in ``checks`` and their messages in ``reason``. ``chi2_per_dof`` and
    ``ppc_p_value`` are the diagnostics' (:class:`fastjam.diagnostics.GoodnessOfFit`: the
    highest-posterior model, the likelihood's variance, N - 3 degrees of freedom).

    Parameters
    ----------
    result : FitResult
        The emulator fit.
    refined : RefineResult, optional
        Its refinement (:func:`fastjam.exact_fit.refine`): fills ``*_exact`` (exact JAM medians)
        and ``*_shift`` (emulator median - exact median, in exact sigma).
    """
    s, p, gof = result.summary, result.problem, result.checks.goodness
    row = {f"{name}_{q}": s[name][q] for name in TABLE_PARAMETERS for q in ("median", "p16", "p84")}
    row.update(r_hat=max(s[n]["r_hat"] for n in SAMPLED), ess_bulk=min(s[n]["ess_bulk"] for n in SAMPLED),
               chi2_per_dof=gof.chi2_per_dof, ppc_p_value=gof.ppc_p_value, n_bins=int(p.x.size),
               n_input=int(p.n_input), backend=result.backend, sampling_seconds=float(result.seconds),
               compile_seconds=float(result.timings.get("compilation", math.nan)))
    row.update(zip(("error_band_lo", "error_band_hi"), map(float, p.error_percentiles or (math.nan, math.nan))))
    failed = [(f.code, f.message) for f in result.checks.warnings]
    if refined is not None:
        row.update({f"{n}_exact": refined.exact.summary[n]["median"] for n in SAMPLED}, refined=True,
                   **{f"{n}_shift": refined.comparison[n]["shift_sigma"] for n in SAMPLED})
        if not refined.exact.diagnostics.get("converged", True):
            failed.append(("exact_not_converged", "the exact JAM posterior did not converge within its node budget: "
                                                  "raise [refine] max_nodes"))
    row.update(status="warning" if failed else "ok", checks=",".join(code for code, _ in failed),
               reason=" | ".join(f"{code}: {message}" for code, message in failed)[:2000])
    return row


class ResultsTable:
    """The survey's results: ``row.json`` per galaxy and ``results.fits`` / ``results.csv``.

    Parameters
    ----------
    out : Path
        Survey directory.
    ids : list of str
        The catalog's ids (table order).
    resume : bool
        Keep the rows already written; otherwise ``out`` must hold no results yet.
    """

    def __init__(self, out, ids, resume):
        self.out, self.ids, self.rows = Path(out), list(ids), {}
        if not resume and any((self.out / name).exists() for name in ("results.csv", "results.fits")):
            raise ValueError(f"{self.out} already holds survey results: pass --resume to continue it, or choose "
                             "another --out")
        if resume:
            for gid in self.ids:
                path = self.out / gid / "row.json"
                if path.exists():
                    self.rows[gid] = json.loads(path.read_text())

    def add(self, row):
        """Record a finished galaxy (its ``row.json`` at once, atomically)."""
        (self.out / row["id"]).mkdir(parents=True, exist_ok=True)
        write_text(self.out / row["id"] / "row.json", json.dumps(row, default=float))
        self.rows[row["id"]] = row

    def table(self):
        """The rows in catalog order as an ``astropy.table.Table``."""
        from astropy.table import Table

        rows = [self.rows[gid] for gid in self.ids if gid in self.rows]
        names = [name for name, _ in COLUMNS]
        if not rows:
            return Table(names=names, dtype=[kind for _, kind in COLUMNS])
        return Table({name: np.array([r.get(name, empty_row("")[name]) for r in rows], dtype=kind)
                      for name, kind in COLUMNS})

    def write(self):
        """Rewrite ``results.fits`` and ``results.csv`` atomically (temporary file, rename)."""
        table = self.table()
        for name, fmt in (("results.fits", "fits"), ("results.csv", "ascii.csv")):
            with atomic_path(self.out / name) as tmp:
                table.write(tmp, format=fmt, overwrite=True)


__all__ = ["COLUMNS", "FITTED", "ResultsTable", "SAMPLED", "TABLE_PARAMETERS", "empty_row", "fitted", "result_row"]

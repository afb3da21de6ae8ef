"""A catalogue of malformed inputs, run through the command line as a new user would make them.

    python bench/malformed.py [--only SUBSTRING] [--steps 600] [--walkers 16]

Every case builds its inputs in a scratch directory (from the example galaxy), runs one
``fastjam`` command in this process (``fastjam.cli.main``) or one reader, and is classified:

* ``error``: non-zero exit with a one-line ``fastjam CMD: error: ...`` (or argparse's) message;
* ``warning``: exit 0 with a warning from the reader or :mod:`fastjam.diagnostics`;
* ``ok``: exit 0, no warning;
* ``traceback``: an exception escaped (a defect).

A case says what it expects: ``flag`` (a mistake: error or warning, never ok) or ``ok`` (valid
input that must pass without a false alarm). ``silent`` counts mistakes that ended ``ok``.
Fits run emcee with short chains (``--steps``, ``--walkers``): the sampler's own convergence
messages (``not_converged``, emcee's autocorrelation note, its stop at the step cap) are
therefore not counted as warnings. Prints a table and writes ``bench/results/malformed.json``.
"""
import argparse
import contextlib
import io
import json
import logging
import shutil
import sys
import tempfile
import time
import traceback
from pathlib import Path

import numpy as np

from _common import REPO, RESULTS, machine_info
from malformed_inputs import (Case, MOCKS, SAMPLER, argv_case, big_fits, big_text, config_case, earlier_fit,
                              example_table, fit_argv, fits_case, fits_image, manga_case, mge_case, raw_file, scaled,
                              signed_velocity, sky_table, table_case, with_col, write_config, write_table)

#: Warnings that come from short benchmark chains, not from the input.
IGNORED = ("not converged", "shorter than 50 autocorrelation times", "emcee stopped at the cap of")


def catalogue():
    C = []
    add = lambda name, kind, expect, make: C.append(Case(name, kind, expect, make))  # noqa: E731
    # the clean inputs: no false alarms
    add("clean example", "fit", "ok", config_case())
    for mock in sorted(p.name for p in MOCKS.iterdir() if p.is_dir()):
        add(f"clean mock {mock}", "fit", "ok", argv_case("fit", str(MOCKS / mock / "galaxy.toml"), "--backend", "emcee",
                                                          *SAMPLER, "--no-progress"))
    add("clean sky table with pa", "fit", "ok",
        lambda tmp: fit_argv(write_config(tmp, {"pa": 35.0}, table=write_table(tmp, sky_table(35.0)))))
    add("clean FITS image", "fits", "ok", fits_case())
    add("clean FITS cube (cube = true)", "fits", "ok", fits_case({"cube": True}, cube=True))
    add("clean MaNGA with header defaults", "manga", "ok",
        manga_case(drop_galaxy=("r_e", "q_obs", "sigma_psf"), galaxy={"sersic_n": 3.5}))
    add("clean fit with --out", "cli", "ok", lambda tmp: fit_argv(write_config(tmp), "--out", str(Path(tmp) / "o")))
    add("comments and blank lines in table", "table", "ok",
        lambda tmp: fit_argv(write_config(tmp, table=_commented(tmp))))

    # bin tables: the silent mistakes of the issue
    add("signed V in the V_RMS column", "table", "flag", table_case(signed_velocity))
    add("distance in kpc", "table", "flag", config_case({"distance": 25000.0}))
    add("distance in Gpc", "table", "flag", config_case({"distance": 0.025}))
    add("position angle in radians", "table", "flag",
        lambda tmp: fit_argv(write_config(tmp, {"pa": float(np.radians(35.0))}, table=write_table(tmp, sky_table(35.0)))))
    add("position angle off by 90 deg", "table", "flag",
        lambda tmp: fit_argv(write_config(tmp, {"pa": 125.0}, table=write_table(tmp, sky_table(35.0)))))
    add("sky table without pa", "table", "flag",
        lambda tmp: fit_argv(write_config(tmp, table=write_table(tmp, sky_table(35.0)))))
    add("positions in kpc", "table", "flag", table_case(lambda t: scaled(1, 25e3 / 206265)(scaled(0, 25e3 / 206265)(t))))
    add("positions in pixels (0.8 arcsec)", "table", "flag", table_case(lambda t: scaled(1, 1.25)(scaled(0, 1.25)(t))))
    add("positions in pc", "table", "flag", table_case(lambda t: scaled(1, 121.2)(scaled(0, 121.2)(t))))
    add("positions in degrees", "table", "flag", table_case(lambda t: scaled(1, 1 / 3600)(scaled(0, 1 / 3600)(t))))
    add("errors in per cent", "table", "flag", table_case(with_col(3, lambda t: 100 * t[:, 3] / t[:, 2])))
    add("errors as a fraction", "table", "flag", table_case(with_col(3, lambda t: t[:, 3] / t[:, 2])))
    add("errors as variance", "table", "flag", table_case(with_col(3, lambda t: t[:, 3] ** 2)))
    add("errors doubled", "table", "flag", table_case(scaled(3, 3.0)))
    add("errors a third", "table", "flag", table_case(scaled(3, 1 / 3)))
    add("V_RMS and error swapped", "table", "flag", table_case(lambda t: t[:, [0, 1, 3, 2]]))
    add("x and y swapped", "table", "flag", table_case(lambda t: t[:, [1, 0, 2, 3]]))
    add("FWHM given as sigma_psf", "table", "flag", config_case({"sigma_psf": 0.8 * 2.3548}))
    add("FWHM given as sigma_psf, twice the seeing", "table", "flag", config_case({"sigma_psf": 0.8 * 2.3548 * 2}))
    add("L_tot as log10", "table", "flag", config_case({"l_tot": 10.477}))
    add("L_tot in 1e10 Lsun", "table", "flag", config_case({"l_tot": 3.0}))
    add("duplicated bins", "table", "flag", table_case(lambda t: np.vstack([t, t])))
    add("a single bin", "table", "flag", table_case(lambda t: t[:1]))
    add("three bins", "table", "flag", table_case(lambda t: t[:3]))
    add("ten bins", "table", "flag", table_case(lambda t: t[:10]))
    add("V_RMS in m/s", "table", "flag", table_case(lambda t: scaled(3, 1e3)(scaled(2, 1e3)(t))))
    add("centre offset by 20 arcsec", "table", "flag", table_case(lambda t: with_col(0, lambda u: u[:, 0] + 20)(t)))
    add("absolute pixel positions", "table", "flag",
        table_case(lambda t: with_col(1, lambda u: u[:, 1] / 0.8 + 40)(with_col(0, lambda u: u[:, 0] / 0.8 + 40)(t))))
    add("r_e in kpc", "table", "flag", config_case({"r_e": 0.97}))
    add("q_obs as ellipticity", "table", "flag", config_case({"q_obs": 0.35}))
    add("negative V_RMS values", "table", "flag", table_case(lambda t: with_col(2, lambda u: -u[:, 2])(t)))
    add("zero V_RMS bin", "table", "flag", table_case(lambda t: with_col(2, lambda u: np.where(np.arange(len(u)) == 5,
                                                                                                0, u[:, 2]))(t)))
    add("NaN V_RMS bins", "table", "flag", table_case(lambda t: with_col(2, lambda u: np.where(np.arange(len(u)) < 3,
                                                                                               np.nan, u[:, 2]))(t)))
    add("zero errors", "table", "flag", table_case(lambda t: with_col(3, lambda u: np.where(np.arange(len(u)) < 3,
                                                                                             0, u[:, 3]))(t)))
    add("negative errors", "table", "flag", table_case(lambda t: with_col(3, lambda u: -u[:, 3])(t)))
    add("all bins beyond the field, drop", "table", "flag", table_case(lambda t: with_col(0, lambda u: u[:, 0] + 100)(t),
                                                                       data={"drop_outside_field": True}))
    add("bins beyond the field, no drop", "table", "flag", table_case(lambda t: with_col(0, lambda u: u[:, 0] * 3)(t)))
    add("empty table", "table", "flag", raw_file("# nothing\n"))
    add("three columns", "table", "flag", raw_file("0 0 300\n1 0 290\n"))
    add("six columns", "table", "flag", raw_file("0 0 300 5 1 2\n1 0 290 5 1 2\n"))
    add("ragged columns", "table", "flag", raw_file("0 0 300 5\n1 0 290\n"))
    add("text in a number column", "table", "flag", raw_file("0 0 300 five\n"))
    add("comma-separated table", "table", "flag", raw_file("0,0,300,5\n1,0,290,5\n"))
    add("binary file as table", "table", "flag", raw_file(bytes(range(256)) * 4))
    add("UTF-16 table", "table", "flag", raw_file("0 0 300 5\n".encode("utf-16")))
    add("table too large for memory", "table", "flag", big_text)
    add("data path does not exist", "table", "flag", config_case(data={"path": "/nonexistent/bins.txt"}))
    add("data path is a directory", "table", "flag", lambda tmp: fit_argv(write_config(tmp, table=Path(tmp))))
    add("FITS file given as text", "table", "flag", lambda tmp: fit_argv(write_config(tmp, table=fits_image(tmp))))

    # configs
    add("invalid TOML", "config", "flag", config_case(extra="[sampler\n"))
    add("unknown section", "config", "flag", config_case(extra="[sample]\nsteps = 3\n"))
    add("unknown key", "config", "flag", config_case(extra="[sampler]\nstep = 3\n"))
    add("string for a number", "config", "flag", config_case({"distance": "25"}))
    add("missing distance", "config", "flag", config_case(drop=("distance",)))
    add("missing pixsize", "config", "flag", config_case(drop=("pixsize",)))
    add("missing psf", "config", "flag", config_case(drop=("sigma_psf",)))
    add("sigma_psf and fwhm_psf", "config", "flag", config_case({"fwhm_psf": 1.9}))
    add("negative r_e", "config", "flag", config_case({"r_e": -8.0}))
    add("q_obs above 1", "config", "flag", config_case({"q_obs": 1.5}))
    add("NaN distance", "config", "flag", config_case(extra="", galaxy={"distance": float("nan")}))
    add("zero pixsize", "config", "flag", config_case({"pixsize": 0.0}))
    add("l_tot and magnitude", "config", "flag", config_case({"magnitude": 11.0, "m_sun": 4.65}))
    add("neither l_tot nor magnitude", "config", "flag", config_case(drop=("l_tot",)))
    add("magnitude without m_sun", "config", "flag", config_case({"l_tot": None, "magnitude": 11.0}))
    add("sersic n 50", "config", "flag", config_case({"sersic_n": 50.0}))
    add("pa 1000 deg", "config", "flag", config_case({"pa": 1000.0}))
    add("M/L prior reversed", "config", "flag", lambda tmp: fit_argv(_priors(tmp, "ml = [20.0, 0.5]")))
    add("M/L prior one value", "config", "flag", lambda tmp: fit_argv(_priors(tmp, "ml = [2.0]")))
    add("beta_z_min -5", "config", "flag", lambda tmp: fit_argv(_priors(tmp, "beta_z_min = -5.0")))
    add("unknown inclination prior", "config", "flag", lambda tmp: fit_argv(_priors(tmp, 'inclination = "flat"')))
    add("data format unknown", "config", "flag", config_case(data={"format": "csv"}))
    add("walkers 3", "config", "flag", config_case(extra="[sampler]\nwalkers = 3\n"))
    add("seed -1 in config", "config", "flag", config_case(extra="[sampler]\nseed = -1\n"))
    add("burn >= steps", "config", "flag", config_case(extra="[sampler]\nsteps = 100\nburn = 100\n"))
    add("mge with Sérsic keys", "config", "flag", config_case({"mge": "mge.txt"}))
    add("config file does not exist", "config", "flag", argv_case("fit", "{tmp}/none.toml"))
    add("config is a directory", "config", "flag", argv_case("fit", "{tmp}"))
    add("config is a data table", "config", "flag", argv_case("fit", "{bins}"))

    # FITS
    add("FITS cube without cube = true", "fits", "flag", fits_case(cube=True))
    add("FITS cube with err_ext and cube", "fits", "flag", fits_case({"cube": True, "err_ext": 1}, cube=True))
    add("FITS without WCS", "fits", "flag", fits_case(wcs=False))
    add("FITS error image of another shape", "fits", "flag", fits_case(shape_err=(10, 10)))
    add("FITS all NaN", "fits", "flag", fits_case(nan=True))
    add("FITS missing extension", "fits", "flag", fits_case({"err_ext": "NOPE"}))
    add("text file as FITS", "fits", "flag", raw_file("0 0 300 5\n", fmt="fits"))
    add("FITS image too large", "fits", "flag", big_fits)

    # MaNGA
    add("MaNGA per-spaxel DAPTYPE", "manga", "flag", manga_case(header={"DAPTYPE": "SPX-MILESHC-MASTARHC2"}))
    add("MaNGA DAPQUAL critical", "manga", "flag", manga_case(header={"DAPQUAL": 2**30}))
    add("MaNGA low BIN_SNR", "manga", "flag", manga_case(snr=4.0))
    add("MaNGA no ECOOPA, no pa", "manga", "flag", manga_case(header={"ECOOPA": None}))
    add("MaNGA no REFF, no r_e", "manga", "flag", manga_case(header={"REFF": None}, drop_galaxy=("r_e",)))
    add("MaNGA missing extension", "manga", "flag", manga_case(drop=("STELLAR_SIGMACORR",)))
    add("MaNGA all masked", "manga", "flag", manga_case(masked=True))
    add("MaNGA non-integer BINID", "manga", "flag", manga_case(binid_float=True))
    add("text file as MaNGA", "manga", "flag", raw_file("0 0 300 5\n", fmt="manga"))

    # MGE
    add("MGE with the emulator", "mge", "flag", mge_case("1000 1.0 0.6\n", forward="emulator"))
    add("MGE file missing", "mge", "flag", lambda tmp: fit_argv(write_config(
        tmp, {"mge": "/nonexistent/mge.txt"}, drop=("sersic_n", "r_e", "q_obs", "l_tot"),
        extra='[forward]\nmodel = "jam"\n')))
    add("MGE empty", "mge", "flag", mge_case("# nothing\n"))
    add("MGE two columns", "mge", "flag", mge_case("1000 1.0\n"))
    add("MGE negative sigma", "mge", "flag", mge_case("1000 -1.0 0.6\n"))
    add("MGE q_obs above 1", "mge", "flag", mge_case("1000 1.0 1.6\n"))
    add("MGE text", "mge", "flag", mge_case("surf sigma q\n"))

    # command-line options and output paths
    add("--set without =", "cli", "flag", argv_case("fit", "{cfg}", "--set", "sampler.steps"))
    add("--set without section", "cli", "flag", argv_case("fit", "{cfg}", "--set", "steps=5"))
    add("--set unknown key", "cli", "flag", argv_case("fit", "{cfg}", "--set", "sampler.stepz=5"))
    add("--set wrong type", "cli", "flag", argv_case("fit", "{cfg}", "--set", "sampler.steps=many"))
    add("--backend unknown", "cli", "flag", argv_case("fit", "{cfg}", "--backend", "hmc"))
    add("--out is a file", "cli", "flag", argv_case("fit", "{cfg}", "--out", "{bins}"))
    add("--out under a file", "cli", "flag", argv_case("fit", "{cfg}", "--out", "{bins}/out"))
    add("--out not writable", "cli", "flag", argv_case("fit", "{cfg}", "--out", "/proc/fastjam_out"))
    add("--out holds an earlier fit", "cli", "flag", earlier_fit())
    add("--resume with nothing to resume", "cli", "flag", earlier_fit("--resume"))
    add("--resume without --out", "cli", "flag", argv_case("fit", "{cfg}", "--resume"))
    add("--resume and --overwrite", "cli", "flag", earlier_fit("--resume", "--overwrite"))
    add("--emulator missing", "cli", "flag", argv_case("fit", "{cfg}", "--emulator", "{tmp}/none"))
    add("unknown option", "cli", "flag", argv_case("fit", "{cfg}", "--stepz", "5"))
    add("--strict on a warning", "cli", "flag", lambda tmp: table_case(lambda t: t[:10])(tmp) + ["--strict"])
    add("simulate --seed -1", "simulate", "flag", argv_case("simulate", "--n", "3", "--seed", "-1", "--out", "{tmp}/s"))
    add("simulate --n 0", "simulate", "flag", argv_case("simulate", "--n", "0", "--seed", "1", "--out", "{tmp}/s"))
    add("simulate --n abc", "simulate", "flag", argv_case("simulate", "--n", "abc", "--seed", "1", "--out", "{tmp}/s"))
    add("simulate --workers -1", "simulate", "flag", argv_case("simulate", "--n", "3", "--seed", "1", "--workers", "-1",
                                                                "--out", "{tmp}/s"))
    add("simulate --nrad 0", "simulate", "flag", argv_case("simulate", "--n", "3", "--seed", "1", "--nrad", "0",
                                                            "--out", "{tmp}/s"))
    add("simulate --out is a file", "simulate", "flag", argv_case("simulate", "--n", "3", "--seed", "1", "--out",
                                                                   "{bins}"))
    add("simulate --family unknown", "simulate", "flag", argv_case("simulate", "--n", "3", "--seed", "1", "--family",
                                                                    "disk", "--out", "{tmp}/s"))
    add("train --data missing", "train", "flag", argv_case("train", "--data", "{tmp}/none", "--out", "{tmp}/t"))
    add("train --data is a file", "train", "flag", argv_case("train", "--data", "{bins}", "--out", "{tmp}/t"))
    add("train --out is a file", "train", "flag", argv_case("train", "--data", "{tmp}", "--out", "{bins}"))
    add("train --lr -1", "train", "flag", argv_case("train", "--data", "{tmp}", "--out", "{tmp}/t", "--lr", "-1"))
    add("train --lr nan", "train", "flag", argv_case("train", "--data", "{tmp}", "--out", "{tmp}/t", "--lr", "nan"))
    add("train --epochs 0", "train", "flag", argv_case("train", "--data", "{tmp}", "--out", "{tmp}/t", "--epochs", "0"))
    add("train --seed -3", "train", "flag", argv_case("train", "--data", "{tmp}", "--out", "{tmp}/t", "--seed", "-3"))
    add("train --device gpu", "train", "flag", argv_case("train", "--data", "{tmp}", "--out", "{tmp}/t", "--device",
                                                          "gpu"))
    add("train on an empty directory", "train", "flag", argv_case("train", "--data", "{tmp}", "--out", "{tmp}/t"))
    add("evaluate --data missing", "evaluate", "flag", argv_case("evaluate", "--data", "{tmp}/none"))
    add("evaluate --json is a directory", "evaluate", "flag", argv_case("evaluate", "--data", "{tmp}", "--json",
                                                                         "{tmp}"))
    add("evaluate --plots is a file", "evaluate", "flag", argv_case("evaluate", "--data", "{tmp}", "--plots", "{bins}"))
    add("evaluate --model missing", "evaluate", "flag", argv_case("evaluate", "--data", "{tmp}", "--model",
                                                                   "{tmp}/none"))
    add("evaluate --seed -1", "evaluate", "flag", argv_case("evaluate", "--data", "{tmp}", "--seed", "-1"))
    add("evaluate on an empty directory", "evaluate", "flag", argv_case("evaluate", "--data", "{tmp}"))
    add("compare config missing", "compare", "flag", argv_case("compare", "{tmp}/none.toml"))
    add("compare --grid 1 1", "compare", "flag", argv_case("compare", "{cfg}", "--jam-method", "grid", "--grid", "1", "1"))
    add("compare --jam-walkers 3", "compare", "flag", argv_case("compare", "{cfg}", "--jam-walkers", "3"))
    add("compare --out is a file", "compare", "flag", argv_case("compare", "{cfg}", "--out", "{bins}"))
    add("compare --set without =", "compare", "flag", argv_case("compare", "{cfg}", "--set", "x"))
    add("compare --workers -2", "compare", "flag", argv_case("compare", "{cfg}", "--workers", "-2"))
    return C


def _commented(tmp):
    lines = ["# a comment", ""] + [" ".join(f"{v:.6g}" for v in row) + "   # bin" for row in example_table()]
    path = Path(tmp) / "commented.txt"
    path.write_text("\n".join(lines) + "\n")
    return path


def _priors(tmp, line):
    path = write_config(tmp)
    path.write_text(path.read_text().replace("ml = [0.5, 20.0]", line))
    return path


def run_case(case):
    """Run one case; returns a dict with outcome, exit code and the first message."""
    from fastjam import cli
    from fastjam.survey import WarningCollector

    tmp = tempfile.mkdtemp(prefix="fastjam_malformed_")
    handler = WarningCollector()
    root = logging.getLogger()
    root.addHandler(handler)
    err, out = io.StringIO(), io.StringIO()
    t0 = time.perf_counter()
    try:
        argv = case.make(tmp)
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(out):
            try:
                code = cli.main(argv)
            except SystemExit as exc:          # argparse
                code = exc.code if isinstance(exc.code, int) else 2
        tb = None
    except Exception:  # noqa: BLE001 -- a traceback is what we count
        code, tb = None, traceback.format_exc().strip().splitlines()[-1]
    finally:
        root.removeHandler(handler)
        shutil.rmtree(tmp, ignore_errors=True)
    warnings = [m for m in handler.messages if not any(s in m for s in IGNORED)]
    stderr = [line for line in err.getvalue().splitlines() if line.strip()]
    if tb is not None:
        outcome, message = "traceback", tb
    elif code:
        outcome = "error"
        message = next((line for line in reversed(stderr) if "error" in line), stderr[-1] if stderr else "")
    elif warnings:
        outcome, message = "warning", warnings[0]
    else:
        outcome, message = "ok", ""
    verdict = ("traceback" if outcome == "traceback" else "silent" if case.expect == "flag" and outcome == "ok"
               else "false alarm" if case.expect == "ok" and outcome != "ok" else "pass")
    message = message.replace(tmp, "<tmp>").replace(str(REPO), "<repo>")   # no local paths in the results
    return dict(name=case.name, kind=case.kind, expect=case.expect, outcome=outcome, verdict=verdict, exit=code,
                message=message[:300], seconds=round(time.perf_counter() - t0, 2))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default=None, help="run only cases whose name contains this")
    parser.add_argument("--steps", type=int, default=600)
    parser.add_argument("--walkers", type=int, default=16)
    parser.add_argument("--out", default=str(RESULTS / "malformed.json"))
    args = parser.parse_args(argv)
    SAMPLER[:] = ["--set", f"sampler.steps={args.steps}", "--set", f"sampler.walkers={args.walkers}"]
    cases = [c for c in catalogue() if args.only is None or args.only in c.name]
    rows = []
    for case in cases:
        row = run_case(case)
        rows.append(row)
        print(f"{row['verdict']:<11s} {row['outcome']:<9s} {case.kind:<8s} {case.name:<40s} {row['message'][:110]}",
              flush=True)
    print(table(rows))
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(dict(machine=machine_info(), sampler=dict(steps=args.steps,
                                              walkers=args.walkers), summary=summary(rows), cases=rows), indent=1))
    return 0 if all(r["verdict"] == "pass" for r in rows) else 1


def summary(rows):
    kinds = sorted({r["kind"] for r in rows})
    out = {}
    for kind in kinds + ["all"]:
        sel = [r for r in rows if kind in ("all", r["kind"])]
        out[kind] = {k: sum(r["outcome"] == k for r in sel) for k in ("error", "warning", "ok", "traceback")}
        out[kind].update(cases=len(sel), silent=sum(r["verdict"] == "silent" for r in sel),
                         false_alarm=sum(r["verdict"] == "false alarm" for r in sel))
    return out


def table(rows):
    s = summary(rows)
    head = f"{'input kind':<10s}{'cases':>7s}{'error':>7s}{'warning':>9s}{'ok':>5s}{'silent':>8s}{'false alarm':>13s}" \
           f"{'traceback':>11s}"
    lines = [head]
    for kind, c in s.items():
        lines.append(f"{kind:<10s}{c['cases']:>7d}{c['error']:>7d}{c['warning']:>9d}{c['ok']:>5d}{c['silent']:>8d}"
                     f"{c['false_alarm']:>13d}{c['traceback']:>11d}")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())

"""The general (MGE) emulator against the Sérsic one on single-Sérsic jampy maps, side by side.

Should a Sérsic galaxy still be fitted with the Sérsic emulator? Both networks are run on the same
held-out maps of the Sérsic design (``fastjam simulate --n 2048 --seed 2``, the Sérsic card's test
design) at each map's own (i, beta_z): the Sérsic emulator on the map grid (``Emulator.log_maps``),
the general one as a fit runs it, on the galaxy's Sérsic MGE through ``GeneralEmulator.bind`` at the
same grid nodes. e = f_emu/f_JAM - 1 over the nodes inside both emulators' fields (the general one
scales by the MGE's own half-light radius, which for n near 8 is a few per cent smaller than the
analytic R_e: the Sérsic field's outer corners then lie beyond its field and are left out of both)::

    fastjam simulate --n 2048 --seed 2 --los-nodes 128 --out ~/.cache/fastjam/sersic_test --resume
    python bench/general_sersic.py --test ~/.cache/fastjam/sersic_test

Prints a table (all maps and by Sérsic index) and writes ``bench/results/general_sersic.json``.
"""
import argparse
import logging
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import RESULTS, git_commit, machine_info, shown_path  # noqa: E402
from general_emulator import ACCURACY, table  # noqa: E402

from fastjam.atomic import write_json  # noqa: E402

R_E, DISTANCE, L_TOT = 10.0, 20.0, 1e10  # arcsec, Mpc, Lsun: any values (the scaling law removes them)
N_BINS = (1.0, 2.0, 4.0, 6.0, 8.01)


def general_errors(model, params, f_true, progress=True):
    """Relative errors of the general emulator ``model`` per map over the grid nodes inside its field.

    A map whose galaxy lies outside the general domain is evaluated all the same (the model's copy
    with ``allow_extrapolation``) and marked.

    Returns
    -------
    e : ndarray, shape (N, NTHETA*NR)
        NaN at nodes beyond the general emulator's field.
    refused : list of (int, str)
        Position and the domain error of each map outside the domain.
    """
    from tqdm import tqdm

    from fastjam.emulator.general_model import GeneralEmulator
    from fastjam.galaxy import Galaxy, Sersic
    from fastjam.physics.grid import inside_field, polar_grid
    from fastjam.physics.scaling import velocity_scale

    beyond = GeneralEmulator(model.arrays, model.card, allow_extrapolation=True)
    x, y = (v.ravel() for v in polar_grid())
    e, refused = np.full((len(params), x.size), np.nan), []
    for k in tqdm(range(len(params)), desc="general emulator", disable=not progress):
        n, q_obs, inc, beta, psf, pix = params[k]
        galaxy = Galaxy(Sersic(n, R_E, q_obs, L_TOT), DISTANCE, psf * R_E, pix * R_E)
        scale = R_E / model.effective_radius(galaxy)
        inside = inside_field(x * scale, y * scale)
        try:
            bound = model.bind(galaxy, x[inside] * R_E, y[inside] * R_E)
        except ValueError as err:
            refused.append((k, f"n = {n:.2f}, q_obs = {q_obs:.2f}: {err}"))
            bound = beyond.bind(galaxy, x[inside] * R_E, y[inside] * R_E)
        v = np.asarray(bound(inc, beta, 1.0), dtype=float)
        e[k, inside] = v / velocity_scale(1.0, L_TOT, R_E, DISTANCE) / f_true[k].ravel()[inside] - 1
    return e, refused


def sersic_errors(model, params, f_true):
    """Relative errors of the Sérsic emulator ``model`` per map on the grid nodes, (N, NTHETA*NR)."""
    ln_f = np.concatenate([model.log_maps(params[k:k + 256]) for k in range(0, len(params), 256)])
    return np.expm1(ln_f - np.log(f_true)).reshape(len(params), -1)


def rows_of(errors, n):
    """A row per emulator for all maps and for each bin of Sérsic index ``n``."""
    from fastjam.emulator.general_evaluate import error_stats

    rows = []
    for lo, hi in [(None, None)] + list(zip(N_BINS[:-1], N_BINS[1:])):
        sel = np.ones(len(n), bool) if lo is None else (n >= lo) & (n < hi)
        group = "all" if lo is None else f"n {lo:g}-{min(hi, 8):g}"
        rows += [dict(group=group, emulator=name, maps=int(sel.sum()), **error_stats(e[sel]))
                 for name, e in errors.items() if sel.any()]
    return rows


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--test", required=True, help="held-out Sérsic maps (fastjam simulate --seed 2)")
    p.add_argument("--first", type=int, help="only the maps of design indices below this")
    p.add_argument("--general", default="data/emulator_mge", help="general emulator directory")
    p.add_argument("--sersic", default="data/emulator", help="Sérsic emulator directory")
    p.add_argument("--json", default=str(RESULTS / "general_sersic.json"))
    p.add_argument("--no-progress", action="store_true")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    import torch

    from fastjam.dataset import dataset_fields, load_dataset
    from fastjam.emulator.model import Emulator

    torch.set_num_threads(1)
    data = load_dataset(args.test)
    if args.first is not None:
        data = data.subset(data.index < args.first)
    if "f" not in dataset_fields(data.meta) or len(data) == 0:
        raise ValueError(f"{args.test} holds no single-Sérsic maps (fastjam simulate without --family mge)")
    general, sersic = Emulator.load(args.general), Emulator.load(args.sersic)
    e_gen, refused = general_errors(general, data.params, data.f, progress=not args.no_progress)
    e_ser = np.where(np.isnan(e_gen), np.nan, sersic_errors(sersic, data.params, data.f))
    out = np.isin(np.arange(len(data)), [k for k, _ in refused])
    n = data.params[:, 0]
    rows = rows_of({"sersic": e_ser[~out], "general": e_gen[~out]}, n[~out])
    if out.any():
        rows += rows_of({"sersic": e_ser[out], "general, extrapolated": e_gen[out]}, n[out])[:2]
        rows[-2]["group"] = rows[-1]["group"] = "outside general"
    print(table(rows, ("group", "emulator", "maps") + ACCURACY))
    left_out = float(np.isnan(e_gen).mean())
    print(f"{len(data)} maps, {out.sum()} of them outside the general domain (evaluated beyond it in the last rows); "
          f"{left_out:.2%} of the nodes lie beyond the general emulator's field and are left out")
    print("\n".join(why for _, why in refused[:5]))
    write_json(args.json, dict(benchmark="general_sersic", rows=rows, nodes_left_out=left_out, refused=[why for _, why in refused],
                               args=dict(vars(args), test=shown_path(args.test), general=shown_path(args.general),
                                         sersic=shown_path(args.sersic), json=shown_path(args.json)),
                               git=git_commit(), machine=machine_info()))
    print(f"written {shown_path(args.json)}")


if __name__ == "__main__":
    main()

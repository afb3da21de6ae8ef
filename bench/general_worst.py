"""The general emulator's worst held-out maps against a finer JAM: is their error the network's or JAM's?

The held-out maps are JAM on a 40 x 20 grid (epsrel 1e-2, ``fastjam.jam.JAMSettings``), whose own error
is small on typical maps (``bench/general_jam.py jam``) but may not be on the hardest ones. For the
``--n`` maps of ``--test`` on which the network errs most after the ``--skip`` worst (largest per-map
max |e| at one random anisotropy per map, seed 0), JAM is run again on a 3x finer grid (120 x 60,
epsrel 1e-3) and three errors are compared per map: network against the stored map (what the card reports), stored map
against the finer one (JAM's own), network against the finer one. Equal first and third columns with
a small second one mean the error is the network's. ``--by centre-bias`` ranks the maps by their coherent
error over the centre (|mean e| over the grid nodes inside 0.1 R_e, where the bias lies:
``bench/general_regimes.py``) instead, and every row also gives that bias for the three pairs.

Usage::

    python bench/general_worst.py --test ~/.cache/fastjam/mge_test --model data/emulator_mge --n 12

prints a table and writes ``bench/results/general_worst.json`` (or ``--json``).
"""
import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import RESULTS, machine_info, shown_path  # noqa: E402
from general_jam import fine_jam  # noqa: E402

from fastjam.atomic import write_json  # noqa: E402
from fastjam.emulator.general_loss import centre_nodes  # noqa: E402

PAIRS = (("emu_vs_stored", "network against the stored map"), ("stored_vs_fine", "JAM's own"),
         ("emu_vs_fine", "network against the finer map"))


def _stats(name, e):
    return {f"max_{name}": float(np.abs(e).max()), f"rms_{name}": float(np.sqrt(np.mean(e**2))),
            f"bias_{name}": float(e.mean())}


def worst_maps(model, test, n, skip=0, by="max"):
    """Rows (one per map) of the three errors of the module docstring for the ``n`` worst maps after the
    ``skip`` worst (``skip`` = 5% of the maps puts them at the per-map max p95 of the card), ranked by the
    per-map maximum (``by="max"``) or by the bias over the centre (``"centre-bias"``)."""
    from fastjam.dataset import load_dataset
    from fastjam.emulator.general import GeneralEmulatorNetwork
    from fastjam.emulator.general_data import draw_betas, map_inputs, true_ln_f
    from fastjam.emulator.general_evaluate import predict_ln_f
    from fastjam.emulator.store import load_arrays

    ds = load_dataset(test)
    inp = map_inputs(ds)
    arrays, card = load_arrays(model)
    net = GeneralEmulatorNetwork.from_arrays(arrays, card)
    beta = draw_betas(inp, np.random.default_rng(0))
    ln_emu, ln_stored = predict_ln_f(net, inp, beta), true_ln_f(inp, beta)
    e_stored, centre = np.expm1(ln_emu - ln_stored), centre_nodes()
    rank = np.abs(e_stored).max(1) if by == "max" else np.abs(e_stored[:, centre].mean(1))
    worst = np.argsort(rank)[::-1][skip:skip + n]
    ln_fine = true_ln_f(fine_jam(ds, worst), beta[worst])
    rows = []
    for j, k in enumerate(worst):
        e = dict(emu_vs_stored=ln_emu[k] - ln_stored[k], stored_vs_fine=ln_stored[k] - ln_fine[j],
                 emu_vs_fine=ln_emu[k] - ln_fine[j])
        row = dict(index=int(ds.index[k]), inclination=float(ds.params[k][1]), beta_z=float(beta[k]))
        for name, _ in PAIRS:
            rel = np.expm1(e[name])
            row.update(_stats(name, rel), **{f"centre_bias_{name}": float(rel[centre].mean())})
        rows.append(row)
    return rows


def _table(rows):
    head = f"{'map':>6} {'incl':>5} " + " ".join(f"{'max ' + n:>20}" for n, _ in PAIRS) + "  " + \
        " ".join(f"{'rms ' + n:>20}" for n, _ in PAIRS)
    lines = [head] + [f"{r['index']:>6} {r['inclination']:>5.1f} "
                      + " ".join(f"{100 * r['max_' + n]:>19.2f}%" for n, _ in PAIRS) + "  "
                      + " ".join(f"{100 * r['rms_' + n]:>19.2f}%" for n, _ in PAIRS) for r in rows]
    return "\n".join(lines)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--test", required=True, help="held-out set (mge_test of scripts/make_training_sets_mge.sh)")
    p.add_argument("--model", default=str(Path(__file__).resolve().parents[1] / "data" / "emulator_mge"))
    p.add_argument("--n", type=int, default=12, help="how many of the worst maps")
    p.add_argument("--skip", type=int, default=0, help="skip this many of the worst maps first")
    p.add_argument("--by", choices=("max", "centre-bias"), default="max", help="rank maps by the per-map maximum "
                   "|e| or by |mean e| over the centre (r < 0.1 R_e)")
    p.add_argument("--json", default=str(RESULTS / "general_worst.json"))
    args = p.parse_args(argv)
    if args.n < 1:
        raise ValueError(f"--n must be at least 1, got {args.n}")
    if args.skip < 0:
        raise ValueError(f"--skip must be at least 0, got {args.skip}")
    t0 = time.perf_counter()
    rows = worst_maps(args.model, args.test, args.n, args.skip, args.by)
    summary = {f"median_{k}_{n}": float(np.median([r[f'{k}_{n}'] for r in rows])) for k in ("max", "rms")
               for n, _ in PAIRS}
    summary.update({f"median_abs_centre_bias_{n}": float(np.median([abs(r[f'centre_bias_{n}']) for r in rows]))
                    for n, _ in PAIRS})
    print(_table(rows))
    print(" ".join(f"{k} {100 * v:.2f}%" for k, v in summary.items()))
    out = dict(benchmark="general_worst", model=shown_path(args.model), test=shown_path(args.test),
               columns=dict(PAIRS), rows=rows, summary=summary, seconds=time.perf_counter() - t0,
               args=dict(vars(args), test=shown_path(args.test), model=shown_path(args.model),
                         json=shown_path(args.json)), machine=machine_info())
    write_json(args.json, out, indent=1)
    print(f"written {shown_path(args.json)}")


if __name__ == "__main__":
    main()

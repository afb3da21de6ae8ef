"""Where two general emulators disagree, does the first err? Disagreement as a guide to where JAM maps are needed.

On the held-out maps of ``--test`` (``mge_test``) the first network's per-map maximum error max|e|,
e = f_emu/f_JAM - 1 at one random anisotropy per map, is compared with the disagreement of the two
networks, which needs no JAM call (``fastjam.emulator.general_evaluate.committee_disagreement``:
d = max |ln f_1 - ln f_2| over the map at both ends of the anisotropy prior): Spearman's rho between
d and max|e|, and how many of the worst maps (top 5% by max|e|) are among the top 5, 10 and 20% by d
(1, 2 and 4 times the worst share if d were random). A high capture
says that a pool of candidate galaxies ranked by d (query by committee) puts the JAM calls where the
network errs.

Usage::

    python bench/general_committee.py --test ~/.cache/fastjam/mge_test --models data/emulator_mge OTHER_NET

prints a table and writes ``bench/results/general_committee.json`` (or ``--json``).
"""
import argparse
import logging
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import RESULTS, machine_info, shown_path  # noqa: E402

from fastjam.atomic import write_json  # noqa: E402

WORST = 0.05  #: share of the maps counted as the worst
TOPS = (0.05, 0.10, 0.20)  #: shares of the maps ranked by disagreement


def committee(d, e):
    """Agreement of the disagreement ``d`` (N,) with the per-map maximum of the errors ``e`` (N, NPIX).

    Returns
    -------
    dict
        ``rho_max`` (Spearman), and per top share of the maps by d: ``capture`` (the fraction of the
        worst ``WORST`` maps by max|e| among them) and the medians of max|e| inside and outside it.
    """
    from scipy.stats import spearmanr

    e_max = np.abs(e).max(1)
    worst = e_max >= np.quantile(e_max, 1 - WORST)
    rows = []
    for top in TOPS:
        sel = d >= np.quantile(d, 1 - top)
        rows.append(dict(top=top, capture=float(worst[sel].sum() / worst.sum()),
                         map_max_median_in=float(np.median(e_max[sel])),
                         map_max_median_out=float(np.median(e_max[~sel]))))
    return dict(n_maps=int(len(e_max)), rho_max=float(spearmanr(d, e_max)[0]), worst_share=WORST, rows=rows)


def _table(result):
    lines = [f"Spearman rho of the disagreement with max|e|: {result['rho_max']:.3f} ({result['n_maps']} maps)",
             f"{'top by d':>14} {'holds of worst 5%':>18} {'median max|e| in':>17} {'out':>8}"]
    lines += [f"{r['top']:>14.0%} {r['capture']:>18.0%} {r['map_max_median_in']:>17.3%} {r['map_max_median_out']:>8.3%}"
              for r in result["rows"]]
    return "\n".join(lines)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--test", required=True, help="held-out MGE-family maps (mge_test)")
    p.add_argument("--models", nargs=2, required=True, metavar=("NET", "OTHER"),
                   help="the network whose error is measured, and the second one of the committee")
    p.add_argument("--seed", type=int, default=0, help="seed of the anisotropies")
    p.add_argument("--json", default=str(RESULTS / "general_committee.json"))
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    import torch

    from fastjam.dataset import load_dataset
    from fastjam.emulator.general import GeneralEmulatorNetwork
    from fastjam.emulator.general_data import map_inputs
    from fastjam.emulator.general_evaluate import committee_disagreement, relative_errors

    torch.set_num_threads(1)
    inp = map_inputs(load_dataset(args.test))
    nets = [GeneralEmulatorNetwork.load(path) for path in args.models]
    result = committee(committee_disagreement(nets, inp), relative_errors(nets[0], inp, 1, args.seed))
    print(_table(result))
    write_json(args.json, dict(benchmark="general_committee", models=[shown_path(m) for m in args.models],
                               test=shown_path(args.test), seed=args.seed, **result, machine=machine_info()))
    print(f"written {shown_path(args.json)}")


if __name__ == "__main__":
    main()

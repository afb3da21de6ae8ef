"""Two training runs compared epoch by epoch: a run against its control (same maps, order and schedule).

Reads each run's ``checkpoint.pt`` history (``fastjam.emulator.general_train``: training and
validation loss per epoch) and gives, over the epochs both have run and over the last ``--last``
of them, the median ratio run / control of each loss, the share of epochs where the run's is
higher, and each run's best loss so far. A change whose ratios stay near 1 has not changed what
the network fits; a ratio that falls as the runs go on is a gain that grows.

Usage::

    python bench/general_histories.py RUN_DIR CONTROL_DIR [--last 20] [--json OUT]

(``RUN_DIR``: a ``curve`` run's directory, e.g. ``~/.cache/fastjam/runs_mge/wide_32k``.)
"""
import argparse
import glob
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import RESULTS, machine_info, shown_path  # noqa: E402

from fastjam.atomic import write_json  # noqa: E402


def history(run):
    """The ``history`` of the one ``checkpoint.pt`` under ``run`` (or in it)."""
    import torch

    found = glob.glob(str(Path(run) / "checkpoint.pt")) + glob.glob(str(Path(run) / "*" / "checkpoint.pt"))
    if len(found) != 1:
        raise ValueError(f"expected one checkpoint.pt in or under {run}, found {len(found)}")
    return torch.load(found[0], map_location="cpu", weights_only=False)["history"]


def compare(run, control, last=20):
    """Rows per loss (``train_loss``, ``val_loss``) of the run against its control."""
    n = min(len(run["epoch"]), len(control["epoch"]))
    if n == 0:
        raise ValueError("a run has no epochs")
    rows = []
    for key in ("train_loss", "val_loss"):
        a, b = np.asarray(run[key][:n]), np.asarray(control[key][:n])
        ratio = a / b
        rows.append(dict(loss=key, epochs=n, median_ratio=float(np.median(ratio)),
                         median_ratio_last=float(np.median(ratio[-last:])), last=min(last, n),
                         share_higher=float(np.mean(ratio > 1)), best_run=float(a.min()), best_control=float(b.min())))
    return rows


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("run", help="the run's directory")
    p.add_argument("control", help="the control's directory")
    p.add_argument("--last", type=int, default=20, help="epochs at the end for the second median")
    p.add_argument("--json", help="output file (default bench/results/general_histories.json)")
    args = p.parse_args(argv)
    rows = compare(history(args.run), history(args.control), args.last)
    print(f"{'loss':>10} {'epochs':>6} {'median ratio':>12} {'last':>5} {'ratio there':>11} {'higher':>6} "
          f"{'best run':>10} {'best ctrl':>10}")
    for r in rows:
        print(f"{r['loss']:>10} {r['epochs']:>6} {r['median_ratio']:>12.4f} {r['last']:>5} {r['median_ratio_last']:>11.4f} "
              f"{r['share_higher']:>6.2f} {r['best_run']:>10.4g} {r['best_control']:>10.4g}")
    path = Path(args.json) if args.json else RESULTS / "general_histories.json"
    write_json(path, dict(benchmark="general_histories", run=shown_path(args.run), control=shown_path(args.control),
                          rows=rows, machine=machine_info()))
    print(f"written {shown_path(path)}")


if __name__ == "__main__":
    main()

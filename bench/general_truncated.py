"""A general emulator on truncated MGEs, the kind real MGEs are, written into its card.

An MGE fitted to an image has no Gaussian wider than the image and none of the light beyond it;
``mge_test_truncated`` of ``scripts/make_training_sets_mge.sh`` holds such maps (each fitted only
out to 1.5-8 R_e, ``fastjam simulate --outer-radius``). The card's held-out statistics of
``--model`` on them (e = f_emu/f_JAM - 1 at three anisotropies per map) and the share of them, and
of their worst 5% by the per-map maximum, that a fit's novelty warning flags
(``fastjam.input_checks.check_novelty``) go into the card as ``truncated_accuracy``
(``scripts/model_card.py`` shows them)::

    python bench/general_truncated.py --test ~/.cache/fastjam/mge_test_truncated --model data/emulator_mge

Prints a table and writes ``bench/results/general_truncated.json`` (or ``--json``).
"""
import argparse
import logging
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import RESULTS, machine_info, shown_path  # noqa: E402
from general_emulator import ACCURACY, _inputs, table  # noqa: E402
from general_regimes import worst_share  # noqa: E402

from fastjam.atomic import write_json  # noqa: E402

N_BETAS = 3


def truncated_accuracy(model, test):
    """The card entry of network directory ``model`` on the maps ``test`` (their network inputs)."""
    from fastjam.emulator.general import GeneralEmulatorNetwork
    from fastjam.emulator.general_evaluate import error_entries, novelty_and_errors
    from fastjam.emulator.novelty import percentile
    from fastjam.emulator.store import load_arrays
    from fastjam.input_checks import NOVELTY_PERCENTILE

    arrays, card = load_arrays(model)
    net = GeneralEmulatorNetwork.from_arrays(arrays, card)
    d, e = novelty_and_errors(net, arrays, test, N_BETAS)
    entries = error_entries(e, N_BETAS)
    flagged = percentile(card["novelty"], d) > NOVELTY_PERCENTILE
    worst = worst_share(np.abs(e[:len(d)]).max(1))  # the first anisotropy of each map (the draws of seed 0)
    return dict(test_accuracy=entries["test_accuracy"], metrics=entries["metrics"],
                novelty=dict(flagged=float(flagged.mean()), worst_5pct_flagged=float(flagged[worst].mean())))


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--test", required=True, help="held-out maps of truncated MGEs (mge_test_truncated)")
    p.add_argument("--model", default="data/emulator_mge", help="general emulator directory; its card is updated")
    p.add_argument("--json", default=str(RESULTS / "general_truncated.json"))
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    import torch

    from fastjam.emulator.store import update_card

    torch.set_num_threads(1)
    entry = truncated_accuracy(args.model, _inputs(args.test))
    update_card(args.model, truncated_accuracy=dict(test=shown_path(args.test), **entry))
    row = dict(design=shown_path(args.model), **entry["test_accuracy"])
    print(table([row], ("design",) + ACCURACY))
    nov = entry["novelty"]
    print(f"the novelty warning flags {nov['flagged']:.0%} of these maps and {nov['worst_5pct_flagged']:.0%} "
          "of their worst 5% (per-map maximum, one beta_z per map)")
    write_json(args.json, dict(benchmark="general_truncated", rows=[dict(row, novelty=nov)],
                               args=dict(vars(args), test=shown_path(args.test), model=shown_path(args.model),
                                         json=shown_path(args.json)), machine=machine_info()))
    print(f"written {shown_path(args.json)}")


if __name__ == "__main__":
    main()

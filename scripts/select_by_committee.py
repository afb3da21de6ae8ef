"""Design points where two general emulators disagree most: the next JAM maps of the MGE family.

Query by committee: random draws would need ~155,000 maps for the per-map maximum target
(``bench/learning_curve.py``), while the maps where two networks disagree hold most of the worst
ones (``bench/general_committee.py``: on the held-out maps the 10% with the largest disagreement
hold 85% of the worst 5%). So::

    python scripts/select_by_committee.py --models data/emulator_mge OTHER_NET --pool 16384 --seed 16 \\
        --keep 0.1 --out ~/.cache/fastjam/committee_16.npy
    fastjam simulate --family mge --design ~/.cache/fastjam/committee_16.npy --workers 2 --resume \\
        --out ~/.cache/fastjam/mge_train_committee

draws a Sobol pool of the family (``fastjam.family.family_design``; use a seed other than the
sets' 11-15), builds each point's MGE (``fastjam.family.family_mge``, ~0.1 s each, on ``--workers``
local Dask workers) and keeps the ``--keep`` share of the pool with the largest disagreement of the two
networks (``fastjam.emulator.general_train.committee_disagreement``: max |ln f_1 - ln f_2| over the map
at both ends of the anisotropy prior). Writes the points (N, 14) as ``--out`` and a JSON beside
it (pool, seed, threshold, models). Deterministic for a given pool, seed and pair of networks.
"""
import argparse
import logging
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np

log = logging.getLogger("select_by_committee")


def _padded_mge(index, params):
    from fastjam.family import family_mge, pad_mge

    return index, pad_mge(*family_mge(params))


def pool_inputs(points, workers=2, progress=True):
    """Network inputs (``fastjam.emulator.general_train.map_inputs`` keys, without JAM's maps) of design
    points (N, 14)."""
    from fastjam.emulator.general_train import map_inputs
    from fastjam.parallel import WorkerPool

    padded = [None] * len(points)
    with WorkerPool(workers) as pool:
        for index, mge in pool.as_completed(_padded_mge, list(enumerate(points)), progress=progress,
                                            desc="pool MGEs", unit="galaxy"):
            padded[index] = mge
    mge = np.stack(padded)
    empty = np.zeros((len(points), 1))
    return map_inputs(SimpleNamespace(mge=mge, params=points, a=empty, b=empty))


def select(d, keep):
    """Indices of the ``keep`` share of ``d`` with the largest values, in pool order."""
    if not 0 < keep <= 1:
        raise ValueError(f"--keep must be in (0, 1], got {keep}")
    n = max(1, int(round(keep * len(d))))
    return np.sort(np.argsort(-d, kind="stable")[:n])


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--models", nargs=2, required=True, metavar=("NET", "OTHER"), help="general emulator directories")
    p.add_argument("--pool", type=int, default=16384, help="candidate design points (Sobol)")
    p.add_argument("--seed", type=int, required=True, help="seed of the pool's Sobol design (not 11-15)")
    p.add_argument("--keep", type=float, default=0.1, help="share of the pool kept (default 0.1)")
    p.add_argument("--workers", type=int, default=2, help="local Dask workers building the MGEs; 0 = serial")
    p.add_argument("--out", required=True, help="the kept design points (.npy); a .json is written beside it")
    p.add_argument("--no-progress", action="store_true")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    if args.pool < 1:
        raise SystemExit(f"--pool must be >= 1, got {args.pool}")
    from fastjam.atomic import atomic_path, write_json
    from fastjam.emulator.general import GeneralEmulatorNetwork
    from fastjam.emulator.general_train import committee_disagreement
    from fastjam.emulator.store import load_arrays
    from fastjam.family import family_design

    points = family_design(args.pool, args.seed)
    inp = pool_inputs(points, args.workers, not args.no_progress)
    d = committee_disagreement([GeneralEmulatorNetwork.from_arrays(*load_arrays(m)) for m in args.models], inp)
    kept = select(d, args.keep)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(out) as tmp, open(tmp, "wb") as fh:
        np.save(fh, points[kept])
    write_json(out.with_suffix(".json"), dict(
        pool=args.pool, seed=args.seed, keep=args.keep, n_kept=int(len(kept)), pool_indices=kept.tolist(),
        models=[str(m) for m in args.models], threshold=float(d[kept].min()),
        disagreement_median_pool=float(np.median(d)), disagreement_median_kept=float(np.median(d[kept]))))
    log.info("kept %d of %d pool points (max |d ln f| >= %.3g; pool median %.3g)", len(kept), args.pool,
             d[kept].min(), np.median(d))
    print(out)


if __name__ == "__main__":
    sys.exit(main())

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
networks (``fastjam.emulator.general_evaluate.committee_disagreement``: max |ln f_1 - ln f_2| over the map
at both ends of the anisotropy prior). Writes the points (N, 14) as ``--out`` and a JSON beside
it (pool, seed, threshold, models). Deterministic for a given pool, seed and pair of networks.

A later round, with a network trained on the maps of the first: ``--cache POOL.npz`` keeps the
pool's MGEs (the costly part: ~45 min per 16,384 points on one core) for every round of the same
pool and seed, and ``--exclude`` the earlier rounds' JSON leaves out the points already chosen::

    python scripts/select_by_committee.py --models NEW_NET data/emulator_mge --pool 16384 --seed 16 \\
        --cache ~/.cache/fastjam/pool_16.npz --exclude ~/.cache/fastjam/committee_16.json \\
        --out ~/.cache/fastjam/committee_16b.npy
"""
import argparse
import json
import logging
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np

log = logging.getLogger("select_by_committee")


def _padded_mge(index, params):
    from fastjam.family import family_mge, pad_mge

    return index, pad_mge(*family_mge(params))


def pool_mge(points, workers=2, progress=True):
    """The padded MGEs (N, 30, 3) of design points (N, 14), built on ``workers`` local Dask workers."""
    from fastjam.parallel import WorkerPool

    padded = [None] * len(points)
    with WorkerPool(workers) as pool:
        for index, mge in pool.as_completed(_padded_mge, list(enumerate(points)), progress=progress,
                                            desc="pool MGEs", unit="galaxy"):
            padded[index] = mge
    return np.stack(padded)


def inputs_of(points, mge):
    """Network inputs of design points (N, 14) and their padded MGEs (N, 30, 3)."""
    from fastjam.emulator.general_data import map_inputs

    empty = np.zeros((len(points), 1))
    return map_inputs(SimpleNamespace(mge=mge, params=points, a=empty, b=empty))


def cached_pool_mge(path, points, workers=2, progress=True):
    """The pool's padded MGEs (N, 30, 3), read from the ``.npz`` at ``path`` if it holds these very points,
    else built (:func:`pool_mge`) and written there."""
    from fastjam.atomic import write_npz

    path = Path(path)
    if path.exists():
        with np.load(path) as z:
            if z["points"].shape == points.shape and np.array_equal(z["points"], points):
                log.info("pool MGEs read from %s", path)
                return z["mge"]
        raise ValueError(f"{path} holds the MGEs of another pool: give another --cache")
    mge = pool_mge(points, workers, progress)
    write_npz(path, points=points, mge=mge)
    return mge


def excluded(paths, pool, seed):
    """Pool indices chosen by earlier rounds (their JSON) of the same pool and seed."""
    out = set()
    for path in paths:
        prev = json.loads(Path(path).read_text())
        if (prev["pool"], prev["seed"]) != (pool, seed):
            raise ValueError(f"{path} is a round of pool {prev['pool']} seed {prev['seed']}, "
                             f"not of pool {pool} seed {seed}")
        out.update(prev["pool_indices"])
    return np.array(sorted(out), dtype=int)


def select(d, keep, exclude=()):
    """Indices of the ``keep`` share of ``d`` (of the whole pool) with the largest values, in pool order,
    leaving out the indices ``exclude``."""
    if not 0 < keep <= 1:
        raise ValueError(f"--keep must be in (0, 1], got {keep}")
    n = max(1, int(round(keep * len(d))))
    d = np.array(d, dtype=float)
    d[np.asarray(exclude, dtype=int)] = -np.inf
    order = np.argsort(-d, kind="stable")[:n]
    return np.sort(order[np.isfinite(d[order])])


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--models", nargs=2, required=True, metavar=("NET", "OTHER"), help="general emulator directories")
    p.add_argument("--pool", type=int, default=16384, help="candidate design points (Sobol)")
    p.add_argument("--seed", type=int, required=True, help="seed of the pool's Sobol design (not 11-15)")
    p.add_argument("--keep", type=float, default=0.1, help="share of the pool kept (default 0.1)")
    p.add_argument("--workers", type=int, default=2, help="local Dask workers building the MGEs; 0 = serial")
    p.add_argument("--out", required=True, help="the kept design points (.npy); a .json is written beside it")
    p.add_argument("--cache", help="the pool's MGEs (.npz): read if present, else written (later rounds)")
    p.add_argument("--exclude", nargs="+", default=[], help="earlier rounds' JSON: their points are not chosen again")
    p.add_argument("--no-progress", action="store_true")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    if args.pool < 1:
        raise SystemExit(f"--pool must be >= 1, got {args.pool}")
    from fastjam.atomic import atomic_path, write_json
    from fastjam.emulator.general import GeneralEmulatorNetwork
    from fastjam.emulator.general_evaluate import committee_disagreement
    from fastjam.family import family_design

    points = family_design(args.pool, args.seed)
    progress = not args.no_progress
    mge = (cached_pool_mge(args.cache, points, args.workers, progress) if args.cache
           else pool_mge(points, args.workers, progress))
    inp = inputs_of(points, mge)
    d = committee_disagreement([GeneralEmulatorNetwork.load(m) for m in args.models], inp)
    kept = select(d, args.keep, excluded(args.exclude, args.pool, args.seed))
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(out) as tmp, open(tmp, "wb") as fh:
        np.save(fh, points[kept])
    write_json(out.with_suffix(".json"), dict(
        pool=args.pool, seed=args.seed, keep=args.keep, n_kept=int(len(kept)), pool_indices=kept.tolist(),
        excluded=[str(e) for e in args.exclude],
        models=[str(m) for m in args.models], threshold=float(d[kept].min()),
        disagreement_median_pool=float(np.median(d)), disagreement_median_kept=float(np.median(d[kept]))))
    log.info("kept %d of %d pool points (max |d ln f| >= %.3g; pool median %.3g)", len(kept), args.pool,
             d[kept].min(), np.median(d))
    print(out)


if __name__ == "__main__":
    sys.exit(main())

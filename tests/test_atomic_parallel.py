"""The atomic writer (a failed write leaves the old file, no temporary) and the worker pool
(every task once, shared arguments, bounded in flight, serial = Dask)."""
import json

import numpy as np
import pytest

from fastjam import atomic
from fastjam.parallel import IN_FLIGHT_PER_WORKER, WorkerPool, has_error


def test_writes_are_whole_or_absent(tmp_path):
    path = tmp_path / "summary.json"
    atomic.write_json(path, dict(ml=4.0))
    with pytest.raises(RuntimeError, match="killed"):
        with atomic.atomic_path(path) as tmp:
            tmp.write_text('{"ml": 5')  # half written when the writer dies
            raise RuntimeError("killed")
    assert json.loads(path.read_text()) == dict(ml=4.0)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["summary.json"]
    atomic.write_npz(tmp_path / "node.npz", vrms=np.arange(3.0))
    with np.load(tmp_path / "node.npz") as f:
        np.testing.assert_array_equal(f["vrms"], [0.0, 1.0, 2.0])
    atomic.write_text(tmp_path / "a.txt", "é\n")
    assert (tmp_path / "a.txt").read_text(encoding="utf-8") == "é\n"
    # the temporary name keeps the suffix (format-sniffing writers) and matches *.tmp*
    tmp = atomic.temporary_name(tmp_path / "corner.png")
    assert tmp.suffix == ".png" and tmp.match("*.tmp*") and tmp.parent == tmp_path


def _task(offset, k, x):
    return dict(index=k, value=offset + x * x, error="odd" if k % 2 else None)


def _tracked(k):
    return k


def test_pool_runs_every_task_once_serially_and_on_dask():
    from dask.distributed import LocalCluster

    jobs = [(k, float(k)) for k in range(23)]
    expected = {k: 100.0 + k * k for k in range(23)}
    with WorkerPool(0) as pool:
        assert pool.workers == 1 and pool.map(_tracked, range(4)) == [0, 1, 2, 3]
        serial = list(pool.as_completed(_task, jobs, shared=(100.0,), progress=False, failed=has_error))
    assert [r["index"] for r in serial] == list(range(23))  # serial: in order
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=False, dashboard_address=":0") as cluster:
        with WorkerPool(scheduler=cluster.scheduler_address) as pool:
            assert pool.map(_tracked, range(4)) == [0, 1, 2, 3]
            results = []
            for res in pool.as_completed(_task, jobs, shared=(100.0,), progress=False):
                # bounded: about IN_FLIGHT_PER_WORKER tasks held at a time (releases are
                # asynchronous, hence the margin), never all 23
                assert len(pool.client.who_has()) <= 2 * IN_FLIGHT_PER_WORKER + 1
                results.append(res)
    assert {r["index"]: r["value"] for r in results} == expected == {r["index"]: r["value"] for r in serial}
    assert sum(has_error(r) for r in results) == 11
    with pytest.raises(ValueError, match="workers must be >= 0"):
        WorkerPool(-1)


def test_a_task_whose_worker_dies_is_reported_through_lost_and_the_others_go_on():
    """A task that kills its worker process (as an out-of-memory kill does) becomes ``lost(job, message)``
    and every job is accounted for once (a task queued on the dying worker may be lost with it);
    without ``lost`` the loss raises."""
    import dask
    from distributed.scheduler import KilledWorker

    jobs = [("2 + 2",), ("__import__('os')._exit(3)",), ("3 * 3",)]
    with dask.config.set({"distributed.scheduler.allowed-failures": 0}):
        with WorkerPool(1) as pool:
            out = list(pool.as_completed(eval, jobs, progress=False, lost=lambda job, msg: (job[0], msg)))
            lost = dict(r for r in out if not isinstance(r, int))
            assert len(out) == 3 and 4 in out and jobs[1][0] in lost and "worker lost" in lost[jobs[1][0]]
            assert 9 in out or jobs[2][0] in lost
            pool.client.wait_for_workers(1, timeout=60)
            with pytest.raises(KilledWorker):
                list(pool.as_completed(eval, jobs[1:2], progress=False))
            pool.client.wait_for_workers(1, timeout=60)

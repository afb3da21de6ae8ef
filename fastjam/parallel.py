"""Every batch of jampy calls in parallel over Dask: one pool, results as they complete.

:class:`WorkerPool` runs tasks on a local cluster of worker processes (``workers``), on an
existing Dask cluster (``scheduler``, e.g. ``tcp://host:8786``) or, with ``workers=0``,
serially in this process. :meth:`WorkerPool.as_completed` keeps a bounded number of tasks
in flight (:data:`IN_FLIGHT_PER_WORKER` per worker, so a million-task design never sits in
the scheduler's memory), yields each result as it finishes (so the caller can write it to
disk at once and an interrupted run loses nothing finished) and shows a tqdm progress bar;
:meth:`WorkerPool.map` is the ordered ``map`` that emcee expects of a pool.

Used by the training-set generator (:mod:`fastjam.simulate`), the JAM reference of
:mod:`fastjam.compare`, the exact posterior's nodes, the survey's fits and the benchmarks.
"""
import logging

log = logging.getLogger(__name__)

#: Environment of local Dask workers: one BLAS thread, glibc malloc thresholds suited to jampy.
#: Dask's nanny sets ``MALLOC_TRIM_THRESHOLD_`` in its workers, which switches off glibc's
#: dynamic mmap threshold: jampy's large temporary arrays then go through mmap/munmap and JAM
#: runs 4-5x slower. A high fixed mmap threshold restores the speed (a remote cluster should
#: set ``distributed.nanny.pre-spawn-environ`` likewise).
WORKER_ENVIRON = {
    "MALLOC_TRIM_THRESHOLD_": 128 * 2**20,
    "MALLOC_MMAP_THRESHOLD_": 32 * 2**20,
    "OMP_NUM_THREADS": 1,
    "MKL_NUM_THREADS": 1,
    "OPENBLAS_NUM_THREADS": 1,
}

#: Tasks kept in flight per worker by :meth:`WorkerPool.as_completed`.
IN_FLIGHT_PER_WORKER = 4


class WorkerPool:
    """A Dask client (local cluster or ``scheduler``) or, with ``workers=0``, this process.

    Use as a context manager; the cluster is closed on exit.

    Parameters
    ----------
    workers : int
        Local worker processes (one thread each, :data:`WORKER_ENVIRON`); 0 runs serially.
    scheduler : str, optional
        Address of an existing Dask scheduler; overrides ``workers``.
    environ : dict, optional
        More environment variables of local workers (on top of :data:`WORKER_ENVIRON`).
    plugin : callable, optional
        ``plugin() -> distributed.WorkerPlugin``, registered on every worker once the client
        is up (e.g. to pay a start-up once per worker); not called when serial.
    """

    def __init__(self, workers=2, scheduler=None, environ=None, plugin=None):
        if int(workers) < 0:
            raise ValueError(f"workers must be >= 0, got {workers}")
        self.n_local, self.scheduler = int(workers), scheduler
        self.environ, self.plugin = dict(environ or {}), plugin
        self.client = self._cluster = None

    def __enter__(self):
        if self.scheduler is None and self.n_local == 0:
            return self
        import dask
        from dask.distributed import Client, LocalCluster

        if self.scheduler is not None:
            self.client = Client(self.scheduler)
        else:
            with dask.config.set({"distributed.nanny.pre-spawn-environ": {**WORKER_ENVIRON, **self.environ}}):
                self._cluster = LocalCluster(n_workers=self.n_local, threads_per_worker=1, processes=True,
                                             dashboard_address=":0", silence_logs=logging.WARNING)
            self.client = Client(self._cluster)
        if self.plugin is not None:
            self.client.register_plugin(self.plugin(), name=f"fastjam-{type(self).__name__}-plugin")
        return self

    def __exit__(self, *exc):
        try:
            if self.client is not None:
                self.client.close()
            if self._cluster is not None:
                self._cluster.close()
        except Exception as err:  # e.g. a worker still restarting after a lost task: the results are in
            log.warning("closing the Dask cluster: %s: %s", type(err).__name__, err)
        finally:
            self.client = self._cluster = None

    @property
    def workers(self):
        """Number of workers (1 when serial)."""
        if self.client is None:
            return 1
        return max(len(self.client.scheduler_info()["workers"]), 1)

    def map(self, fn, iterable):
        """``[fn(x) for x in iterable]``, in order, on the workers (emcee's ``pool.map``)."""
        if self.client is None:
            return [fn(x) for x in iterable]
        return self.client.gather(self.client.map(fn, list(iterable), pure=False))

    def as_completed(self, fn, jobs, shared=(), progress=True, desc=None, unit="task", total=None, initial=0,
                     failed=None, lost=None):
        """Yield ``fn(*shared, *job)`` for every ``job`` in ``jobs``, in the order they finish.

        Parameters
        ----------
        fn : callable
            Picklable; runs on a worker.
        jobs : sequence of tuple
            Arguments of each call.
        shared : tuple
            Arguments common to every call, sent once to every worker (``scatter``) and
            passed first.
        progress : bool
            Show a tqdm bar.
        desc, unit : str
            Its label and unit.
        total, initial : int, optional
            Its length (default ``initial + len(jobs)``) and starting count (tasks done before).
        failed : callable, optional
            ``failed(result) -> bool`` (e.g. :func:`has_error`); the bar then shows the number
            of failed tasks.
        lost : callable, optional
            ``lost(job, message) -> result`` for a task whose worker died under it after Dask's
            retries (``KilledWorker``: e.g. the worker's memory limit); its return value is
            yielded in place of the task's and the other tasks go on. Without it the loss raises.
        """
        from tqdm.auto import tqdm

        jobs = list(jobs)
        total = initial + len(jobs) if total is None else total
        bar = tqdm(total=total, initial=initial, disable=not progress, desc=desc, unit=unit, smoothing=0.05)
        n_failed = 0
        try:
            for res in self._results(fn, jobs, tuple(shared), lost):
                bar.update(1)
                if failed is not None and failed(res):
                    n_failed += 1
                    bar.set_postfix(failed=n_failed)
                yield res
        finally:
            bar.close()

    def _results(self, fn, jobs, shared, lost=None):
        if self.client is None:
            for job in jobs:
                yield fn(*shared, *job)
            return
        from dask.distributed import as_completed
        from distributed.scheduler import KilledWorker

        client = self.client
        if shared:
            shared = tuple(client.scatter(list(shared), broadcast=True))
        queue = iter(jobs)

        running = {}

        def submit(job):
            fut = client.submit(fn, *shared, *job, pure=False)
            running[fut.key] = job
            return fut

        futures = as_completed([submit(job) for _, job in zip(range(IN_FLIGHT_PER_WORKER * self.workers), queue)])
        for fut in futures:
            try:
                res = fut.result()
            except KilledWorker as exc:
                if lost is None:
                    raise
                log.warning("a task's worker died under it (%s): recorded as failed, the others go on", exc)
                res = lost(running[fut.key], f"worker lost while computing it ({type(exc).__name__}): most likely "
                                              "the worker's memory limit")
            running.pop(fut.key, None)
            fut.release()
            job = next(queue, None)
            if job is not None:
                futures.add(submit(job))
            yield res


def has_error(result):
    """Whether a task's result dict records a failure (its ``error`` is set): the convention
    of fastjam's jampy tasks, which return their error rather than raise it."""
    return result.get("error") is not None


__all__ = ["IN_FLIGHT_PER_WORKER", "WORKER_ENVIRON", "WorkerPool", "has_error"]

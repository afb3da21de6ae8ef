"""Helpers shared by the benchmark scripts (run as ``python bench/NAME.py``)."""
import os
import platform
import subprocess
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
RESULTS = Path(__file__).resolve().parent / "results"


def shown_path(path):
    """``path`` relative to the repository when inside it, else with the home directory written as ~
    (keeps local paths out of the JSON)."""
    path = Path(path).resolve()
    try:
        return str(path.relative_to(REPO))
    except ValueError:
        return str(path).replace(str(Path.home()), "~", 1)


def machine_info():
    """Platform, CPU count and load averages at the time of the call."""
    return dict(platform=platform.platform(), processor=platform.processor(), machine=platform.machine(),
                python=platform.python_version(), cpu_count=os.cpu_count(), loadavg_at_start=os.getloadavg())


THREAD_ENV = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")


def limit_threads(threads):
    """Set thread counts; the environment variables must be set before numpy and jax are imported."""
    if threads is None:
        return
    for key in THREAD_ENV:
        os.environ[key] = str(threads)
    if threads == 1:
        flags = os.environ.get("XLA_FLAGS", "")
        os.environ["XLA_FLAGS"] = (flags + " --xla_cpu_multi_thread_eigen=false "
                                   "intra_op_parallelism_threads=1").strip()


def cpu_model():
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or None


def memory_gb():
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                return round(int(line.split()[1]) / 2**20, 2)
    except (OSError, ValueError, IndexError):
        pass
    return None


def git_commit():
    try:
        out = subprocess.run(["git", "-C", str(REPO), "rev-parse", "HEAD"], capture_output=True, text=True,
                             timeout=10)
        dirty = subprocess.run(["git", "-C", str(REPO), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=10)
        return dict(commit=out.stdout.strip() or None, dirty=bool(dirty.stdout.strip()))
    except (OSError, subprocess.SubprocessError):
        return dict(commit=None, dirty=None)


def measure(fn, batch, repeats, min_time):
    """Time ``fn`` (one call computes ``batch`` maps).

    Returns
    -------
    dict
        ``ms_per_map`` (median over repeats), ``ms_per_map_min``/``_max``, ``ms_per_call``,
        ``maps_per_s``, ``number`` (calls per repeat), ``repeats``, ``first_call_s``.
    """
    import numpy as np

    t0 = time.perf_counter()
    fn()
    first = time.perf_counter() - t0
    t0 = time.perf_counter()
    fn()
    one = time.perf_counter() - t0
    number = max(1, int(np.ceil(min_time / max(one, 1e-9)))) if one < min_time else 1
    per_call = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        for _ in range(number):
            fn()
        per_call.append((time.perf_counter() - t0) / number)
    per_call = np.array(per_call)
    ms = 1e3 * per_call / batch
    return dict(ms_per_map=float(np.median(ms)), ms_per_map_min=float(ms.min()), ms_per_map_max=float(ms.max()),
                ms_per_call=float(1e3 * np.median(per_call)), maps_per_s=float(1e3 / np.median(ms)),
                number=int(number), repeats=int(repeats), first_call_s=float(first))


def machine_line(machine):
    """One table line: CPUs and the load average at the start and end of a run."""
    return (f"{machine['cpu_count']} CPUs, load average {machine['loadavg_at_start'][0]:.1f} at start, "
            f"{machine['loadavg_at_end'][0]:.1f} at end")


def result_header(benchmark, args):
    """The header of a benchmark's JSON: name, UTC date, machine, commit, versions and the arguments
    (paths as :func:`shown_path`, so that no local path is written)."""
    import datetime

    import jampy
    import numpy as np

    import fastjam

    def shown(v):
        if isinstance(v, Path):
            return shown_path(v)
        return [shown(x) for x in v] if isinstance(v, (list, tuple)) else v

    return dict(benchmark=benchmark, date=datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
                machine=machine_info(), git=git_commit(),
                versions=dict(fastjam=fastjam.__version__, jampy=jampy.__version__, numpy=np.__version__),
                args={k: shown(v) for k, v in vars(args).items()})


def write_result(path, result):
    """Write a benchmark's JSON atomically, creating its directory."""
    from fastjam.atomic import write_json

    Path(path).parent.mkdir(parents=True, exist_ok=True)
    write_json(path, result)


def report(benchmark, args, collect, table):
    """Run a benchmark: its header, ``collect(args)`` (a dict of results) merged in, the JSON written to
    ``args.json`` and ``table(result)`` printed. Returns the exit code 0."""
    result = result_header(benchmark, args)
    result.update(collect(args))
    write_result(args.json, result)
    print(table(result))
    return 0

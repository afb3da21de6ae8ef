"""JAX compilation: the persistent compilation cache and a compile-time counter.

A process compiles the log-density of a fit (MAP gradient, batched emcee density, NUTS loop)
once per number of bins: the posterior is an argument of the compiled functions, so a galaxy
padded to a bucket size reuses them (``fit(..., buckets=...)``, as the survey does). JAX's
persistent cache keeps the compiled programs on disk, so a rerun starts sooner. The cache
lives in ``~/.cache/fastjam/jax``; set ``FASTJAM_JAX_CACHE`` to another directory, or to
``off`` to disable it.
"""
import functools
import os
from pathlib import Path

CACHE_ENV = "FASTJAM_JAX_CACHE"
DEFAULT_CACHE = Path("~/.cache/fastjam/jax")
#: JAX monitoring events whose durations make up the compilation time.
COMPILE_EVENTS = ("/jax/core/compile/jaxpr_trace_duration", "/jax/core/compile/jaxpr_to_mlir_module_duration",
                  "/jax/core/compile/backend_compile_duration")


def cache_dir():
    """The persistent-cache directory (None when disabled with ``FASTJAM_JAX_CACHE=off``)."""
    value = os.environ.get(CACHE_ENV, "")
    if value.lower() in ("off", "0", "none", "false"):
        return None
    return Path(value or DEFAULT_CACHE).expanduser()


@functools.lru_cache(maxsize=None)
def enable_cache():
    """Point JAX's persistent compilation cache at :func:`cache_dir` (once per process).

    Returns
    -------
    Path or None
        The directory in use.
    """
    import jax

    path = cache_dir()
    if path is None:
        return None
    path.mkdir(parents=True, exist_ok=True)
    jax.config.update("jax_compilation_cache_dir", str(path))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
    return path


_seconds = [0.0]
_traces = [0]


@functools.lru_cache(maxsize=None)
def _listen():
    import jax

    def record(event, duration, **kwargs):
        if event in COMPILE_EVENTS:
            _seconds[0] += duration
        if event == COMPILE_EVENTS[0]:
            _traces[0] += 1

    jax.monitoring.register_event_duration_secs_listener(record)


def compile_seconds():
    """Seconds this process has spent tracing and compiling JAX code since the first call."""
    _listen()
    return _seconds[0]


def compilations():
    """Functions JAX has traced for compilation in this process since the first call (every
    miss of a jit cache, eager operations on new shapes included; a hit of the persistent
    cache still counts, as it is traced before it is looked up)."""
    _listen()
    return _traces[0]

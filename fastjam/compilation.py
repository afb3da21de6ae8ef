"""JAX compilation: the persistent compilation cache and a compile-time counter.

A fit compiles its log-density (MAP gradient, batched emcee density, NUTS loop) once per
galaxy and number of bins; JAX's persistent cache keeps the compiled programs on disk, so a
rerun (or, with padded bins, another galaxy of the same size) starts at once. The cache
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


@functools.lru_cache(maxsize=None)
def _listen():
    import jax

    def record(event, duration, **kwargs):
        if event in COMPILE_EVENTS:
            _seconds[0] += duration

    jax.monitoring.register_event_duration_secs_listener(record)


def compile_seconds():
    """Seconds this process has spent tracing and compiling JAX code since the first call."""
    _listen()
    return _seconds[0]

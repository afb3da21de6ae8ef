"""Swapping one function of jampy's ``jam_axi_proj`` for the duration of a block.

fastjam evaluates two pieces of jampy's projected JAM faster than jampy does
(:mod:`fastjam.jampy_surface`, :mod:`fastjam.jampy_los`) and slots them in where jampy calls
its own function; everything else of the jampy call is jampy's. This module holds the one
mechanism both use: a reentrant, thread-safe swap that always puts jampy's function back.
jampy itself is called, never copied.
"""
import contextlib
import logging
import threading

log = logging.getLogger(__name__)

_lock = threading.Lock()
#: Per swapped name: nesting depth, jampy's own function, and the key of the installed replacement.
_state = {}


def jampy_module(name):
    """``jampy.axi.jam_axi_proj`` if it has a callable ``name``, else None (another jampy layout)."""
    try:
        from jampy.axi import jam_axi_proj
    except ImportError:
        return None
    return jam_axi_proj if callable(getattr(jam_axi_proj, name, None)) else None


@contextlib.contextmanager
def swapped(name, make_replacement, key=None):
    """Within the block, ``jam_axi_proj.<name>`` is ``make_replacement(jampy's function)``.

    Parameters
    ----------
    name : str
        Function of ``jampy.axi.jam_axi_proj``.
    make_replacement : callable
        ``make_replacement(original) -> replacement``, called by the outermost block only.
    key : hashable, optional
        What the replacement depends on (e.g. a quadrature's node count); a nested block asking
        for another key raises ``ValueError`` instead of silently getting the outer one.

    Notes
    -----
    Reentrant and thread-safe: jampy's own function is restored when the outermost block exits,
    on error too (a jampy call from another thread meanwhile gets the replacement as well). If
    this jampy has no such function, nothing is changed.
    """
    module = jampy_module(name)
    if module is None:
        log.debug("jampy has no jam_axi_proj.%s: its own evaluation is used", name)
        yield
        return
    with _lock:
        state = _state.setdefault(name, dict(depth=0, original=None, key=None))
        if state["depth"] == 0:
            state["original"], state["key"] = getattr(module, name), key
            setattr(module, name, make_replacement(state["original"]))
        elif state["key"] != key:
            raise ValueError(f"jampy's {name} is already replaced with key {state['key']!r}; "
                             f"a nested block asked for {key!r}")
        state["depth"] += 1
    try:
        yield
    finally:
        with _lock:
            state["depth"] -= 1
            if state["depth"] == 0:
                setattr(module, name, state["original"])
                state["original"] = state["key"] = None

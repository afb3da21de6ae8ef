"""Input checks that raise one-line :class:`ValueError` naming the value and the allowed range."""
import numpy as np


def check_finite(name, value):
    """Raise ``ValueError`` unless every element of ``value`` is finite."""
    arr = np.asarray(value, dtype=float)
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} must be finite, got {_show(arr)}")
    return arr


def check_range(name, value, low, high, low_open=False, high_open=False):
    """Raise ``ValueError`` unless ``low <= value <= high`` (or open bounds) everywhere.

    Returns the value as a float ndarray.
    """
    arr = check_finite(name, value)
    bad_low = arr <= low if low_open else arr < low
    bad_high = arr >= high if high_open else arr > high
    if np.any(bad_low | bad_high):
        lb = "(" if low_open else "["
        hb = ")" if high_open else "]"
        bad = arr[bad_low | bad_high] if arr.ndim else arr
        raise ValueError(f"{name} = {_show(bad)} is outside the allowed range {lb}{low:g}, {high:g}{hb}")
    return arr


def check_positive(name, value):
    """Raise ``ValueError`` unless every element is finite and > 0."""
    arr = check_finite(name, value)
    if np.any(arr <= 0):
        raise ValueError(f"{name} must be > 0, got {_show(arr[arr <= 0] if arr.ndim else arr)}")
    return arr


def _show(arr):
    arr = np.atleast_1d(arr)
    if arr.size == 1:
        return f"{arr.item():g}"
    head = ", ".join(f"{v:g}" for v in arr[:3])
    return f"[{head}{', ...' if arr.size > 3 else ''}]"

"""A separable evaluation of jampy's MGE surface brightness on its convolution grid.

With PSF convolution, ``jampy.axi.proj`` evaluates the MGE surface brightness on a
Cartesian grid of step :math:`\\sigma_{\\rm PSF}/4` that covers the whole field twice per
call (``jam_axi_proj.mge_surf``), as a dense sum of exponentials over grid points and
Gaussians. On that grid every Gaussian factorises,

.. math:: \\Sigma(x_i, y_j) = \\sum_k \\Sigma_k\\, e^{-x_i^2/2\\sigma_k^2}\\,
          e^{-y_j^2/2 q_k^2\\sigma_k^2},

so the sum is one matrix product of an (n_y, N) and an (N, n_x) table: the same numbers to
rounding, with n_x + n_y exponentials per Gaussian instead of n_x n_y. On maps of small
:math:`\\sigma_{\\rm PSF}/R_e` this was a large part of a JAM call
(``bench/jampy_surface.py`` measures the gain side by side).

:func:`separable_surface` swaps the separable version in for the duration of a block and
puts jampy's own back afterwards; every other call (and any input that is not a meshgrid)
goes to jampy's function unchanged. jampy itself is called, never copied.
"""
import numpy as np

from .jampy_patch import swapped

#: Grids of fewer points are left to jampy's own sum (its polar grid: nrad x nang points).
MIN_GRID_POINTS = 4096


def _meshgrid_axes(x, y):
    """The axes (x1, y1) of ``x, y = np.meshgrid(x1, y1)``, or None if x, y are not such a grid."""
    if x.ndim != 2 or x.shape != y.shape or x.size < MIN_GRID_POINTS:
        return None
    x1, y1 = x[0], y[:, 0]
    if np.array_equal(x, np.broadcast_to(x1, x.shape)) and np.array_equal(y, np.broadcast_to(y1[:, None], y.shape)):
        return x1, y1
    return None


def separable_mge_surf(x, y, surf, sigma, qobs, fallback):
    """MGE surface brightness at (x, y), by factorisation when (x, y) is a meshgrid.

    Parameters
    ----------
    x, y : ndarray, shape (ny, nx) or any shape
        Positions, same units as ``sigma``.
    surf, sigma, qobs : ndarray, shape (N,)
        Peak surface brightness, dispersion and observed axial ratio of the Gaussians.
    fallback : callable
        The dense evaluation, ``fallback(x, y, surf, sigma, qobs)``, for inputs that are not a
        meshgrid (jampy's own function).

    Returns
    -------
    ndarray, shape of ``x``
        :math:`\\sum_k \\Sigma_k \\exp[-(x^2 + y^2/q_k^2)/2\\sigma_k^2]`.
    """
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    surf, sigma, qobs = (np.asarray(v, dtype=float) for v in (surf, sigma, qobs))
    axes = _meshgrid_axes(x, y)
    if axes is None:
        return fallback(x, y, surf, sigma, qobs)
    x1, y1 = axes
    ex = np.exp(-0.5 * (x1[:, None] / sigma) ** 2)
    ey = np.exp(-0.5 * (y1[:, None] / (sigma * qobs)) ** 2)
    return (ey * surf) @ ex.T


def separable_surface():
    """Within the block, jampy's ``mge_surf`` is :func:`separable_mge_surf`.

    Reentrant and thread-safe (:func:`fastjam.jampy_patch.swapped`): jampy's own function is
    restored when the outermost block exits. If this jampy has no ``jam_axi_proj.mge_surf``,
    nothing is changed.

    Returns
    -------
    context manager
    """
    return swapped("mge_surf", lambda original: lambda x, y, surf, sigma, qobs: separable_mge_surf(
        x, y, surf, sigma, qobs, original))

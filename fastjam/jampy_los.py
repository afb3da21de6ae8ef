"""JAM's projected second moment with both terms of its linear decomposition in one quadrature.

For a cylindrically aligned velocity ellipsoid with constant :math:`\\beta_z`, jampy's
``jam_axi_proj.surf_v2los_cyl`` computes the surface-brightness-weighted line-of-sight second
moment at each point of its polar grid as a single integral over :math:`u \\in [0, 1]` of a
double sum over luminous (j) and mass (k) Gaussians (Cappellari 2008, MNRAS 390, 71, eq. 28,
with the terms of its eqs. 22, 23, 29, 30), by adaptive quadrature, point by point, once per
:math:`\\beta_z`. The integrand is linear in :math:`b = 1/(1 - \\beta_z)`, so

.. math:: \\Sigma \\langle v_{\\rm los}^2 \\rangle(x', y') = I_0(x', y') + b\\, I_1(x', y'),

.. math:: I_{0,1} = 4\\pi^{3/2} G \\sum_{j,k} \\int_0^1
          \\frac{q_k \\rho_k \\rho_j u^2 \\,[\\ldots]_{0,1}\\, e^{-a x'^2 - a (a + b_{jk}) y'^2 / e}}
          {(1 - c u^2)\\sqrt{(1 - e_k^2 u^2)\\, e}}\\, du,

with :math:`[\\ldots]_0 = \\sigma_j^2 q_j^2 \\cos^2 i + (1 - c u^2)\\, x'^2 \\sin^2 i` and
:math:`[\\ldots]_1 = \\sigma_j^2 q_j^2 \\sin^2 i - (q_j^2 + \\sigma_j^2 q_j^2 u^2/\\sigma_k^2)\\,
x'^2 \\sin^2 i` (eq. 23's :math:`d` split by :math:`b`). :func:`los_linear_terms` evaluates
both terms at all points at once on one fixed tanh-sinh rule (Takahasi & Mori 1974), whose
doubly exponential clustering at both ends of [0, 1] resolves the narrow peaks of the integrand
there (near u = 0 for a point far out on a compact mass Gaussian, near u = 1 for a flat one).
The exponential factorises over the (j, k, u) terms and the points, so the sum is one matrix
product. Against jampy's integrand integrated to ``epsrel = 1e-12``, the 128-node rule is
within about 1e-7 (jampy's own adaptive quadrature, at its default ``epsrel = 1e-5``, within
about 1e-4); ``bench/jampy_los.py`` measures both, and the speed, side by side.

:func:`fixed_rule_los` swaps this in for ``surf_v2los_cyl`` for the duration of a block
(zz moment, one :math:`\\beta_z` for all Gaussians; anything else goes to jampy's function),
keeping the last point set's two terms, so the second jampy call of
:func:`fastjam.jam.jam_linear_terms` (same galaxy, other :math:`\\beta_z`) costs no quadrature.
"""
import contextlib
import hashlib
import threading

import numpy as np

from .jampy_patch import swapped

#: G in (km/s)^2 pc / Msun (jampy's value).
G_KMS2_PC_MSUN = 0.004301
#: Half-width of the tanh-sinh rule in its variable t: the end nodes are 3e-17 from 0 and 1.
T_MAX = 3.2
#: Fewest nodes accepted, a floor against typing errors; ``bench/jampy_los.py --nodes N`` measures a rule's accuracy.
MIN_NODES = 32
#: Elements of the (terms x points) exponential table evaluated at once (memory: 8 bytes each).
CHUNK = 2**22


def tanh_sinh_rule(n_nodes, t_max=T_MAX):
    """The tanh-sinh (double exponential) rule on [0, 1].

    Parameters
    ----------
    n_nodes : int
        Number of nodes, evenly spaced in t on [-t_max, t_max].
    t_max : float

    Returns
    -------
    u, one_minus_u, weight : ndarray, shape (n_nodes,)
        Nodes :math:`u = [1 + \\tanh(\\tfrac{\\pi}{2}\\sinh t)]/2`, their distance to 1
        (computed without cancellation) and weights, :math:`\\int_0^1 g\\,du \\approx \\sum w g(u)`.
    """
    t, h = np.linspace(-t_max, t_max, int(n_nodes), retstep=True)
    s = 0.5 * np.pi * np.sinh(t)
    u = 0.5 * (1 + np.tanh(s))
    one_minus_u = 1 / (1 + np.exp(2 * s))
    weight = h * 0.25 * np.pi * np.cosh(t) / np.cosh(s) ** 2
    return u, one_minus_u, weight


def _term_tables(inclination, dens_lum, sigma_lum, q_lum, dens_pot, sigma_pot, q_pot, n_nodes):
    """Per (j, k, u) term: the exponent's coefficients of x'^2 and y'^2, and four weights whose
    products with the exponential give I_0 = g0 + x'^2 g1 and I_1 = g2 + x'^2 g3."""
    u, omu, w = tanh_sinh_rule(n_nodes)
    ci2, si2 = np.cos(inclination) ** 2, np.sin(inclination) ** 2
    s2l, q2l, dl = sigma_lum[:, None, None] ** 2, q_lum[:, None, None] ** 2, dens_lum[:, None, None]
    s2p, q2p = sigma_pot[None, :, None] ** 2, q_pot[None, :, None] ** 2
    u2 = u**2
    s2q2l = s2l * q2l
    one_e2u2 = omu * (1 + u) + q2p * u2  # 1 - e_k^2 u^2, exact near u = 1 for flat Gaussians
    one_cu2 = one_e2u2 + s2q2l / s2p * u2  # 1 - c u^2, C08 eq. (22)
    a = 0.5 * (u2 / s2p + 1 / s2l)  # C08 eq. (29)
    b = 0.5 * ((1 - q2p) * u2**2 / (s2p * one_e2u2) + (1 - q2l) / s2q2l)  # C08 eq. (30)
    e = a + b * ci2
    weight = (w * q_pot[None, :, None] * dens_pot[None, :, None] * dl * u2) / (one_cu2 * np.sqrt(one_e2u2 * e))
    d1 = -q2l - s2q2l / s2p * u2  # the b-coefficient of C08 eq. (23)'s d; its b^0 part is 1 - c u^2
    g = np.stack(np.broadcast_arrays(weight * s2q2l * ci2, weight * one_cu2 * si2,
                                     weight * s2q2l * si2, weight * d1 * si2)).reshape(4, -1)
    coef = np.stack(np.broadcast_arrays(a, a * (a + b) / e)).reshape(2, -1)
    return coef, g


def los_linear_terms(x, y, inclination, dens_lum, sigma_lum, q_lum, dens_pot, sigma_pot, q_pot,
                     n_nodes=128):
    """The two terms of the projected second moment, :math:`\\Sigma\\langle v_{\\rm los}^2\\rangle = I_0 + I_1/(1 - \\beta_z)`.

    Parameters
    ----------
    x, y : ndarray, shape (p,)
        Sky positions along the projected major and minor axes, arcsec (jampy's polar grid).
    inclination : float
        Radians.
    dens_lum, sigma_lum, q_lum : ndarray, shape (n_lum,)
        Luminous Gaussians: central density (Lsun/pc^3), dispersion (arcsec), intrinsic axis ratio.
    dens_pot, sigma_pot, q_pot : ndarray, shape (n_pot,)
        Mass Gaussians: central density (Msun/pc^3), dispersion (arcsec), intrinsic axis ratio.
    n_nodes : int
        Nodes of the tanh-sinh rule (>= ``MIN_NODES``).

    Returns
    -------
    i0, i1 : ndarray, shape (p,)
        In jampy's units of ``surf_v2los_cyl`` (Lsun/pc^2 (km/s)^2 times the distance scale it
        carries): jampy's ``tensor='zz'`` answer for a constant :math:`\\beta_z` is ``i0 + i1 / (1 - beta_z)``.
    """
    if int(n_nodes) < MIN_NODES:
        raise ValueError(f"n_nodes = {n_nodes}: the tanh-sinh rule needs at least {MIN_NODES} nodes")
    x2, y2 = np.asarray(x, dtype=float).ravel() ** 2, np.asarray(y, dtype=float).ravel() ** 2
    arrays = (np.asarray(v, dtype=float).ravel() for v in (dens_lum, sigma_lum, q_lum, dens_pot, sigma_pot, q_pot))
    coef, g = _term_tables(float(inclination), *arrays, int(n_nodes))
    points = np.stack([x2, y2])
    sums = np.zeros((4, x2.size))
    step = max(1, CHUNK // max(x2.size, 1))
    for start in range(0, coef.shape[1], step):
        expo = coef[:, start:start + step].T @ points
        np.exp(-expo, out=expo)
        sums += g[:, start:start + step] @ expo
    norm = 4 * np.pi**1.5 * G_KMS2_PC_MSUN
    return norm * (sums[0] + x2 * sums[1]), norm * (sums[2] + x2 * sums[3])


class _LastTerms:
    """jampy's ``surf_v2los_cyl`` by :func:`los_linear_terms`, keeping the last inputs' two terms."""

    def __init__(self, original, n_nodes):
        self.original, self.n_nodes = original, n_nodes
        self.last = (None, None)
        self.lock = threading.Lock()

    def __call__(self, x1, y1, inc, dens_lum, sigma_lum, qintr_lum, dens_pot, sigma_pot, qintr_pot, beta, tensor):
        beta = np.asarray(beta, dtype=float)
        if tensor != "zz" or beta.size == 0 or np.any(beta != beta.flat[0]):
            return self.original(x1, y1, inc, dens_lum, sigma_lum, qintr_lum, dens_pot, sigma_pot, qintr_pot,
                                 beta, tensor)
        arrays = [np.ascontiguousarray(v, dtype=float)
                  for v in (x1, y1, [inc], dens_lum, sigma_lum, qintr_lum, dens_pot, sigma_pot, qintr_pot)]
        key = hashlib.sha1(b"".join(a.tobytes() + str(a.shape).encode() for a in arrays)).hexdigest()
        with self.lock:
            last_key, terms = self.last
        if key != last_key:
            terms = los_linear_terms(arrays[0], arrays[1], inc, *arrays[3:], n_nodes=self.n_nodes)
            with self.lock:
                self.last = (key, terms)
        return terms[0] + terms[1] / (1 - beta.flat[0])


def check_los_nodes(n_nodes):
    """``n_nodes`` as an int if it is 0 (jampy's quadrature) or at least ``MIN_NODES``, else ``ValueError``."""
    n = int(n_nodes)
    if n != n_nodes or (n != 0 and n < MIN_NODES):
        raise ValueError(f"los_nodes = {n_nodes}: 0 (jampy's quadrature) or at least {MIN_NODES}")
    return n


def fixed_rule_los(n_nodes):
    """Within the block, jampy's ``surf_v2los_cyl`` is :func:`los_linear_terms` (``n_nodes`` > 0).

    Parameters
    ----------
    n_nodes : int
        0 leaves jampy's adaptive quadrature in place; otherwise the tanh-sinh rule's node count.

    Returns
    -------
    context manager
        Reentrant and thread-safe (:func:`fastjam.jampy_patch.swapped`); a nested block with
        another ``n_nodes`` raises ``ValueError``.
    """
    n_nodes = check_los_nodes(n_nodes)
    if n_nodes == 0:
        return contextlib.nullcontext()
    return swapped("surf_v2los_cyl", lambda original: _LastTerms(original, n_nodes), key=n_nodes)


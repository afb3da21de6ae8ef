"""The emulated field and its grids, in units of R_e.

The field is the square :math:`|x|, |y| \\le 2.5 R_e` (x along the projected major axis).
A self-consistent axisymmetric model has :math:`V_{\\rm rms}(x, y) = V_{\\rm rms}(|x|, |y|)`,
so maps are stored on the first quadrant only, on a ``(NTHETA, NR)`` grid:

* ``theta`` in [0, 90] deg, ``NTHETA`` nodes, linear (0 = major axis);
* along each ray, ``NR`` nodes logarithmic in radius from ``R_MIN`` to the edge of the
  square, :math:`r(u, \\theta) = r_{\\min} (r_{\\rm edge}(\\theta)/r_{\\min})^{u}`,
  :math:`u \\in [0, 1]`, :math:`r_{\\rm edge} = 2.5/\\max(\\cos\\theta, \\sin\\theta)`.

Inside ``R_MIN`` the PSF-convolved map is flat to well below the emulator error (the
smallest PSF is 0.02 R_e) and the innermost ring is used. The photometry image given to the
emulator's CNN is a Cartesian ``IMAGE_SIZE`` x ``IMAGE_SIZE`` image of the whole field.
"""
import numpy as np

FIELD_HALF = 2.5  #: half-side of the square field, in R_e
NR = 64  #: radial nodes of the polar map grid
NTHETA = 64  #: angular nodes of the polar map grid
R_MIN = 0.01  #: innermost radius of the map grid, in R_e
IMAGE_SIZE = 64  #: pixels per side of the photometry image


def edge_radius(theta):
    """Radius of the square field's edge along polar angle ``theta`` (radians), in R_e."""
    return FIELD_HALF / np.maximum(np.cos(theta), np.sin(theta))


def polar_grid(nr=NR, ntheta=NTHETA):
    """Map-grid node positions in units of R_e.

    Returns
    -------
    x, y : ndarray, shape (ntheta, nr)
        Node coordinates in the first quadrant (x along the major axis).
    """
    theta = np.radians(np.linspace(0.0, 90.0, ntheta))[:, None]
    u = np.linspace(0.0, 1.0, nr)[None, :]
    radius = R_MIN * (edge_radius(theta) / R_MIN) ** u
    return radius * np.cos(theta), radius * np.sin(theta)


def node_areas(nr=NR, ntheta=NTHETA):
    r"""Area of the field each node of the map grid stands for, in R_e^2 (trapezoid rule).

    With :math:`r = r_{\min} (r_{\rm edge}/r_{\min})^u`, :math:`dA = r\,dr\,d\theta =
    r^2 \ln(r_{\rm edge}(\theta)/r_{\min})\,du\,d\theta`: the nodes inside 0.1 R_e, 41% of the grid,
    cover 0.1% of the quadrant. Weighting a map's nodes by these areas gives statistics over the field
    as a map of equal spaxels would (the sum is the quadrant's area, FIELD_HALF^2, less the disc
    inside ``R_MIN``).

    Returns
    -------
    ndarray, shape (ntheta, nr)
    """
    theta = np.radians(np.linspace(0.0, 90.0, ntheta))[:, None]
    x, y = polar_grid(nr, ntheta)
    dtheta, du = np.pi / 2 / (ntheta - 1), 1.0 / (nr - 1)
    trapezoid = np.outer(_trapezoid(ntheta), _trapezoid(nr))
    return (x**2 + y**2) * np.log(edge_radius(theta) / R_MIN) * du * dtheta * trapezoid


def _trapezoid(n):
    w = np.ones(n)
    w[[0, -1]] = 0.5
    return w


def polar_coordinates(x, y, nr=NR, ntheta=NTHETA):
    """Fractional grid indices of positions (x, y) in units of R_e.

    Parameters
    ----------
    x, y : array_like
        Positions in units of R_e, inside the field (checked by the caller).

    Returns
    -------
    i_theta, i_r : ndarray
        Fractional indices along the angular and radial axes of the map grid.
    """
    ax, ay = np.abs(np.asarray(x, dtype=float)), np.abs(np.asarray(y, dtype=float))
    theta = np.arctan2(ay, ax)
    radius = np.maximum(np.hypot(ax, ay), R_MIN)
    u = np.log(radius / R_MIN) / np.log(edge_radius(theta) / R_MIN)
    return theta / (np.pi / 2) * (ntheta - 1), np.clip(u, 0.0, 1.0) * (nr - 1)


def interpolate_map(maps, x, y):
    """Bilinear interpolation of quadrant maps at positions (x, y) in R_e.

    Parameters
    ----------
    maps : ndarray, shape (..., NTHETA, NR)
    x, y : ndarray, shape (p,)

    Returns
    -------
    ndarray, shape (..., p)
    """
    maps = np.asarray(maps)
    ntheta, nr = maps.shape[-2:]
    it, ir = polar_coordinates(x, y, nr, ntheta)
    t0 = np.clip(np.floor(it).astype(int), 0, ntheta - 2)
    r0 = np.clip(np.floor(ir).astype(int), 0, nr - 2)
    wt, wr = it - t0, ir - r0
    m00 = maps[..., t0, r0]
    m01 = maps[..., t0, r0 + 1]
    m10 = maps[..., t0 + 1, r0]
    m11 = maps[..., t0 + 1, r0 + 1]
    return (1 - wt) * ((1 - wr) * m00 + wr * m01) + wt * ((1 - wr) * m10 + wr * m11)


def inside_field(x, y, tol=1e-9):
    """True where |x|, |y| <= 2.5 (positions in R_e)."""
    return (np.abs(x) <= FIELD_HALF + tol) & (np.abs(y) <= FIELD_HALF + tol)


def image_grid(size=IMAGE_SIZE):
    """Pixel centres of the photometry image in R_e: x, y of shape (size, size)."""
    edges = np.linspace(-FIELD_HALF, FIELD_HALF, size + 1)
    centres = 0.5 * (edges[1:] + edges[:-1])
    return np.meshgrid(centres, centres)


def photometry_image(surf_unit, sigma_unit, qobs, size=IMAGE_SIZE):
    """log10 surface brightness image of an MGE given in units of R_e and L_tot.

    Parameters
    ----------
    surf_unit : ndarray, shape (k,)
        Gaussian peak values in units of L_tot / R_e^2.
    sigma_unit : ndarray, shape (k,)
        Gaussian dispersions in units of R_e.
    qobs : ndarray, shape (k,)
        Observed axis ratios.

    Returns
    -------
    ndarray, shape (size, size), float32
        :math:`\\log_{10}[\\Sigma / (L_{\\rm tot}/R_e^2)]`; row index is y, column is x.
    """
    x, y = image_grid(size)
    arg = (x[..., None] ** 2 + (y[..., None] / qobs) ** 2) / sigma_unit**2
    surf = np.sum(surf_unit * np.exp(-0.5 * arg), axis=-1)
    return np.log10(np.maximum(surf, 1e-30)).astype(np.float32)

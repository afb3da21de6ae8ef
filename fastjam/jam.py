"""The JAM forward model: jampy's ``jam.axi.proj`` (Cappellari 2008, MNRAS 390, 71).

Self-consistent (mass follows light), cylindrically aligned velocity ellipsoid
(``align='cyl'``), line-of-sight second moment (``moment='zz'``), constant
:math:`\\beta_z`, no black hole, PSF and pixel convolution always on.
"""
import hashlib
import json
import logging
from dataclasses import asdict, dataclass

import numpy as np

from .forward import ForwardModel, Parameters, check_positions
from .galaxy import Galaxy, Sersic
from .jampy_los import check_los_nodes, fixed_rule_los
from .jampy_surface import separable_surface
from .physics import grid
from .physics.scaling import velocity_scale

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class JAMSettings:
    """Numerical settings of jampy, fixed for training data, tests and comparisons.

    ``nrad`` x ``nang`` is the polar grid on which the Jeans solution is computed before
    interpolation and PSF convolution (jampy's defaults are 20 x 10); ``bench/simulate.py``
    measures their convergence against a 3x finer setting. ``los_nodes`` > 0 replaces jampy's
    adaptive quadrature of the projected second moment by a fixed tanh-sinh rule of that many
    nodes that yields both terms of :func:`jam_linear_terms` at once (:mod:`fastjam.jampy_los`,
    more accurate than jampy's default and several times faster); 0 keeps jampy's.
    """

    nrad: int = 40
    nang: int = 20
    epsrel: float = 1e-2
    los_nodes: int = 0

    def __post_init__(self):
        if int(self.nrad) < 5 or int(self.nang) < 3:
            raise ValueError(f"JAM grid too coarse: nrad = {self.nrad} (>= 5), nang = {self.nang} (>= 3)")
        check_los_nodes(self.los_nodes)

    def as_dict(self):
        """The settings as a dict; ``los_nodes`` only when set, so that the settings recorded with
        sets and caches made before it existed (jampy's quadrature) still match."""
        d = asdict(self)
        if not d["los_nodes"]:
            del d["los_nodes"]
        return d


DEFAULT_SETTINGS = JAMSettings()


def jam_vrms(mge, inclination, beta_z, ml, distance, sigma_psf, pixsize, x, y, settings=DEFAULT_SETTINGS):
    """V_RMS in km/s from one jampy call (inputs validated by the caller).

    Parameters
    ----------
    mge : MGE
        Surface brightness in Lsun/pc^2, sigma in arcsec.
    inclination : float
        Degrees.
    beta_z : float
        Constant anisotropy of all Gaussians.
    ml : float
        Mass-to-light ratio.
    distance : float
        Mpc.
    sigma_psf, pixsize : float
        arcsec, both > 0.
    x, y : ndarray, shape (p,)
        arcsec.
    settings : JAMSettings

    Returns
    -------
    ndarray, shape (p,)
    """
    import jampy

    # the same numbers, faster on jampy's convolution grid; with los_nodes, the line-of-sight terms too
    with separable_surface(), fixed_rule_los(settings.los_nodes):
        out = jampy.axi.proj(
            mge.surf, mge.sigma, mge.qobs, mge.surf, mge.sigma, mge.qobs,
            float(inclination), 0.0, float(distance), x, y,
            align="cyl", moment="zz", beta=np.full(mge.surf.size, float(beta_z)),
            ml=float(ml), sigmapsf=float(sigma_psf), pixsize=float(pixsize),
            nrad=settings.nrad, nang=settings.nang, epsrel=settings.epsrel,
            plot=False, quiet=True,
        )
    return np.asarray(out.model, dtype=float)


#: Anisotropies of the two jampy calls of :func:`jam_linear_terms`: isotropic and tangential, where
#: V_RMS^2 stays positive (jampy clips V_RMS^2 at 0 before its square root, which would break
#: the linearity; large positive beta_z can make V_RMS^2 negative in flat galaxies).
ANCHOR_BETAS = (0.0, -0.5)


def jam_linear_terms(mge, inclination, distance, sigma_psf, pixsize, x, y, settings=DEFAULT_SETTINGS):
    """The two maps of JAM's linear decomposition, from two jampy calls.

    With a constant :math:`\\beta_z` and cylindrical alignment, the PSF- and pixel-convolved
    second moment is exactly linear in M/L and in :math:`v_R^2 = v_z^2/(1 - \\beta_z)`
    (Cappellari 2008, MNRAS 390, 71, eqs. 8-9 are linear in the potential and in
    :math:`\\overline{v_R^2}`; the convolution acts linearly on :math:`\\Sigma V_{\\rm rms}^2`):

    .. math:: V_{\\rm rms}^2 = (M/L)\\,[A(x, y; i) + B(x, y; i)/(1 - \\beta_z)].

    Parameters
    ----------
    mge : MGE
        Lsun/pc^2 and arcsec.
    inclination : float
        Degrees.
    distance : float
        Mpc.
    sigma_psf, pixsize : float
        arcsec, both > 0 (validated by the caller).
    x, y : ndarray, shape (p,)
        arcsec.
    settings : JAMSettings

    Returns
    -------
    a, b : ndarray, shape (p,)
        (km/s)^2 per unit M/L. :math:`A + B/(1 - \\beta_z) \\le 0` somewhere marks an
        unphysical model (jampy would clip it to V_RMS = 0).
    """
    b0, b1 = ANCHOR_BETAS
    with fixed_rule_los(settings.los_nodes):  # one block: the second call reuses the first's quadrature
        v0 = jam_vrms(mge, inclination, b0, 1.0, distance, sigma_psf, pixsize, x, y, settings) ** 2
        v1 = jam_vrms(mge, inclination, b1, 1.0, distance, sigma_psf, pixsize, x, y, settings) ** 2
    u0, u1 = 1 / (1 - b0), 1 / (1 - b1)
    b = (v0 - v1) / (u0 - u1)
    return v0 - b * u0, b


class JAMModel(ForwardModel):
    """:class:`~fastjam.forward.ForwardModel` that calls jampy once per parameter set.

    Parameters
    ----------
    settings : JAMSettings
        jampy's numerical settings.
    """

    def __init__(self, settings=DEFAULT_SETTINGS):
        self.settings = settings

    def bind(self, galaxy, x, y):
        """jampy bound to ``galaxy`` (validated by :class:`~fastjam.galaxy.Galaxy`) at ``x, y`` [arcsec].

        Returns
        -------
        BoundJAM
        """
        if not isinstance(galaxy, Galaxy):
            raise ValueError(f"galaxy must be a fastjam.galaxy.Galaxy, got {type(galaxy).__name__}")
        x, y = check_positions(x, y)
        return BoundJAM(galaxy.mge, galaxy.q_obs, galaxy.distance, galaxy.sigma_psf, galaxy.pixsize, x, y,
                        self.settings)

    def _vrms(self, galaxy, params, x, y):
        mge = galaxy.mge
        out = np.empty((params.inclination.size, x.size))
        for k in range(params.inclination.size):
            out[k] = jam_vrms(
                mge, params.inclination[k], params.beta_z[k], params.ml[k],
                galaxy.distance, galaxy.sigma_psf, galaxy.pixsize, x, y, self.settings,
            )
        return out


@dataclass(frozen=True, eq=False)
class BoundJAM:
    """jampy for one galaxy at fixed positions: ``model(inclination, beta_z, ml) -> (p,)`` km/s.

    Picklable (runs on Dask workers); build it with :meth:`JAMModel.bind`, which validates the
    galaxy and positions. Each call checks the parameters (:class:`~fastjam.forward.Parameters`)
    and makes one jampy call.

    Attributes
    ----------
    mge : MGE
    q_obs : float
        Sets the minimum inclination.
    distance, sigma_psf, pixsize : float
        Mpc, arcsec, arcsec.
    x, y : ndarray, shape (p,)
        arcsec.
    settings : JAMSettings
    """

    mge: object
    q_obs: float
    distance: float
    sigma_psf: float
    pixsize: float
    x: np.ndarray
    y: np.ndarray
    settings: JAMSettings = DEFAULT_SETTINGS

    xp = np  #: array namespace

    @property
    def n_bins(self):
        return int(self.x.size)

    def __call__(self, inclination, beta_z, ml):
        """V_RMS [km/s], shape (p,), for scalar inclination [deg], beta_z and M/L [Msun/Lsun]."""
        p = Parameters.validate(self.q_obs, inclination, beta_z, ml)
        if p.inclination.size != 1:
            raise ValueError(f"a bound JAM model takes one parameter set, got {p.inclination.size}")
        return jam_vrms(self.mge, p.inclination[0], p.beta_z[0], p.ml[0], self.distance, self.sigma_psf,
                        self.pixsize, self.x, self.y, self.settings)

    def fingerprint(self):
        """SHA-256 of everything jampy sees except the parameters (for caches)."""
        h = hashlib.sha256()
        for a in (self.mge.surf, self.mge.sigma, self.mge.qobs, self.x, self.y,
                  [self.distance, self.sigma_psf, self.pixsize]):
            h.update(np.ascontiguousarray(a, dtype=np.float64).tobytes())
        h.update(json.dumps(self.settings.as_dict(), sort_keys=True).encode())
        return h.hexdigest()


#: Reference galaxy used to compute dimensionless maps (any values give the same f).
REFERENCE = dict(r_e=1.0, l_tot=1e10, distance=10.0, ml=1.0)


def dimensionless_map(n, q_obs, inclination, beta_z, sigma_psf_re, pixsize_re, settings=DEFAULT_SETTINGS,
                      x=None, y=None):
    """The dimensionless map f of the scaling law, computed with jampy.

    Parameters
    ----------
    n, q_obs : float
        Sérsic index and observed axis ratio.
    inclination : float
        Degrees.
    beta_z : float
        Anisotropy.
    sigma_psf_re, pixsize_re : float
        PSF dispersion and pixel size in units of R_e.
    settings : JAMSettings
    x, y : ndarray, optional
        Positions in R_e; the polar map grid (:func:`fastjam.physics.grid.polar_grid`) by default.

    Returns
    -------
    ndarray
        f, shape ``(NTHETA, NR)`` on the map grid, or the shape of ``x``.
    """
    ref = REFERENCE
    galaxy = Galaxy(Sersic(n, ref["r_e"], q_obs, ref["l_tot"]), ref["distance"],
                    sigma_psf_re * ref["r_e"], pixsize_re * ref["r_e"])
    Parameters.validate(q_obs, inclination, beta_z, ref["ml"])
    if x is None:
        x, y = grid.polar_grid()
    shape = np.shape(x)
    xs, ys = check_positions(np.ravel(x) * ref["r_e"], np.ravel(y) * ref["r_e"])
    vrms = jam_vrms(galaxy.mge, inclination, beta_z, ref["ml"], ref["distance"],
                    galaxy.sigma_psf, galaxy.pixsize, xs, ys, settings)
    scale = velocity_scale(ref["ml"], ref["l_tot"], ref["r_e"], ref["distance"])
    return (vrms / scale).reshape(shape)


def dimensionless_linear_maps(mge_unit, inclination, sigma_psf_re, pixsize_re, settings=DEFAULT_SETTINGS,
                              x=None, y=None):
    """The dimensionless maps a, b of :func:`jam_linear_terms` for an MGE in units of R_e and L_tot.

    :math:`f^2 = a + b/(1 - \\beta_z)` is the squared dimensionless map of the scaling law, with
    the MGE's own half-light radius and total light as R_e and L_tot.

    Parameters
    ----------
    mge_unit : tuple of ndarray
        (surf [L_tot/R_e^2], sigma [R_e], qobs), e.g. :func:`fastjam.family.family_mge`.
    inclination : float
        Degrees.
    sigma_psf_re, pixsize_re : float
        PSF dispersion and pixel size in R_e (both > 0).
    settings : JAMSettings
    x, y : ndarray, optional
        Positions in R_e; the polar map grid by default.

    Returns
    -------
    a, b : ndarray
        Shape ``(NTHETA, NR)`` on the map grid, or the shape of ``x``.
    """
    from .physics.mge import MGE
    from .physics.scaling import PC_PER_ARCSEC_PER_MPC

    ref = REFERENCE
    surf, sigma, qobs = (np.asarray(v, dtype=float) for v in mge_unit)
    r_e_pc = ref["r_e"] * ref["distance"] * PC_PER_ARCSEC_PER_MPC
    mge = MGE(surf * ref["l_tot"] / r_e_pc**2, sigma * ref["r_e"], qobs)
    if x is None:
        x, y = grid.polar_grid()
    shape = np.shape(x)
    xs, ys = check_positions(np.ravel(x) * ref["r_e"], np.ravel(y) * ref["r_e"])
    a, b = jam_linear_terms(mge, inclination, ref["distance"], sigma_psf_re * ref["r_e"], pixsize_re * ref["r_e"],
                            xs, ys, settings)
    scale2 = velocity_scale(ref["ml"], ref["l_tot"], ref["r_e"], ref["distance"]) ** 2
    return (a / scale2).reshape(shape), (b / scale2).reshape(shape)

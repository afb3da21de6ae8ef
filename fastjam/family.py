"""The multi-component photometric family of the general-photometry emulator.

Real early-type galaxies are bulge + disk systems whose flattening changes with radius. The
family is a sum of one to three Sérsic components, each with its own index, effective
radius, intrinsic axis ratio and light fraction, all seen at one inclination; each component
becomes ``NGAUSS_COMPONENT`` Gaussians (``mgefit.fit_1d``), so the galaxy is an MGE of 10-30
Gaussians whose observed axis ratios
:math:`q_{{\\rm obs},j}^2 = q_{{\\rm intr},j}^2 \\sin^2 i + \\cos^2 i` differ from
component to component. The MGE is then expressed in units of its own half-light radius
:math:`R_e` (major axis of the half-light isophote, jampy's ``mge_half_light_isophote``)
and total light :math:`L_{\\rm tot}`, so that the scaling law fixes the physical units.

==========================  ===========================  ==========================================
parameter                   range                        component
==========================  ===========================  ==========================================
``n_components``            1, 2, 3 (30/45/25%)
``inclination`` [deg]       [10, 90], uniform in cos i
``sigma_psf_re``            [0.01, 0.5], log-uniform      PSF dispersion / R_e of the galaxy
``pixsize_ratio``           [0.05, 2], uniform            pixel size / sigma_psf (0.05: the clamp)
single: ``n``, ``q_intr``   [0.5, 8], [0.05, 1]          the only component (K = 1)
bulge: ``n``, ``q_intr``    [2, 8], [0.4, 1]             K >= 2, R_e = 1 (reference)
disk                        n [0.5, 1.5], q [0.05, 0.35] R_e / R_e,bulge in [0.5, 8] (log)
third                       n [0.5, 4], q [0.05, 1]      R_e / R_e,bulge in [0.1, 8] (log)
``bulge_fraction``          [0.05, 0.95]                 light of the bulge / (bulge + disk)
``third_fraction``          [0.05, 0.4]                  light of the third component / total
``outer_radius`` (optional)  e.g. [1.5, 8], log-uniform  R_max / R_e: the MGE fitted out to R_max only
==========================  ===========================  ==========================================

``outer_radius`` (``FamilySpace(outer_radius=(LO, HI))``, a 15th column of the design) truncates
the photometry as an image of finite extent does: an MGE that ``mgefit`` fits to an image has no
Gaussian wider than the image and none of the light beyond it (the outermost Gaussians of the
MGEs of ``examples/real_mges`` have sigma = 1.9-2.1 R_e, while the untruncated family's reach 4.7
R_e or more in 95% of its maps). Each component is then fitted out to R_max = ``outer_radius``
times the untruncated galaxy's R_e, and the MGE is expressed in units of its own (smaller) R_e.

The ranges are justified against the IFU surveys in ``docs/parameter_space.md``.
"""
from dataclasses import asdict, dataclass, replace

import numpy as np

from .physics.geometry import QINTR_MIN

#: Gaussians per Sérsic component of the family.
NGAUSS_COMPONENT = 10
#: Most Gaussians of a family galaxy (three components).
MAX_GAUSSIANS = 3 * NGAUSS_COMPONENT
#: Names of the design parameters (columns of ``params``).
FAMILY_PARAM_NAMES = (
    "n_components", "inclination", "sigma_psf_re", "pixsize_re",
    "n_1", "q_intr_1", "n_2", "q_intr_2", "re_ratio_2", "bulge_fraction",
    "n_3", "q_intr_3", "re_ratio_3", "third_fraction",
)


@dataclass(frozen=True)
class FamilySpace:
    """Ranges of the multi-component family (see the module docstring)."""

    component_probs: tuple = (0.30, 0.45, 0.25)
    inclination: tuple = (10.0, 90.0)
    sigma_psf_re: tuple = (0.01, 0.5)
    pixsize_ratio: tuple = (0.05, 2.0)
    single_n: tuple = (0.5, 8.0)
    single_q: tuple = (QINTR_MIN + 0.01, 1.0)
    bulge_n: tuple = (2.0, 8.0)
    bulge_q: tuple = (0.4, 1.0)
    disk_n: tuple = (0.5, 1.5)
    disk_q: tuple = (QINTR_MIN + 0.01, 0.35)
    disk_re: tuple = (0.5, 8.0)
    third_n: tuple = (0.5, 4.0)
    third_q: tuple = (QINTR_MIN + 0.01, 1.0)
    third_re: tuple = (0.1, 8.0)
    bulge_fraction: tuple = (0.05, 0.95)
    third_fraction: tuple = (0.05, 0.4)
    #: R_max / R_e of the untruncated galaxy, log-uniform, or None: untruncated (module docstring)
    outer_radius: tuple = None

    def __post_init__(self):
        lo, hi = self.inclination
        if not 0 < lo < hi <= 90:
            raise ValueError(f"inclination range must satisfy 0 < LO < HI <= 90 deg, got {lo:g} {hi:g}")
        if self.outer_radius is not None:
            lo, hi = self.outer_radius
            if not 0.1 <= lo <= hi:
                raise ValueError(f"outer_radius range must satisfy 0.1 <= LO <= HI [R_e], got {lo:g} {hi:g}")

    @property
    def param_names(self):
        """Names of the design's columns: FAMILY_PARAM_NAMES, and ``outer_radius`` when truncated."""
        return FAMILY_PARAM_NAMES + (("outer_radius",) if self.outer_radius is not None else ())

    def restricted(self, **ranges):
        """The same space with some ranges narrowed, e.g. ``restricted(disk_q=(0.06, 0.2))``: a design that
        samples part of the training domain more densely.

        Raises
        ------
        ValueError
            For a name that is not a range of the space, or a range not inside this space's.
        """
        fields = {k: v for k, v in asdict(self).items() if k != "component_probs" and v is not None}
        for name, (lo, hi) in ranges.items():
            if name not in fields:
                raise ValueError(f"no family range {name!r}: choose from {', '.join(fields)}")
            old, tol = fields[name], 1e-9 * max(abs(v) for v in fields[name])
            if not (old[0] - tol <= lo < hi <= old[1] + tol):
                raise ValueError(f"{name} range {lo:g} {hi:g} is not inside the family's {old[0]:g} {old[1]:g}")
        return replace(self, **{k: (max(float(lo), fields[k][0]), min(float(hi), fields[k][1]))
                                for k, (lo, hi) in ranges.items()})

    def as_dict(self):
        """The ranges as lists; ``outer_radius`` only when set (sets made before it record none)."""
        return {k: list(v) for k, v in asdict(self).items() if v is not None}

    @classmethod
    def from_dict(cls, d):
        return cls(**{k: tuple(v) for k, v in d.items()})

    def from_unit(self, u):
        """Map unit-cube points (N, 14) to design parameters (N, 14), ``FAMILY_PARAM_NAMES`` order.

        Unused components' parameters are set to 0.
        """
        u = np.asarray(u, dtype=float)
        if u.ndim != 2 or u.shape[1] != len(FAMILY_PARAM_NAMES):
            raise ValueError(f"unit-cube points must have shape (N, {len(FAMILY_PARAM_NAMES)}), got {u.shape}")

        def lin(k, rng):
            return rng[0] + u[:, k] * (rng[1] - rng[0])

        def log(k, rng):
            return np.exp(np.log(rng[0]) + u[:, k] * np.log(rng[1] / rng[0]))

        k_comp = 1 + np.searchsorted(np.cumsum(self.component_probs)[:-1], u[:, 0], side="right")
        cos_hi, cos_lo = np.cos(np.radians(self.inclination))
        inc = np.degrees(np.arccos(cos_lo + u[:, 1] * (cos_hi - cos_lo)))
        sig = log(2, self.sigma_psf_re)
        pix = sig * lin(3, self.pixsize_ratio)
        single = k_comp == 1
        n1 = np.where(single, lin(4, self.single_n), lin(4, self.bulge_n))
        q1 = np.where(single, lin(5, self.single_q), lin(5, self.bulge_q))
        has2, has3 = k_comp >= 2, k_comp >= 3
        out = np.column_stack([
            k_comp, inc, sig, pix, n1, q1,
            np.where(has2, lin(6, self.disk_n), 0), np.where(has2, lin(7, self.disk_q), 0),
            np.where(has2, log(8, self.disk_re), 0), np.where(has2, lin(9, self.bulge_fraction), 1),
            np.where(has3, lin(10, self.third_n), 0), np.where(has3, lin(11, self.third_q), 0),
            np.where(has3, log(12, self.third_re), 0), np.where(has3, lin(13, self.third_fraction), 0),
        ])
        return out


def family_design(n_points, seed, space=FamilySpace()):
    """A reproducible scrambled-Sobol design of the family, shape (n_points, 14), or (n_points, 15) with
    the ``outer_radius`` column of a truncated space.

    The first ``n`` points do not depend on ``n_points``, so a design can be extended.
    """
    from scipy.stats import qmc

    if int(n_points) < 1:
        raise ValueError(f"number of maps must be >= 1, got {n_points}")
    n_dim = len(space.param_names)
    sampler = qmc.Sobol(d=n_dim, scramble=True, rng=np.random.default_rng(seed))
    m = int(np.ceil(np.log2(max(int(n_points), 2))))
    u = sampler.random_base2(m)[: int(n_points)]
    design = space.from_unit(u[:, :len(FAMILY_PARAM_NAMES)])
    if space.outer_radius is None:
        return design
    lo, hi = space.outer_radius
    return np.column_stack([design, lo * (hi / lo) ** u[:, -1]])


def observed_q(q_intr, inclination):
    """Observed axis ratio of an oblate spheroid: :math:`\\sqrt{q^2 \\sin^2 i + \\cos^2 i}`."""
    rad = np.radians(inclination)
    return np.sqrt(q_intr**2 * np.sin(rad) ** 2 + np.cos(rad) ** 2)


def components(params):
    """The Sérsic components of one design point: list of (n, q_intr, R_e [bulge R_e], light fraction)."""
    k, _, _, _, n1, q1, n2, q2, re2, fb, n3, q3, re3, f3 = (float(p) for p in params[:len(FAMILY_PARAM_NAMES)])
    k = int(round(k))
    if k == 1:
        return [(n1, q1, 1.0, 1.0)]
    out = [(n1, q1, 1.0, fb), (n2, q2, re2, 1.0 - fb)]
    if k == 3:
        out = [(n, q, re, w * (1 - f3)) for n, q, re, w in out] + [(n3, q3, re3, f3)]
    return out


def sersic_components_mge(comps, inclination, ngauss=NGAUSS_COMPONENT, r_max=None):
    """The MGE of a sum of Sérsic components seen at one inclination (arbitrary units).

    Parameters
    ----------
    comps : list of (n, q_intr, r_e, light)
        Each component's Sérsic index, intrinsic axis ratio, major-axis R_e and total light.
    inclination : float
        Degrees.
    ngauss : int
        Gaussians per component.
    r_max : float, optional
        Fit each component only out to this major-axis radius (units of the r_e), as an image of
        that extent (:func:`fastjam.physics.mge.unit_sersic_mge`); default: untruncated.

    Returns
    -------
    surf, sigma, qobs : ndarray, shape (k,)
        Peak surface brightness, dispersion (units of the r_e) and observed axis ratio.
    """
    from .physics.mge import unit_sersic_mge

    surf, sigma, qobs = [], [], []
    for n, q_intr, r_e, light in comps:
        s_unit, g_unit = unit_sersic_mge(float(n), ngauss, None if r_max is None else float(r_max / r_e))
        q = float(observed_q(q_intr, inclination))
        surf.append(s_unit * light / (q * r_e**2))
        sigma.append(g_unit * r_e)
        qobs.append(np.full(g_unit.size, q))
    return np.concatenate(surf), np.concatenate(sigma), np.concatenate(qobs)


def unit_mge(surf, sigma, qobs):
    """An MGE in units of its own half-light radius and total light.

    Parameters
    ----------
    surf, sigma, qobs : ndarray, shape (k,)
        Any consistent units.

    Returns
    -------
    surf_unit : ndarray
        Peak values in units of :math:`L_{\\rm tot}/R_e^2`.
    sigma_unit : ndarray
        Dispersions in units of :math:`R_e`.
    qobs : ndarray
    r_e : float
        Major axis of the half-light isophote, in the input units (Cappellari et al. 2013,
        MNRAS 432, 1709, sec. 4.3; jampy's ``mge_half_light_isophote``).
    l_tot : float
        :math:`\\sum_j 2\\pi S_j q_j \\sigma_j^2`, in the input units.
    """
    from jampy.mge.mge_half_light_isophote import mge_half_light_isophote

    surf, sigma, qobs = (np.asarray(a, dtype=float) for a in (surf, sigma, qobs))
    l_tot = float(np.sum(2 * np.pi * surf * qobs * sigma**2))
    _, r_e, _, _ = mge_half_light_isophote(surf, sigma, qobs)
    r_e = float(r_e)
    return surf * r_e**2 / l_tot, sigma / r_e, qobs, r_e, l_tot


def family_mge(params):
    """The unit MGE (surf [L_tot/R_e^2], sigma [R_e], qobs) of one design point; with a 15th parameter,
    ``outer_radius``, fitted out to that many R_e of the untruncated galaxy (module docstring)."""
    comps = components(params)
    surf, sigma, qobs = sersic_components_mge(comps, params[1])
    if len(params) > len(FAMILY_PARAM_NAMES):
        r_e = unit_mge(surf, sigma, qobs)[3]
        surf, sigma, qobs = sersic_components_mge(comps, params[1], r_max=params[len(FAMILY_PARAM_NAMES)] * r_e)
    return unit_mge(surf, sigma, qobs)[:3]


def pad_mge(surf, sigma, qobs, size=MAX_GAUSSIANS):
    """Stack an MGE into a zero-padded array of shape (size, 3): columns surf, sigma, qobs."""
    if surf.size > size:
        raise ValueError(f"an MGE of {surf.size} Gaussians exceeds the {size} this family stores")
    out = np.zeros((size, 3))
    out[: surf.size] = np.column_stack([surf, sigma, qobs])
    return out


def unpad_mge(padded):
    """Inverse of :func:`pad_mge`: (surf, sigma, qobs) of the Gaussians with surf > 0."""
    padded = np.asarray(padded, dtype=float)
    keep = padded[:, 0] > 0
    return padded[keep, 0], padded[keep, 1], padded[keep, 2]

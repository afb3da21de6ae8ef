"""Inputs and outputs of the general-photometry emulator, the same for numpy, torch and JAX.

Inputs
------
* One token per Gaussian of the unit MGE (units of the MGE's own R_e and L_tot,
  :func:`fastjam.photometry.unit_photometry`): :math:`\\ln(\\sigma_j/R_e)`, :math:`q_{{\\rm obs},j}`
  and, given the inclination, :math:`q_{{\\rm intr},j}`; with the light fraction
  :math:`w_j = 2\\pi S_j q_j \\sigma_j^2 / L_{\\rm tot}` as the token's weight (padding: w = 0).
* Or, for the ``profile`` encoders, the light of the MGE sampled where the map is made: the
  logarithm of the intrinsic luminosity density :math:`\\nu(R, z)` and of the surface brightness
  :math:`\\Sigma(x, y)` at ``PROFILE_RADII`` x ``PROFILE_ANGLES`` (:func:`profile_features`).
  Unlike light-weighted pooling over Gaussians, this gives the faint outer light (which sets
  V_RMS far out on the minor axis) the same weight as the bright centre.
* Three observing parameters mapped to about [-1, 1]: :math:`\\cos i`,
  :math:`\\ln(\\sigma_{\\rm psf}/R_e)`, pixsize/:math:`\\sigma_{\\rm psf}` (clamped below at
  ``PIXSIZE_RATIO_CLAMP``), and the upper anisotropy anchor :math:`\\beta_{\\rm hi}`.

Outputs
-------
JAM is linear in :math:`u = 1/(1-\\beta_z)`: :math:`f^2 = a + b\\,u` (Cappellari 2008). The
network emulates :math:`\\ln f` at two anchors, :math:`\\beta_{\\rm lo} = -0.2` and
:math:`\\beta_{\\rm hi} = 0.7\\,(1 - \\max_j q_{{\\rm intr},j})` (the anisotropy bound of the
roundest Gaussian, where :math:`f^2 > 0` on every training map), so any
:math:`\\beta_z \\in [\\beta_{\\rm lo}, \\beta_{\\rm hi}]` is an exact convex combination in u:

.. math:: f^2(\\beta_z) = (1 - t) f^2_{\\rm lo} + t f^2_{\\rm hi}, \\quad
          t = (u - u_{\\rm lo}) / (u_{\\rm hi} - u_{\\rm lo}),

and M/L enters only through the analytic velocity scale. Functions take the namespace ``xp``.
"""
import numpy as np

from ..physics.geometry import BETA_EPS_SLOPE

BETA_LO = -0.2  #: lower anisotropy anchor (the prior's lower bound)
SIGMA_PSF_RE = (0.01, 0.5)  #: training range of sigma_psf / R_e
PIXSIZE_RATIO = (0.05, 2.0)  #: training range of pixsize / sigma_psf
PIXSIZE_RATIO_CLAMP = PIXSIZE_RATIO[0]  #: smaller pixels are emulated at this ratio
LN_SIGMA_SCALE = 3.0  #: ln(sigma_j / R_e) is divided by this
N_GLOBAL = 4
PROFILE_RADII = np.geomspace(0.02, 3.0, 12)  #: radii of the profile features, in R_e
PROFILE_ANGLES = np.radians(np.linspace(0.0, 90.0, 7))  #: their angles from the major axis (equatorial plane)
PROFILE_FLOOR = 1e-8  #: added to densities [L_tot / R_e^3] and surface brightness [L_tot / R_e^2] before the log
N_PROFILE = 2 * PROFILE_RADII.size * PROFILE_ANGLES.size
N_JEANS = 3 * PROFILE_RADII.size * PROFILE_ANGLES.size
JEANS_STEP = 0.75  #: step of the trapezoid rule in eta = ln[(1 - u^2) / u^2] (jeans_features)
JEANS_ETA = np.arange(-14.0, 10.0 + JEANS_STEP / 2, JEANS_STEP)  #: its nodes
TOKEN_ENCODERS = ("pairs", "singles", "hybrid", "jeans")  #: encoders over the Gaussians (token_features)
PROFILE_ENCODERS = ("profile", "hybrid", "jeans")  #: encoders over the light on a grid (profile_features)
JEANS_ENCODERS = ("jeans",)  #: encoders that also see the Jeans solution on that grid (jeans_features)


def feature_definition():
    """The constants of these features, as stored in a general emulator's card."""
    return dict(kind="general", beta_lo=BETA_LO, sigma_psf_re=list(SIGMA_PSF_RE), pixsize_ratio=list(PIXSIZE_RATIO),
                ln_sigma_scale=LN_SIGMA_SCALE, n_global=N_GLOBAL)


def _unit(value, low, high):
    return 2 * (value - low) / (high - low) - 1


def q_intr(qobs, cos_i, xp=np):
    """Intrinsic axis ratios :math:`\\sqrt{q_{\\rm obs}^2 - \\cos^2 i}/\\sin i` (clipped at 0); any shape."""
    sin_i = xp.sqrt(1 - cos_i**2)
    return xp.sqrt(xp.clip(qobs**2 - cos_i**2, 0.0, None)) / sin_i


def beta_hi(qobs, weight, cos_i, xp=np):
    """Upper anchor :math:`0.7 (1 - \\max_j q_{{\\rm intr},j})` over Gaussians with weight > 0.

    Parameters
    ----------
    qobs, weight : array, shape (..., k)
    cos_i : array, shape (...)
    """
    q = xp.where(weight > 0, q_intr(qobs, cos_i[..., None], xp), 0.0)
    return BETA_EPS_SLOPE * (1 - xp.max(q, -1))


def token_features(ln_sigma, qobs, cos_i, xp=np):
    """Per-Gaussian inputs, shape (..., k, 3): ln sigma / 3, 2 q_obs - 1, 2 q_intr - 1."""
    qi = q_intr(qobs, cos_i[..., None], xp)
    return xp.stack([ln_sigma / LN_SIGMA_SCALE, 2 * qobs - 1, 2 * qi - 1], -1)


def profile_features(ln_sigma, qobs, weight, cos_i, xp=np, radii=PROFILE_RADII, angles=PROFILE_ANGLES):
    r"""Light of unit MGEs sampled on a polar grid, shape (..., 2 radii.size angles.size).

    For Gaussians j of light fraction :math:`w_j`, dispersion :math:`\sigma_j` [R_e], observed
    and intrinsic axis ratios :math:`q'_j`, :math:`q_j` (Cappellari 2002, MNRAS 333, 400, eqs. 1, 13):

    .. math:: \nu(R, z) = \sum_j \frac{w_j}{(2\pi)^{3/2} \sigma_j^3 q_j}
              \exp\left[-\frac{R^2 + z^2/q_j^2}{2\sigma_j^2}\right], \qquad
              \Sigma(x, y) = \sum_j \frac{w_j}{2\pi \sigma_j^2 q'_j}
              \exp\left[-\frac{x^2 + y^2/q_j'^2}{2\sigma_j^2}\right],

    both at :math:`r (\cos\phi, \sin\phi)` for r in ``radii`` and :math:`\phi` in
    ``angles``; returned as :math:`\ln(\cdot + 10^{-8})/10`, ν first.

    Parameters
    ----------
    ln_sigma, qobs, weight : array, shape (..., k)
        Unit MGE (padding: weight 0).
    cos_i : array, shape (...)
    radii : array, shape (n_r,)
        In R_e; default ``PROFILE_RADII``.
    angles : array, shape (n_phi,)
        From the major axis [rad]; default ``PROFILE_ANGLES``.
    """
    along, across = (np.outer(trig(angles), radii).ravel() for trig in (np.cos, np.sin))
    nu, surf, _ = light_at(ln_sigma, qobs, weight, cos_i, along, across, xp)
    return xp.concatenate([xp.log(nu + PROFILE_FLOOR), xp.log(surf + PROFILE_FLOOR)], -1) / 10


def light_at(ln_sigma, qobs, weight, cos_i, along, across, xp=np):
    r"""The light of unit MGEs at points: :math:`\nu(R, z)` and :math:`\Sigma(x, y)` of
    :func:`profile_features` at (R, z) = (x, y) = (``along``, ``across``), and the mean observed axis
    ratio of the Gaussians weighted by their surface brightness there, :math:`\sum_j \Sigma_j q'_j / \Sigma`.

    Parameters
    ----------
    ln_sigma, qobs, weight : array, shape (..., k)
        Unit MGE (padding: weight 0).
    cos_i : array, shape (...)
    along, across : array, shape (P,)
        Points along the major and the minor axis [R_e].

    Returns
    -------
    nu, surf, q_mean : array, shape (..., P)
        [L_tot / R_e^3], [L_tot / R_e^2], and the mean q_obs (q_obs of the last Gaussian where the light is 0).
    """
    sigma = xp.exp(ln_sigma)[..., None, :]
    qi = xp.clip(q_intr(qobs, cos_i[..., None], xp), 0.02, None)[..., None, :]
    w = weight[..., None, :]
    surf_j = surface_at(ln_sigma, qobs, weight, along, across, xp)
    along, across = (xp.asarray(v, dtype=sigma.dtype)[:, None] for v in (along, across))
    nu = xp.sum(w / ((2 * np.pi) ** 1.5 * sigma**3 * qi) * xp.exp(-(along**2 + (across / qi) ** 2) / (2 * sigma**2)),
                -1)
    surf = xp.sum(surf_j, -1)
    return nu, surf, xp.sum(surf_j * qobs[..., None, :], -1) / (surf + 1e-30)


def surface_at(ln_sigma, qobs, weight, along, across, xp=np):
    """Surface brightness of each Gaussian of unit MGEs at points, shape (..., P, k) [L_tot / R_e^2]
    (:func:`profile_features`); ``along``, ``across`` (P,) [R_e]."""
    sigma, qo = xp.exp(ln_sigma)[..., None, :], qobs[..., None, :]
    along, across = (xp.asarray(v, dtype=sigma.dtype)[:, None] for v in (along, across))
    return (weight[..., None, :] / (2 * np.pi * sigma**2 * qo)
            * xp.exp(-(along**2 + (across / qo) ** 2) / (2 * sigma**2)))


def jeans_features(ln_sigma, qobs, weight, cos_i, xp=np):
    r"""The isotropic Jeans solution of unit MGEs (mass follows light, G = M/L = 1) on the profile grid,
    shape (..., N_JEANS).

    With tracer Gaussians k and mass Gaussians j (light fractions :math:`w`, dispersions
    :math:`\sigma` [R_e], intrinsic axis ratios :math:`q`, :math:`C_j = 1 - q_j^2`,
    :math:`\nu_{0k} = w_k / [(2\pi)^{3/2}\sigma_k^3 q_k]`, :math:`\rho_{0j} q_j = w_j /
    [(2\pi)^{3/2}\sigma_j^3]`), the potential's radial force and the vertical Jeans equation
    :math:`\nu\sigma_z^2 = \int_z^\infty \nu\,\partial\Phi/\partial z'\,dz'` are (Cappellari
    2008, MNRAS 390, 71, eqs. 10-11; Emsellem et al. 1994):

    .. math:: R\frac{\partial\Phi}{\partial R} = 4\pi R^2 \sum_j q_j\rho_{0j} \int_0^1
              \frac{u^2 e^{-c_j R^2 - b_j z^2}}{\sqrt{D_j}}\,du, \qquad
              \nu\sigma_z^2 = 4\pi \sum_{kj} \nu_{0k} q_j\rho_{0j} \int_0^1
              \frac{u^2}{D_j^{3/2}} \frac{e^{-(\alpha_k + c_j) R^2 - (\beta_k + b_j) z^2}}
              {2(\beta_k + b_j)}\,du,

    :math:`D_j = 1 - C_j u^2`, :math:`c_j = u^2 / 2\sigma_j^2`, :math:`b_j = c_j / D_j`,
    :math:`\alpha_k = 1 / 2\sigma_k^2`, :math:`\beta_k = \alpha_k / q_k^2`. The integrals are
    trapezoid sums over :math:`\eta = \ln[(1 - u^2)/u^2]` (``JEANS_ETA``), smooth where a flat
    Gaussian's integrand peaks near u = 1. Returned at the points of :func:`profile_features`
    (R, z) = r (cos phi, sin phi): :math:`\ln\sigma_z^2 / 5`, :math:`{\rm asinh}(\gamma) / 3`
    with :math:`\gamma = \partial\ln(\nu\sigma_z^2)/\partial\ln R`, and
    :math:`\ln(R\,\partial\Phi/\partial R) / 5` (densities floored by ``PROFILE_FLOOR``). With
    :math:`b = 1/(1 - \beta_z)` these give JAM's intrinsic moments,
    :math:`\overline{v_\phi^2} = b\,\sigma_z^2 (1 + \gamma) + R\,\partial\Phi/\partial R`.

    Parameters
    ----------
    ln_sigma, qobs, weight : array, shape (..., k)
        Unit MGE (padding: weight 0).
    cos_i : array, shape (...)
    """
    s = xp.asarray(np.exp(JEANS_ETA)[:, None], dtype=ln_sigma.dtype)  # (n, 1): nodes (1 - u^2)/u^2
    u2, jac = 1 / (1 + s), 0.5 * JEANS_STEP * s / (1 + s) ** 1.5  # u^2 and |du/d eta| times the step
    sigma2 = xp.exp(2 * ln_sigma)[..., None, None, :]  # (..., 1, 1, j)
    q = xp.clip(q_intr(qobs, cos_i[..., None], xp), 0.02, None)[..., None, None, :]
    r2, z2 = (xp.asarray(np.outer(trig(PROFILE_ANGLES), PROFILE_RADII).ravel()[:, None, None] ** 2,
                         dtype=ln_sigma.dtype) for trig in (np.cos, np.sin))  # (P, 1, 1)
    d = (q**2 + s) / (1 + s)  # (..., 1, n, j): D_j
    c = u2 / (2 * sigma2)
    b = c / d
    mass = 4 * np.pi * weight[..., None, None, :] / (2 * np.pi * sigma2) ** 1.5 * u2 * jac  # 4 pi q_j rho_0j u^2 du
    v_c2 = r2[:, 0, 0] * xp.sum(mass / xp.sqrt(d) * xp.exp(-c * r2 - b * z2), (-2, -1))  # (..., P)
    sig2_k, q_k = sigma2[..., None], q[..., None]  # the tracer Gaussians k on an axis before j: (..., 1, 1, k, 1)
    nu0 = weight[..., None, None, :, None] / ((2 * np.pi * sig2_k) ** 1.5 * q_k)
    alpha, beta = 1 / (2 * sig2_k), 1 / (2 * sig2_k * q_k**2)
    ar, bz = alpha + c[..., None, :], beta + b[..., None, :]  # (..., 1, n, k, j)
    pair = nu0 * (mass / d**1.5)[..., None, :] / (2 * bz) * xp.exp(-ar * r2[..., None] - bz * z2[..., None])
    nus2 = xp.sum(pair, (-3, -2, -1))  # (..., P)
    dnus2 = xp.sum(-2 * ar * r2[..., None] * pair, (-3, -2, -1))
    nu = xp.sum(nu0 * xp.exp(-alpha * r2[..., None] - beta * z2[..., None]), (-3, -2, -1))
    return xp.concatenate([(xp.log(nus2 + PROFILE_FLOOR) - xp.log(nu + PROFILE_FLOOR)) / 5,
                           xp.arcsinh(dnus2 / (nus2 + PROFILE_FLOOR)) / 3, xp.log(v_c2 + PROFILE_FLOOR) / 5], -1)


def smoothing_width(sigma_psf_re, pixsize_re, xp=np):
    r"""Dispersion [R_e] of the Gaussian with the variance of JAM's smoothing kernel, the PSF convolved
    with a square pixel: :math:`s = \sqrt{\sigma_{\rm psf}^2 + p^2/12}` (any shape)."""
    return xp.sqrt(sigma_psf_re**2 + pixsize_re**2 / 12)


def smoothed_surface_features(ln_sigma, qobs, weight, smoothing, xp=np, radii=PROFILE_RADII, angles=PROFILE_ANGLES):
    r"""The surface brightness of unit MGEs convolved with a round Gaussian of dispersion ``smoothing`` = s
    [R_e] (:func:`smoothing_width`), on the grid of :func:`profile_features`, shape (..., radii.size angles.size).

    Each Gaussian stays a Gaussian (Cappellari 2002, MNRAS 333, 400, sec. 3.3):
    :math:`\sigma'^2_j = \sigma_j^2 + s^2` along the major axis, :math:`q'^2_j\sigma'^2_j = q_j^2\sigma_j^2 + s^2`
    along the minor one, with the same light; JAM divides the PSF-convolved
    :math:`\Sigma V_{\rm rms}^2` by this :math:`\Sigma` (Cappellari 2008, MNRAS 390, 71, eq. 50). Returned as
    :math:`\ln(\Sigma_s + 10^{-8})/10`.

    Parameters
    ----------
    ln_sigma, qobs, weight : array, shape (..., k)
        Unit MGE (padding: weight 0).
    smoothing : array, shape (...)
    """
    s2 = (smoothing**2)[..., None]
    var_x, var_y = xp.exp(2 * ln_sigma) + s2, (qobs * xp.exp(ln_sigma)) ** 2 + s2
    along, across = (np.outer(trig(angles), radii).ravel() for trig in (np.cos, np.sin))
    surf = xp.sum(surface_at(0.5 * xp.log(var_x), xp.sqrt(var_y / var_x), weight, along, across, xp), -1)
    return xp.log(surf + PROFILE_FLOOR) / 10


def profile_input(encoder, ln_sigma, qobs, weight, cos_i, xp=np, outer=(), angles=(), smoothed=False, smoothing=None):
    """The input of a profile encoder (..., n_profile_input(encoder, len(outer), len(angles), smoothed)):
    :func:`profile_features`, followed by :func:`jeans_features` for the ``JEANS_ENCODERS``, by
    :func:`profile_features` at the ``outer`` radii [R_e] (``GeneralConfig.profile_outer``: the light
    beyond ``PROFILE_RADII``, which the line of sight through the outer map crosses), then at the further
    ``angles`` [deg] from the major axis at all those radii (``GeneralConfig.profile_angles``: the
    vertical profile of a thin disk, between the first two of ``PROFILE_ANGLES``), then, if ``smoothed``
    (``GeneralConfig.profile_psf``), the surface brightness as the PSF and the pixels smooth it, at
    ``PROFILE_RADII`` and the ``outer`` radii (:func:`smoothed_surface_features`), for the ``smoothing`` width
    (..., ) [R_e] (:func:`smoothing_width`; ignored unless ``smoothed``)."""
    if smoothed and smoothing is None:
        raise ValueError("profile_psf needs the smoothing width of the PSF and pixels (smoothing=None given)")
    parts = [profile_features(ln_sigma, qobs, weight, cos_i, xp)]
    if encoder in JEANS_ENCODERS:
        parts.append(jeans_features(ln_sigma, qobs, weight, cos_i, xp))
    for r in outer:  # radius by radius: further radii append columns, so a network can be extended (warm_start)
        parts.append(profile_features(ln_sigma, qobs, weight, cos_i, xp, radii=np.array([float(r)])))
    radii = np.concatenate([PROFILE_RADII, np.asarray(outer, dtype=float)])
    for phi in angles:  # angle by angle, likewise
        parts.append(profile_features(ln_sigma, qobs, weight, cos_i, xp, radii=radii,
                                      angles=np.radians([float(phi)])))
    if smoothed:
        parts.append(smoothed_surface_features(ln_sigma, qobs, weight, smoothing, xp, radii=radii))
    return parts[0] if len(parts) == 1 else xp.concatenate(parts, -1)


def n_profile_input(encoder, n_outer=0, n_angles=0, smoothed=False):
    """Width of :func:`profile_input` for ``encoder`` with ``n_outer`` outer radii, ``n_angles`` further angles
    and, if ``smoothed``, the smoothed surface brightness."""
    return (N_PROFILE + N_JEANS * (encoder in JEANS_ENCODERS) + 2 * n_outer * PROFILE_ANGLES.size
            + 2 * n_angles * (PROFILE_RADII.size + n_outer) + smoothed * (PROFILE_RADII.size + n_outer)
            * PROFILE_ANGLES.size)


def global_features(cos_i, sigma_psf_re, pixsize_re, b_hi, xp=np):
    """Observing inputs, shape (..., 4): cos i, ln sigma_psf/R_e, pixsize/sigma_psf (clamped), beta_hi."""
    ratio = xp.clip(pixsize_re / sigma_psf_re, PIXSIZE_RATIO_CLAMP, None)
    return xp.stack([
        _unit(cos_i, 0.0, 1.0),
        _unit(xp.log(sigma_psf_re), np.log(SIGMA_PSF_RE[0]), np.log(SIGMA_PSF_RE[1])),
        _unit(ratio, *PIXSIZE_RATIO),
        _unit(b_hi, 0.0, BETA_EPS_SLOPE),
    ], -1)


def beta_feature(beta_z, xp=np):
    """The anisotropy input of the ``direct`` output design, [BETA_LO, 0.7] mapped to [-1, 1]."""
    return _unit(beta_z, BETA_LO, BETA_EPS_SLOPE)


def anchor_weight(beta_z, b_hi, xp=np):
    """Weight t of the upper anchor for anisotropy ``beta_z`` (0 at BETA_LO, 1 at beta_hi)."""
    u_lo, u_hi, u = 1 / (1 - BETA_LO), 1 / (1 - b_hi), 1 / (1 - beta_z)
    return (u - u_lo) / (u_hi - u_lo)


def f_from_anchors(ln_f_lo, ln_f_hi, t, xp=np):
    """f at anchor weight t from the emulated ln f at the two anchors (exact in beta_z)."""
    return xp.sqrt((1 - t) * xp.exp(2 * ln_f_lo) + t * xp.exp(2 * ln_f_hi))

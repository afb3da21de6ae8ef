"""The statistical model of a V_RMS map: priors, constraints and a Gaussian likelihood.

The priors and the likelihood are written for an array namespace ``xp`` (``jax.numpy`` for
NUTS and the jit-compiled emcee path, ``numpy`` for a JAM forward model; every number of
:class:`Priors` may be traced); :class:`fastjam.posterior.Posterior` joins them with a bound
forward model on an unconstrained vector :math:`\\theta \\in \\mathbb{R}^3`:

.. math::

    i &= i_{\\min} + (90^\\circ - i_{\\min})\\, s(\\theta_0), \\\\
    \\beta_z &= \\beta_{\\min} + (\\beta_{\\max}(i) - \\beta_{\\min})\\, s(\\theta_1),
        \\qquad \\beta_{\\max}(i) = 0.7\\,[1 - q_{\\rm intr}(i)], \\\\
    \\ln (M/L) &= \\ln (M/L)_{\\min} + [\\ln (M/L)_{\\max} - \\ln (M/L)_{\\min}]\\, s(\\theta_2)
        \\quad \\text{(log-uniform; linear for a uniform prior)},

with :math:`s` the logistic function. The density carries the prior in the physical
parameters and the Jacobian of this map, so that every backend samples the same posterior:

* inclination: isotropic, :math:`p(i) \\propto \\sin i` on :math:`[i_{\\min}, 90^\\circ]`
  (or uniform in :math:`i`), with :math:`i_{\\min}` set by :math:`q_{\\rm intr} \\ge 0.05`
  (or a higher floor);
* :math:`\\beta_z` uniform on :math:`[\\beta_{\\min}, 0.7\\,\\epsilon_{\\rm intr}]`, i.e.
  :math:`p(\\beta_z | i) = 1/(\\beta_{\\max}(i) - \\beta_{\\min})`;
* M/L log-uniform (default) or uniform on :math:`[(M/L)_{\\min}, (M/L)_{\\max}]`.

Likelihood: independent Gaussians on the good bins with variance

.. math:: \\sigma_k^2 = \\epsilon_k^2 + (\\delta_{\\rm emu}(r_k)\\, V_k)^2 + \\sigma_{\\rm sys}^2,

where :math:`\\epsilon_k` is the measurement error, :math:`\\delta_{\\rm emu}(r)` the emulator's
fractional RMS error at radius :math:`r` (from its model card; on by default) and
:math:`\\sigma_{\\rm sys}` an optional systematic term in km/s.

A coherent model error (on by default for the emulator): the emulator's error has a part common
to the whole map, a factor :math:`(1 + s)` on the model with :math:`s \\sim N(0, \\sigma_{\\rm coh}^2)`.
Marginalised analytically, the data are Gaussian with covariance
:math:`C = D + \\sigma_{\\rm coh}^2\\, m m^T` (:math:`D = {\\rm diag}(\\sigma_k^2)`, :math:`m` the model),
whose inverse and determinant follow from the Sherman-Morrison formula:

.. math::

    r^T C^{-1} r = \\sum_k \\frac{r_k^2}{\\sigma_k^2}
        - \\frac{\\sigma_{\\rm coh}^2 (\\sum_k r_k m_k/\\sigma_k^2)^2}{1 + \\sigma_{\\rm coh}^2 \\sum_k m_k^2/\\sigma_k^2},
    \\qquad \\ln\\det C = \\sum_k \\ln \\sigma_k^2 + \\ln\\Big(1 + \\sigma_{\\rm coh}^2 \\sum_k m_k^2/\\sigma_k^2\\Big),

with :math:`r = d - m`. :math:`\\sigma_{\\rm coh}` comes from the model card
(:func:`emulator_coherent_error`).
"""
from dataclasses import dataclass

import numpy as np

from .physics.geometry import BETA_EPS_SLOPE, QINTR_MIN, beta_z_max, min_inclination, q_intr
from .validation import check_positive

PARAMETERS = ("inclination", "beta_z", "ml")


@dataclass(frozen=True)
class Priors:
    """Prior ranges and shapes.

    Attributes
    ----------
    q_obs : float
        Observed axis ratio of the galaxy (sets the minimum inclination).
    ml_range : tuple
        (min, max) of M/L in Msun/Lsun.
    ml_log_uniform : bool
        Log-uniform (default) or uniform prior on M/L.
    beta_z_min : float
        Lower bound of beta_z; the upper bound is ``BETA_EPS_SLOPE`` (1 - q_intr).
    q_intr_min : float
        Floor on q_intr (0.05 in jampy); raises the minimum inclination.
    isotropic : bool
        p(i) ∝ sin i (default) or uniform in i.
    q_obs_beta : float, optional
        Observed axis ratio whose q_intr(i) sets the upper bound of beta_z (default ``q_obs``;
        the roundest Gaussian's for the general emulator, whose domain ends there).
    """

    q_obs: float
    ml_range: tuple = (0.1, 20.0)
    ml_log_uniform: bool = True
    beta_z_min: float = -0.2
    q_intr_min: float = QINTR_MIN
    isotropic: bool = True
    q_obs_beta: float = None

    def __post_init__(self):
        if self.q_obs_beta is None:
            object.__setattr__(self, "q_obs_beta", self.q_obs)
        if not self.q_obs <= self.q_obs_beta <= 1:
            raise ValueError(f"q_obs_beta = {self.q_obs_beta} must be in [q_obs = {self.q_obs:.3g}, 1]")
        lo, hi = check_positive("M/L prior range", self.ml_range)
        if not lo < hi:
            raise ValueError(f"M/L prior range must have min < max, got {self.ml_range}")
        if not -1.0 <= self.beta_z_min < 0.0 + BETA_EPS_SLOPE * (1 - max(self.q_intr_min, 0)):
            raise ValueError(f"beta_z_min = {self.beta_z_min} is outside [-1, {BETA_EPS_SLOPE} (1 - q_intr_min))")
        if not QINTR_MIN <= self.q_intr_min < self.q_obs:
            raise ValueError(f"q_intr_min = {self.q_intr_min} must be in [{QINTR_MIN}, q_obs = {self.q_obs:.3g})")

    @property
    def inclination_min(self):
        """Minimum inclination in degrees."""
        return float(min_inclination(self.q_obs, self.q_intr_min))

    def _inclination_min(self, xp):
        return min_inclination(self.q_obs, self.q_intr_min, xp)

    def within_emulator(self, space):
        """Priors clipped to an emulator's training domain (a ParameterSpace)."""
        return Priors(self.q_obs, self.ml_range, self.ml_log_uniform, max(self.beta_z_min, space.beta_z_min),
                      max(self.q_intr_min, space.q_intr_min), self.isotropic, self.q_obs_beta)

    def transform(self, theta, xp=np):
        """Unconstrained theta (..., 3) to (inclination [deg], beta_z, ml) and log|Jacobian|."""
        s = 1 / (1 + xp.exp(-theta))
        log_ds = -xp.logaddexp(0.0, theta) - xp.logaddexp(0.0, -theta)  # log s(1-s)
        i0 = self._inclination_min(xp)
        inc = i0 + (90.0 - i0) * s[..., 0]
        b_max = self.beta_max(inc, xp)
        beta = self.beta_z_min + (b_max - self.beta_z_min) * s[..., 1]
        lo, hi = self.ml_range
        if self.ml_log_uniform:
            log_ml = xp.log(lo) + (xp.log(hi) - xp.log(lo)) * s[..., 2]
            ml = xp.exp(log_ml)
            log_jac_ml = xp.log(xp.log(hi) - xp.log(lo)) + log_ds[..., 2] + log_ml
        else:
            ml = lo + (hi - lo) * s[..., 2]
            log_jac_ml = xp.log(hi - lo) + log_ds[..., 2]
        log_jac = (xp.log(90.0 - i0) + log_ds[..., 0] + xp.log(b_max - self.beta_z_min) + log_ds[..., 1]
                   + log_jac_ml)
        return inc, beta, ml, log_jac

    def inverse(self, inclination, beta_z, ml, xp=np):
        """(inclination, beta_z, ml) to unconstrained theta (..., 3)."""
        i0 = self._inclination_min(xp)
        s0 = (inclination - i0) / (90.0 - i0)
        s1 = (beta_z - self.beta_z_min) / (self.beta_max(inclination, xp) - self.beta_z_min)
        lo, hi = self.ml_range
        if self.ml_log_uniform:
            s2 = (xp.log(ml) - xp.log(lo)) / (xp.log(hi) - xp.log(lo))
        else:
            s2 = (ml - lo) / (hi - lo)
        s = xp.stack([s0, s1, s2], -1)
        return xp.log(s) - xp.log1p(-s)

    def log_prob(self, inclination, beta_z, ml, xp=np):
        """Log prior density of the physical parameters (inside the support)."""
        i0 = self._inclination_min(xp)
        if self.isotropic:
            norm = xp.cos(i0 * (np.pi / 180))  # integral of sin i from i0 to 90 deg, in radians
            lp_i = xp.log(xp.sin(inclination * (np.pi / 180))) - xp.log(norm) + np.log(np.pi / 180)
        else:
            lp_i = -xp.log(90.0 - i0) + 0 * inclination
        lp_b = -xp.log(self.beta_max(inclination, xp) - self.beta_z_min)
        lo, hi = self.ml_range
        lp_ml = -xp.log(ml) - xp.log(xp.log(hi / lo)) if self.ml_log_uniform else -xp.log(hi - lo) + 0 * ml
        return lp_i + lp_b + lp_ml

    def sample(self, n, rng):
        """``n`` independent draws from the prior.

        Inclination by inverse transform (:math:`\\cos i` uniform on :math:`[0, \\cos i_{\\min}]`
        when isotropic), beta_z uniform on :math:`[\\beta_{\\min}, \\beta_{\\max}(i)]`, M/L
        uniform in log M/L (or in M/L).

        Parameters
        ----------
        n : int
        rng : numpy.random.Generator

        Returns
        -------
        dict
            ``inclination`` [deg], ``beta_z``, ``ml`` [Msun/Lsun]: arrays of shape (n,).
        """
        n = int(n)
        if n < 1:
            raise ValueError(f"number of draws must be >= 1, got {n}")
        u = rng.random((3, n))
        i0 = self.inclination_min
        if self.isotropic:
            inc = np.degrees(np.arccos(np.cos(np.radians(i0)) * (1 - u[0])))
        else:
            inc = i0 + (90.0 - i0) * u[0]
        beta = self.beta_z_min + (self.beta_max(inc) - self.beta_z_min) * u[1]
        lo, hi = self.ml_range
        ml = np.exp(np.log(lo) + np.log(hi / lo) * u[2]) if self.ml_log_uniform else lo + (hi - lo) * u[2]
        return dict(inclination=inc, beta_z=beta, ml=ml)

    def beta_max(self, inclination, xp=np):
        """Upper bound of beta_z, ``BETA_EPS_SLOPE`` (1 - q_intr(i)) of ``q_obs_beta``, at inclination [deg]."""
        return beta_z_max(q_intr(self.q_obs_beta, inclination, xp))


@dataclass(frozen=True)
class Likelihood:
    """Gaussian likelihood of V_RMS data.

    Attributes
    ----------
    vrms, vrms_err : ndarray, shape (p,)
        Data and 1-sigma errors in km/s (good bins only).
    frac_model_err : ndarray, shape (p,)
        Fractional model error added in quadrature (the emulator's, by radius; zeros for JAM).
    systematic : float
        Extra error in km/s added in quadrature.
    mask : ndarray, shape (p,), optional
        1 for a data bin, 0 for padding (:meth:`padded`); None: all bins count.
    coherent_sigma : float
        Fractional sigma of a model error common to all bins, a factor (1 + s) on the model
        with s ~ N(0, coherent_sigma^2), marginalised analytically (module docstring).
    """

    vrms: np.ndarray
    vrms_err: np.ndarray
    frac_model_err: np.ndarray
    systematic: float = 0.0
    mask: np.ndarray = None
    coherent_sigma: float = 0.0

    def variance(self, model):
        """Variance (..., p) in (km/s)^2 of each bin for model V_RMS (..., p) in km/s."""
        return self.vrms_err**2 + (self.frac_model_err * model) ** 2 + self.systematic**2

    def log_like(self, model, xp=np):
        """Log-likelihood of model V_RMS (..., p) in km/s (padding bins of ``mask`` left out)."""
        var = self.variance(model)
        resid = self.vrms - model
        weight = 1.0 if self.mask is None else self.mask
        out = -0.5 * xp.sum(weight * (resid**2 / var + xp.log(2 * np.pi * var)), -1)
        if not self.coherent_sigma:
            return out
        c2 = float(self.coherent_sigma) ** 2
        model_w = weight * model / var
        denom = 1 + c2 * xp.sum(model_w * model, -1)
        return out + 0.5 * c2 * xp.sum(model_w * resid, -1) ** 2 / denom - 0.5 * xp.log(denom)

    def padded(self, size):
        """The same likelihood on ``size`` >= p bins, the extra ones masked out (unit errors)."""
        p = int(np.shape(self.vrms)[0])
        if size < p:
            raise ValueError(f"cannot pad {p} bins to {size}")
        pad = (0, int(size) - p)
        mask = np.ones(p) if self.mask is None else np.asarray(self.mask)
        err = np.pad(np.asarray(self.vrms_err), pad, constant_values=1.0)
        return Likelihood(np.pad(np.asarray(self.vrms), pad), err, np.pad(np.asarray(self.frac_model_err), pad),
                          self.systematic, np.pad(mask, pad), self.coherent_sigma)

    def unpadded(self):
        """The likelihood of the data bins alone (numpy arrays; itself when nothing is padded)."""
        if self.mask is None:
            return self
        n = int(np.sum(np.asarray(self.mask) > 0))
        return Likelihood(*(np.asarray(a)[:n] for a in (self.vrms, self.vrms_err, self.frac_model_err)),
                          self.systematic, None, self.coherent_sigma)


#: Two-sided 95% point of a Gaussian: a half-normal |s| has its 95th percentile at 1.96 sigma.
Z95 = 1.959963984540054


def emulator_coherent_error(card, band=None):
    """Fractional sigma of the emulator's coherent (per-map) error from its model card.

    The card holds the 95th percentile of the per-map mean signed error's absolute value
    (``metrics.per_map_bias.p95``, from ``fastjam evaluate`` for a Sérsic emulator and
    ``bench/general_emulator.py card`` for a general one); for s ~ N(0, sigma^2) that is
    1.96 sigma, so sigma = p95 / 1.96 (the median |s| would give a smaller sigma: the tail is
    heavier than a Gaussian's, and the 95th percentile keeps the tail honest). 0 with a warning
    when the card lacks the statistic.

    Parameters
    ----------
    card : dict
    band : dict, optional
        A novelty band of a general emulator's card (``novelty.bands``,
        :class:`fastjam.emulator.novelty.Novelty`): its own ``bias_p95``, of the held-out maps as far
        from the training maps as the galaxy, is taken where larger than the card's overall one.
        Never smaller: the novelty does not see all that makes a real MGE hard (a network trained on
        truncated MGEs places NGC 5831 among its nearest held-out maps, whose errors are a third of
        its own; docs/general_emulator.md).
    """
    try:
        p95 = float(card["metrics"]["per_map_bias"]["p95"])
    except (KeyError, TypeError):
        import warnings

        warnings.warn(f"the emulator's model card has no metrics.per_map_bias (run `{_card_command(card)}`): "
                      "fitting without the coherent model-error term", stacklevel=2)
        return 0.0
    if band and "bias_p95" in band:
        p95 = max(p95, float(band["bias_p95"]))
    return p95 / Z95


def emulator_error_at(card, radius_re, band=None):
    """The emulator's fractional RMS error (model card error model) at radii in R_e (the emulator's own R_e,
    ``effective_radius`` of either kind of emulator).

    ``band``: a novelty band of a general emulator's card (as in :func:`emulator_coherent_error`); its own
    ``error_model``, measured on the held-out maps of that band, is taken where larger than the card's
    overall one.
    """
    model = card.get("error_model")
    if not model:
        raise ValueError(f"the emulator's model card has no error_model: run `{_card_command(card)}`")
    rms = _radial(model, radius_re)
    if band and band.get("error_model"):
        rms = np.maximum(rms, _radial(band["error_model"], radius_re))
    return rms


def _radial(model, radius_re):
    """An error model's RMS (``frac_rms`` by bins ``radius_re`` of radius) at radii ``radius_re``."""
    edges = np.asarray(model["radius_re"])
    rms = np.asarray(model["frac_rms"])
    return rms[np.clip(np.digitize(radius_re, edges) - 1, 0, rms.size - 1)]


def _card_command(card):
    """The command that writes the error model into a card of this kind."""
    from .emulator.features import card_kind

    if card_kind(card) == "general":
        return "python bench/general_emulator.py card --data ... --model ... --out ..."
    return "fastjam evaluate --update-card"

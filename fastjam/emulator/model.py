"""The emulator as a forward model, behind :class:`fastjam.forward.ForwardModel`.

Loading reads the stored arrays and card only; :meth:`Emulator.bind` builds a pure-JAX
model from them (:mod:`fastjam.emulator.jax_model`), so a fit never imports torch. The torch
network is built on first use by the batch methods (evaluation, benchmarks, training checks).

:meth:`Emulator.load` is the one loader of both kinds of emulator: it reads the card's kind
(:func:`~fastjam.emulator.features.card_kind`) and returns an :class:`Emulator` (Sérsic
photometry; its error model calibrated on Sérsic maps, bench/general_sersic.py) or a
:class:`~fastjam.emulator.general_model.GeneralEmulator` (any MGE); without a path it picks
the default of the galaxy's photometry (:func:`~fastjam.emulator.store.default_path`), and for
a Sérsic galaxy whose set-up the Sérsic emulator was not trained on the general one
(:func:`default_kind`).
"""
import json
import logging
from pathlib import Path

import numpy as np

from ..design import ParameterSpace
from ..forward import ForwardModel
from ..galaxy import Sersic
from ..physics import grid
from ..physics.scaling import velocity_scale
from .features import card_kind, check_feature_definition, image_features, param_features, sersic_features

log = logging.getLogger(__name__)


def sersic_image(n, q_obs):
    """log10 photometry image (64, 64) of a unit Sérsic galaxy (units of L_tot/R_e^2)."""
    from ..physics.mge import unit_sersic_mge

    surf, sigma = unit_sersic_mge(float(n))
    return grid.photometry_image(surf / q_obs, sigma, np.full(sigma.size, q_obs))


#: The Sérsic emulator's static features of a galaxy: name, label, value(galaxy).
_SERSIC_SETUP = (("n", "sersic n", lambda g: g.photometry.n), ("q_obs", "q_obs", lambda g: g.photometry.q_obs),
                 ("sigma_psf_re", "sigma_psf/R_e", lambda g: g.sigma_psf / g.photometry.r_e),
                 ("pixsize_ratio", "pixsize/sigma_psf", lambda g: g.pixsize / g.sigma_psf))


def sersic_setup_violations(space, galaxy):
    """The features of a Sérsic ``galaxy`` outside a Sérsic emulator's training ``space``.

    Only what the galaxy fixes is checked: Sérsic index, q_obs, sigma_psf/R_e and
    pixsize/sigma_psf (the priors keep the inclination and beta_z inside).

    Returns
    -------
    list of str
        One "name = value is outside [lo, hi]" per feature; empty inside.
    """
    out = []
    for name, label, value in _SERSIC_SETUP:
        lo, hi = getattr(space, name)
        v = float(value(galaxy))
        if not lo * (1 - 1e-9) - 1e-9 <= v <= hi * (1 + 1e-9) + 1e-9:
            out.append(f"{label} = {v:.4g} is outside [{lo:g}, {hi:g}]")
    return out


def default_kind(galaxy, sersic_space=None):
    """Whose default emulator fits ``galaxy``: ``"general"`` or ``"sersic"``.

    An MGE galaxy takes the general-photometry emulator. A Sérsic galaxy takes the Sérsic one,
    unless the default Sérsic emulator's training domain (``sersic_space`` when known, e.g. of a
    loaded default; else read from its card) leaves out its set-up or photometry
    (pixsize/sigma_psf < 0.3, sigma_psf/R_e beyond [0.02, 0.3], q_obs = 1 or n < 1 for the
    shipped one: :func:`sersic_setup_violations`) while general weights exist: the general
    emulator, trained on those too (docs/parameter_space.md), then takes it, and says so
    (logged at INFO).
    """
    from .store import default_path

    if not isinstance(galaxy.photometry, Sersic):
        return "general"
    general, sersic = default_path("general"), default_path("sersic")
    if not (general / "emulator.npz").exists():
        return "sersic"
    if sersic_space is None:
        if not (sersic / "emulator.json").exists():
            return "sersic"
        card = json.loads((sersic / "emulator.json").read_text())
        if card_kind(card) != "sersic":
            return "sersic"
        sersic_space = ParameterSpace.from_dict(card["space"])
    outside = sersic_setup_violations(sersic_space, galaxy)
    if not outside:
        return "sersic"
    log.info("a Sérsic galaxy outside the Sérsic emulator's domain (%s): fitted with the general-photometry "
             "emulator of %s", "; ".join(outside), general)
    return "general"


def for_galaxy(emulator, galaxy, path=None):
    """The emulator that fits ``galaxy``.

    ``emulator`` when given, unless it was loaded as the Sérsic default and the galaxy's set-up
    needs the general one (:func:`default_kind` on its own domain; e.g. a survey worker's cached
    default); else :meth:`Emulator.load` of ``path`` (default: the galaxy's).
    """
    if emulator is None:
        return Emulator.load(path, galaxy=galaxy)
    if emulator.from_default and emulator.kind == "sersic" and isinstance(galaxy.photometry, Sersic) \
            and default_kind(galaxy, emulator.space) == "general":
        from .store import default_path

        return Emulator.load(default_path("general"), galaxy=galaxy)
    return emulator


class Emulator(ForwardModel):
    """Neural emulator of self-consistent JAM V_RMS maps.

    Parameters
    ----------
    arrays : dict
        Network weights (see :mod:`fastjam.emulator.store`).
    card : dict
        The model card (architecture, training domain, grid, metrics).
    allow_extrapolation : bool
        Evaluate outside the training domain or beyond the emulated field instead of raising
        ``ValueError`` (explicit opt-in; accuracy is then unknown).
    device : str
        Torch device (used only by the torch methods).
    path : Path, optional
        Where the emulator was loaded from (recorded with fits).

    Raises
    ------
    ValueError
        If the card's feature definition differs from this code's
        (:func:`fastjam.emulator.features.check_feature_definition`).
    """

    kind = "sersic"
    from_default = False  #: loaded as the default of a photometry (no path given), see :func:`for_galaxy`

    def __init__(self, arrays, card, allow_extrapolation=False, device="cpu", path=None):
        check_feature_definition(card)
        self.path = path
        self.arrays = {k: np.asarray(v, dtype=np.float32) for k, v in arrays.items()}
        self.card = card
        self.space = ParameterSpace.from_dict(card["space"])
        self.allow_extrapolation = bool(allow_extrapolation)
        self.device = device
        self._net = None
        self._latent_cache = {}

    @property
    def net(self):
        """The torch network (built on first use)."""
        if self._net is None:
            from .network import EmulatorNetwork, NetworkConfig

            self._net = EmulatorNetwork(NetworkConfig.from_dict(self.card["network"])).load_arrays(self.arrays)
            self._net.to(self.device).eval()
        return self._net

    def bind(self, galaxy, x, y):
        """The emulator for one Sérsic galaxy at positions ``x, y`` [arcsec], in pure JAX.

        The galaxy (training domain) and the positions (emulated field) are checked here,
        once; the returned :class:`~fastjam.emulator.jax_model.BoundEmulator` maps scalar
        (inclination [deg], beta_z, M/L) to V_RMS (p,) in km/s and is jit-, grad- and
        vmap-able; inclination and beta_z must stay inside the training domain (the priors
        ensure it).
        """
        from ..forward import check_positions
        from ..physics.geometry import min_inclination
        from .jax_model import bind

        self.check_photometry(galaxy)
        x, y = check_positions(x, y)

        def check(ph, sig_re, pix_re, x_re, y_re):
            i_mid = 0.5 * (float(min_inclination(ph.q_obs, self.space.q_intr_min)) + 90)
            self.check_domain(np.array([[ph.n, ph.q_obs, i_mid, 0.0, sig_re, pix_re]]))
            self.check_field(x_re, y_re)

        return bind(self.arrays, self.card, galaxy, x, y, check)

    def check_photometry(self, galaxy):
        """Raise ``ValueError`` unless ``galaxy`` has Sérsic photometry, saying what an MGE needs."""
        if not isinstance(galaxy.photometry, Sersic):
            raise ValueError(f"the emulator in {self.path or 'memory'} is trained on Sérsic photometry only: an MGE "
                             "galaxy needs general-photometry weights ([forward] emulator = their directory, or "
                             "$FASTJAM_EMULATOR_MGE) or the JAM forward model (--forward jam)")

    def effective_radius(self, galaxy):
        """R_e [arcsec] the emulator scales by: the Sérsic R_e."""
        self.check_photometry(galaxy)
        return float(galaxy.photometry.r_e)

    def priors_within(self, priors, galaxy):
        """``priors`` (a :class:`fastjam.model.Priors`) clipped to the training domain."""
        self.check_photometry(galaxy)
        return priors.within_emulator(self.space)

    @classmethod
    def load(cls, path=None, galaxy=None, kind=None, **kwargs):
        """Load a saved emulator of either kind, as its card says.

        Parameters
        ----------
        path : str or Path, optional
            Directory with ``emulator.npz`` and ``emulator.json``. Default: the default emulator
            of the galaxy's photometry (:func:`fastjam.emulator.store.default_path`): the
            Sérsic one for a Sérsic galaxy (and without a galaxy), the general one for an MGE
            and for a Sérsic galaxy outside the Sérsic emulator's set-up (:func:`default_kind`).
        galaxy : Galaxy, optional
            The galaxy to be fitted: picks the default and checks that the emulator takes its
            photometry.
        kind : {"sersic", "general"}, optional
            Whose default to load when neither ``path`` nor ``galaxy`` says it (a survey
            worker loads the default of each photometry once, before its galaxies).
        **kwargs
            ``allow_extrapolation``, ``device``.

        Returns
        -------
        Emulator or GeneralEmulator

        Raises
        ------
        ValueError
            No emulator in ``path``, no general emulator for an MGE galaxy, or an emulator
            that does not take the galaxy's photometry (each message says what to do).
        """
        from .store import default_path, load_arrays

        if kind not in (None, "sersic", "general"):
            raise ValueError(f"kind must be 'sersic' or 'general', got {kind!r}")
        from_default = path is None
        general_default = from_default and (kind == "general" if galaxy is None else default_kind(galaxy) == "general")
        path = Path(path) if path is not None else default_path("general" if general_default else "sersic")
        if general_default and not (path / "emulator.npz").exists():
            raise ValueError(f"no general-photometry emulator for an MGE galaxy (none in {path}): fit with --forward "
                             "jam, or set [forward] emulator (or $FASTJAM_EMULATOR_MGE) to the directory of general "
                             "weights")
        arrays, card = load_arrays(path)
        if card_kind(card) == "general":
            from .general_model import GeneralEmulator

            emulator = GeneralEmulator(arrays, card, path=path, **kwargs)
        else:
            emulator = Emulator(arrays, card, path=path, **kwargs)
        emulator.from_default = from_default
        if galaxy is not None:
            emulator.check_photometry(galaxy)
        return emulator

    @property
    def use_image(self):
        return bool(self.card["network"]["use_image"])

    def check_domain(self, params):
        """Raise ``ValueError`` if parameter sets (m, 6) leave the training domain (unless opted in)."""
        if self.allow_extrapolation:
            return
        try:
            self.space.check(params)
        except ValueError as exc:
            raise ValueError(f"outside the emulator's training domain: {exc} "
                             "(use the JAM forward model, or allow_extrapolation=True)") from None

    def _first_inputs(self, n, q_obs, cache=True, images=None):
        """Latent vectors (or (n, q_obs) features) for each parameter set, shape (m, latent).

        ``images`` (m, 64, 64), when given, are the photometry images to encode (e.g. those
        stored with a training set) instead of images rebuilt from (n, q_obs)."""
        import torch

        if images is not None and self.use_image:
            feats = image_features(np.asarray(images))[:, None]
            with torch.no_grad():
                return self.net.encode(torch.as_tensor(feats, dtype=torch.float32, device=self.device))
        if not self.use_image:
            return torch.as_tensor(sersic_features(n, q_obs, self.card["space"]), dtype=torch.float32,
                                   device=self.device)
        keys = list(zip(np.round(n, 12), np.round(q_obs, 12)))
        missing = sorted({k for k in keys if not cache or k not in self._latent_cache})
        if missing:
            imgs = np.stack([image_features(sersic_image(*k)) for k in missing])[:, None]
            with torch.no_grad():
                lat = self.net.encode(torch.as_tensor(imgs, dtype=torch.float32, device=self.device))
            new = dict(zip(missing, lat))
            if not cache:
                return torch.stack([new[k] for k in keys])
            self._latent_cache.update(new)
        return torch.stack([self._latent_cache[k] for k in keys])

    def log_maps(self, params, cache=True, images=None):
        """ln f on the map grid for parameter sets (m, 6) in ``PARAM_NAMES`` order; (m, NTHETA, NR).

        ``images`` (m, 64, 64): photometry images to use instead of rebuilding them."""
        import torch

        params = np.atleast_2d(np.asarray(params, dtype=float))
        self.check_domain(params)
        n, q_obs, inc, beta, sig, pix = params.T
        first = self._first_inputs(n, q_obs, cache, images)
        pf = torch.as_tensor(param_features(q_obs, inc, beta, sig, pix, self.card["space"]), dtype=torch.float32,
                             device=self.device)
        with torch.no_grad():
            out = self.net.head(self.net.hidden(first, pf))
        return out.cpu().numpy().astype(float).reshape(-1, grid.NTHETA, grid.NR)

    def dimensionless(self, params, x_re=None, y_re=None):
        """f at positions (x, y) in R_e (default: the map grid), shape (m, p) or (m, NTHETA, NR)."""
        logf = self.log_maps(params)
        if x_re is None:
            return np.exp(logf)
        x_re, y_re = np.asarray(x_re, dtype=float), np.asarray(y_re, dtype=float)
        self.check_field(x_re, y_re)
        return np.exp(grid.interpolate_map(logf, x_re, y_re))

    def check_field(self, x_re, y_re):
        """Raise ``ValueError`` for positions beyond the emulated field (unless opted in)."""
        if self.allow_extrapolation:
            return
        bad = ~grid.inside_field(x_re, y_re)
        if np.any(bad):
            k = int(np.argmax(bad))
            raise ValueError(
                f"{bad.sum()} position(s) lie beyond the emulated field |x|, |y| <= {grid.FIELD_HALF} R_e, "
                f"e.g. ({x_re[k]:.3g}, {y_re[k]:.3g}) R_e: drop them or use the JAM forward model"
            )

    def _vrms(self, galaxy, params, x, y):
        self.check_photometry(galaxy)
        ph = galaxy.photometry
        m = params.inclination.size
        dimless = np.column_stack([np.full(m, ph.n), np.full(m, ph.q_obs), params.inclination, params.beta_z,
                                   np.full(m, galaxy.sigma_psf / ph.r_e), np.full(m, galaxy.pixsize / ph.r_e)])
        f = self.dimensionless(dimless, x / ph.r_e, y / ph.r_e)
        return f * velocity_scale(params.ml, ph.l_tot, ph.r_e, galaxy.distance)[:, None]

"""Accuracy of an emulator on a held-out test set made by jampy.

Definitions (``valid`` = finite JAM value inside the field; relative error
:math:`e = (f_{\\rm emu} - f_{\\rm JAM})/f_{\\rm JAM}`):

* pixel-level: :math:`|e|` over all valid map-grid nodes of all test maps: median, 95th and
  99th percentiles; and the same at random off-grid positions through the forward-model
  interface (JAM recomputed there), so that interpolation error counts;
* per-galaxy maximum: :math:`\\max |e|` over each map: median and 95th percentile over maps;
* per-galaxy coherent bias: the mean signed :math:`e` over each map: median and 95th
  percentile of its absolute value (what moves M/L, since :math:`V_{\\rm rms} \\propto \\sqrt{M/L}`);
* km/s: each map scaled so that its median over the field is ``TYPICAL_VRMS`` km/s;
* an error model: RMS of :math:`e` in bins of radius (R_e), which the likelihood can add in
  quadrature.
"""
import logging
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from .. import atomic
from ..atomic import atomic_path
from ..dataset import load_dataset
from ..design import PARAM_NAMES
from ..physics import grid

log = logging.getLogger(__name__)

TYPICAL_VRMS = 200.0  #: km/s, median V_RMS of the "typical galaxy" used for errors in km/s
RADIAL_BINS = np.array([0.0, 0.05, 0.1, 0.2, 0.35, 0.5, 0.75, 1.0, 1.5, 2.0, 2.5, 3.6])  #: R_e


@dataclass
class EvaluationResult:
    """Measured accuracy (fractions, not per cent, unless named ``_kms``)."""

    n_maps: int
    pixel: dict
    offgrid: dict
    per_map_max: dict
    per_map_bias: dict
    kms: dict
    error_model: dict
    worst: list = field(default_factory=list)
    by_region: dict = field(default_factory=dict)
    seconds_per_map_emulator: float = float("nan")

    def to_dict(self):
        return asdict(self)

    def table(self):
        """A plain-text table of the headline metrics (per cent)."""
        rows = [
            ("pixel |e| median", self.pixel["median"]), ("pixel |e| p95", self.pixel["p95"]),
            ("pixel |e| p99", self.pixel["p99"]),
            ("off-grid |e| median", self.offgrid.get("median", np.nan)),
            ("off-grid |e| p99", self.offgrid.get("p99", np.nan)),
            ("per-map max |e| median", self.per_map_max["median"]), ("per-map max |e| p95", self.per_map_max["p95"]),
            ("per-map |bias| median", self.per_map_bias["median"]), ("per-map |bias| p95", self.per_map_bias["p95"]),
        ]
        lines = [f"{'metric (' + str(self.n_maps) + ' held-out maps)':<40s} {'per cent':>10s}"]
        lines += [f"{name:<40s} {100 * value:>10.4f}" for name, value in rows]
        lines.append(f"{'km/s at median V_RMS = 200 km/s: p99':<40s} {self.kms['p99']:>10.3f}")
        lines.append(f"{'km/s: per-map max, p95':<40s} {self.kms['per_map_max_p95']:>10.3f}")
        return "\n".join(lines)


def radial_error_model(err):
    """The likelihood's error model: RMS of the relative errors in bins of radius.

    Parameters
    ----------
    err : ndarray, shape (maps, NTHETA * NR)
        Relative errors e on the polar map grid (NaN where invalid).

    Returns
    -------
    dict
        ``radius_re`` (bin edges in R_e, ``RADIAL_BINS``) and ``frac_rms`` (one per bin), as
        read by :func:`fastjam.model.emulator_error_at`.
    """
    x, y = grid.polar_grid()
    which = np.digitize(np.hypot(x, y).ravel(), RADIAL_BINS) - 1
    rms = [float(np.sqrt(np.nanmean(err[:, which == b] ** 2))) if np.any(which == b) else float("nan")
           for b in range(len(RADIAL_BINS) - 1)]
    return dict(radius_re=RADIAL_BINS.tolist(), frac_rms=rms)


def summary_stats(values):
    """Median, 95th and 99th percentiles, maximum and count of ``values``."""
    values = np.asarray(values)
    return dict(median=float(np.median(values)), p95=float(np.percentile(values, 95)),
                p99=float(np.percentile(values, 99)), max=float(np.max(values)), n=int(values.size))


def evaluate(emulator, data, offgrid_maps=100, offgrid_points=64, seed=0, settings=None, progress=True,
             plot_dir=None):
    """Compare an emulator with the jampy maps of a test set.

    Parameters
    ----------
    emulator : Emulator
    data : str or Path
        Test set (never used in training).
    offgrid_maps, offgrid_points : int
        Maps and random positions per map at which JAM is recomputed for the off-grid metric
        (0 to skip).
    seed : int
        Seed of the off-grid positions and of the choice of maps.
    settings : JAMSettings, optional
        jampy settings for the off-grid maps (default: the test set's own).
    plot_dir : str or Path, optional
        Where to write plots of the worst and a typical map.

    Returns
    -------
    EvaluationResult
    """
    import time

    from tqdm.auto import tqdm

    from ..jam import JAMSettings, dimensionless_map

    ds = load_dataset(data)
    if ds.meta["grid"] != emulator.card["grid"]:
        raise ValueError(f"test set {data} has another map grid than the emulator")
    t0 = time.perf_counter()
    logf = np.concatenate([emulator.log_maps(ds.params[k:k + 512], images=ds.image[k:k + 512])
                           for k in range(0, len(ds), 512)])
    t_emu = (time.perf_counter() - t0) / len(ds)
    jam = ds.f.astype(float)
    valid = np.isfinite(jam) & (jam > 0)
    err = np.where(valid, np.exp(logf) / np.where(valid, jam, 1.0) - 1, np.nan)
    abs_err = np.abs(err)
    per_max = np.nanmax(abs_err, axis=(1, 2))
    per_bias = np.nanmean(err, axis=(1, 2))
    scale = TYPICAL_VRMS / np.nanmedian(np.where(valid, jam, np.nan), axis=(1, 2))
    kms = abs_err * jam * scale[:, None, None]
    order = np.argsort(per_max)[::-1]
    worst = [dict(index=int(ds.index[k]), max_abs_err=float(per_max[k]), bias=float(per_bias[k]),
                  **{name: float(v) for name, v in zip(PARAM_NAMES, ds.params[k])}) for k in order[:10]]
    regions = _by_region(ds.params, per_max)

    offgrid = {}
    if offgrid_maps > 0:
        settings = settings or JAMSettings(**ds.meta["jam_settings"])
        rng = np.random.default_rng(seed)
        picks = rng.choice(len(ds), size=min(offgrid_maps, len(ds)), replace=False)
        errs = []
        for k in tqdm(picks, disable=not progress, desc="JAM off-grid", unit="map"):
            xr, yr = rng.uniform(-grid.FIELD_HALF, grid.FIELD_HALF, (2, offgrid_points))
            ref = dimensionless_map(*ds.params[k], settings, x=xr, y=yr)
            emu = emulator.dimensionless(ds.params[k][None], xr, yr)[0]
            errs.append(np.abs(emu / ref - 1))
        offgrid = summary_stats(np.concatenate(errs))
        offgrid["n_maps"] = int(len(picks))
    result = EvaluationResult(
        n_maps=len(ds), pixel=summary_stats(abs_err[valid]), offgrid=offgrid, per_map_max=summary_stats(per_max),
        per_map_bias=summary_stats(np.abs(per_bias)),
        kms=dict(median=float(np.nanmedian(kms)), p99=float(np.nanpercentile(kms, 99)),
                 per_map_max_p95=float(np.percentile(np.nanmax(kms, axis=(1, 2)), 95))),
        error_model=radial_error_model(err.reshape(len(err), -1)),
        worst=worst, by_region=regions, seconds_per_map_emulator=float(t_emu),
    )
    if plot_dir is not None:
        typical = int(np.argsort(per_max)[len(per_max) // 2])
        plot_maps(ds, logf, [int(order[0]), typical], Path(plot_dir))
    return result


def _by_region(params, per_max):
    """Per-map maximum error (p95) in halves/thirds of each parameter, to say where it falls short."""
    out = {}
    for j, name in enumerate(PARAM_NAMES):
        edges = np.quantile(params[:, j], [0, 1 / 3, 2 / 3, 1])
        which = np.clip(np.digitize(params[:, j], edges[1:-1]), 0, 2)
        out[name] = [dict(low=float(edges[b]), high=float(edges[b + 1]),
                          per_map_max_p95=float(np.percentile(per_max[which == b], 95)))
                     for b in range(3) if np.any(which == b)]
    return out


def plot_maps(ds, logf, picks, out):
    """JAM, emulator and residual maps (Cartesian view of the quadrant) for chosen test maps."""
    from matplotlib.figure import Figure

    out.mkdir(parents=True, exist_ok=True)
    xg, yg = np.meshgrid(np.linspace(-2.5, 2.5, 101), np.linspace(-2.5, 2.5, 101))
    for label, k in zip(("worst", "typical"), picks):
        jam = np.exp(grid.interpolate_map(np.log(ds.f[k]), xg.ravel(), yg.ravel())).reshape(xg.shape)
        emu = np.exp(grid.interpolate_map(logf[k], xg.ravel(), yg.ravel())).reshape(xg.shape)
        fig = Figure(figsize=(13, 4))
        axes = fig.subplots(1, 3)
        lim = (jam.min(), jam.max())
        for ax, img, title in zip(axes[:2], (jam, emu), ("JAM", "emulator")):
            im = ax.imshow(img, origin="lower", extent=(-2.5, 2.5, -2.5, 2.5), vmin=lim[0], vmax=lim[1])
            ax.set_title(f"{title}: f = V_RMS / scale")
            fig.colorbar(im, ax=ax)
        res = 100 * (emu / jam - 1)
        vmax = np.max(np.abs(res))
        im = axes[2].imshow(res, origin="lower", extent=(-2.5, 2.5, -2.5, 2.5), cmap="RdBu_r", vmin=-vmax, vmax=vmax)
        axes[2].set_title("emulator / JAM - 1 [%]")
        fig.colorbar(im, ax=axes[2])
        for ax in axes:
            ax.set_xlabel("x / R_e")
        axes[0].set_ylabel("y / R_e")
        p = ds.params[k]
        fig.suptitle(f"{label} map (index {ds.index[k]}): n={p[0]:.2f} q_obs={p[1]:.2f} i={p[2]:.1f} "
                     f"beta_z={p[3]:.2f} sigma_psf/R_e={p[4]:.3f} pixsize/R_e={p[5]:.3f}")
        fig.tight_layout()
        with atomic_path(out / f"map_{label}.png") as tmp:
            fig.savefig(tmp, dpi=90)


def write_json(result, path):
    """Write ``result.to_dict()`` as JSON to ``path`` atomically."""
    atomic.write_json(path, result.to_dict())

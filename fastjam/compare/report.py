"""The comparison's report: per-parameter statistics, the energy test, speed, the project's
goals, a table, JSON, both posteriors and the figures (:class:`ComparisonResult`)."""
import logging
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..atomic import atomic_path, write_json, write_text
from ..model import PARAMETERS
from .side import Side
from .stats import compare_parameter, energy_test, parameter_stats

log = logging.getLogger(__name__)

#: The project's accuracy and speed goals for the emulator posterior.
GOALS = dict(max_median_shift_sigma=0.2, max_width_deviation=0.10, min_speedup_per_effective_sample=500.0)


@dataclass
class ComparisonResult:
    """How the emulator posterior differs from the JAM reference.

    Attributes
    ----------
    jam_method : str
        "grid" or "emcee".
    parameters : dict
        Per parameter (inclination [deg], beta_z, ml [Msun/Lsun]): ``emulator`` and ``jam``
        statistics (:func:`parameter_stats`), ``shift_sigma``, ``shift_mc_error``,
        ``width_ratio``, ``width_ratio_mc_error`` (:func:`compare_parameter`).
    energy : dict
        :func:`energy_test` of the joint (inclination, beta_z, ml) posteriors.
    speed : dict
        ``emulator`` and ``jam``: seconds per likelihood call, calls, cost seconds (one core),
        wall seconds, minimum ESS, seconds per effective sample; ``speedup_per_call`` and
        ``speedup_per_effective_sample`` (JAM / emulator).
    goals : dict
        The project's thresholds (:data:`GOALS`) and whether this comparison meets each.
    best : dict
        Best-fit parameters of each side.
    diagnostics : dict
        ``emulator`` (sampler) and ``jam`` (grid or emcee) diagnostics.
    truth : dict
        Known parameters of a mock, else empty.
    """

    jam_method: str
    parameters: dict
    energy: dict
    speed: dict
    goals: dict
    best: dict
    diagnostics: dict
    truth: dict = field(default_factory=dict)
    emulator: Side = field(default=None, repr=False)
    jam: Side = field(default=None, repr=False)
    data: dict = field(default=None, repr=False)

    def to_dict(self):
        """Everything but the samples, JSON-ready (non-finite numbers become None)."""
        return _jsonable(dict(jam_method=self.jam_method, parameters=self.parameters, energy=self.energy,
                              speed=self.speed, goals=self.goals, best=self.best, diagnostics=self.diagnostics,
                              truth=self.truth))

    def table(self):
        """Plain-text report."""
        head = (f"{'parameter':<13s}{'JAM median [p16, p84]':>30s}{'emulator median [p16, p84]':>32s}"
                f"{'shift/sig':>11s}{'+-MC':>7s}{'width ratio':>13s}{'+-MC':>7s}")
        lines = [head]
        for name, c in self.parameters.items():
            j, e = c["jam"], c["emulator"]
            lines.append(f"{name:<13s}{_interval(j):>30s}{_interval(e):>32s}{c['shift_sigma']:>11.3f}"
                         f"{c['shift_mc_error']:>7.3f}{c['width_ratio']:>13.3f}{c['width_ratio_mc_error']:>7.3f}")
        en = self.energy
        lines.append(f"energy distance (standardised, {en['n']} samples each): {en['distance']:.4g}; null from JAM "
                     f"halves {en['null_mean']:.4g} +- {en['null_sd']:.2g} ({en['repeats']} splits), "
                     f"excess {en['excess']:.2f} null sd")
        se, sj = self.speed["emulator"], self.speed["jam"]
        lines.append(f"seconds per likelihood call: emulator {se['seconds_per_call']:.3g}, JAM "
                     f"{sj['seconds_per_call']:.3g} (x{self.speed['speedup_per_call']:.3g})")
        lines.append(f"seconds per effective sample: emulator {se['seconds_per_effective_sample']:.3g}, JAM "
                     f"{sj['seconds_per_effective_sample']:.3g} (x{self.speed['speedup_per_effective_sample']:.3g}); "
                     f"min ESS {se['ess_min']:.0f} and {sj['ess_min']:.0f}")
        lines.append(f"wall time: emulator {se['wall_seconds']:.1f} s, JAM {sj['wall_seconds']:.1f} s "
                     f"({self.jam_method}, {self.diagnostics['jam'].get('workers', 1)} workers)")
        g = self.goals
        lines.append(f"goals: |shift| <= {GOALS['max_median_shift_sigma']} sigma: {_yes(g['medians'])}; "
                     f"|width ratio - 1| <= {GOALS['max_width_deviation']}: {_yes(g['widths'])}; speed-up per "
                     f"effective sample >= {GOALS['min_speedup_per_effective_sample']:g}: {_yes(g['speed'])}")
        if self.jam_method == "importance":
            d = self.diagnostics["jam"]
            lines.append(f"JAM importance sampling: {d['n_draws']} draws ({d['n_computed']} jampy calls, "
                         f"{d['n_cached']} cached, {d['n_failed']} failed); Kish ESS {d['kish_ess']:.0f} "
                         f"({d['efficiency']:.0%} of the draws); PSIS k-hat {d['khat']:.2f} (reliable below 0.7)")
        if self.jam_method == "grid":
            d = self.diagnostics["jam"]
            lines.append(f"JAM grid {d['grid'][0]} x {d['grid'][1]}: {d['n_computed']} nodes computed, "
                         f"{d['n_cached']} cached, {d['n_failed']} failed; effective nodes {d['kish_ess']:.1f}; "
                         f"box i {_span(d['box']['inclination'])} deg, u {_span(d['box']['beta_frac'])}; JAM mass on "
                         f"its open edges {d['edge_mass']:.2g}; "
                         f"cell / JAM sigma: " + ", ".join(f"{k} {v:.2f}" for k, v in d['cell_over_sigma'].items()))
            if d.get("grid_error"):
                lines.append("grid quadrature error (change at half the resolution) of the medians, in JAM sigma: "
                             + ", ".join(f"{k} {e['median'] / self.parameters[k]['jam']['sigma']:.3f}"
                                         for k, e in d["grid_error"].items()))
        return "\n".join(lines)

    def save(self, out):
        """Write comparison.json, comparison.txt, corner_overlay.png, maps_emulator.png, maps_jam.png and
        both posteriors (posterior_emulator.nc, posterior_jam.nc), each atomically."""
        from .. import plots

        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        write_text(out / "comparison.txt", self.table() + "\n")
        write_json(out / "comparison.json", self.to_dict())
        for name, side in (("emulator", self.emulator), ("jam", self.jam)):
            if side is not None:
                with atomic_path(out / f"posterior_{name}.nc") as tmp:
                    side.idata.to_netcdf(str(tmp))
        if self.emulator is not None and self.jam is not None:
            plots.save(corner_overlay(self.jam.idata, self.emulator.idata, self.truth), out / "corner_overlay.png")
        if self.data is not None:
            d = self.data
            for name, side in (("emulator", self.emulator), ("jam", self.jam)):
                plots.save(plots.maps_plot(d["x"], d["y"], d["vrms"], side.best_model, d["vrms_err"]),
                           out / f"maps_{name}.png")


def corner_overlay(jam_idata, emulator_idata, truth=None, colors=("C0", "C3")):
    """Corner plot of the JAM posterior with the emulator's drawn over it, both medians in the titles."""
    from matplotlib.lines import Line2D

    from .. import plots

    fig = plots.corner_plot(jam_idata, truth, color=colors[0])
    fig = plots.corner_plot(emulator_idata, None, color=colors[1], fig=fig)
    n = len(PARAMETERS)
    axes = np.asarray(fig.axes).reshape(n, n)
    for k, name in enumerate(PARAMETERS):
        mj = float(np.median(np.asarray(jam_idata.posterior[name])))
        me = float(np.median(np.asarray(emulator_idata.posterior[name])))
        axes[k, k].set_title(f"{plots.LABELS[name]}\nJAM {mj:.4g}, emulator {me:.4g}", fontsize=9)
    fig.legend([Line2D([], [], color=c) for c in colors], ["JAM", "emulator"], loc="upper right")
    return fig


def _interval(s):
    return f"{s['median']:.4g} [{s['p16']:.4g}, {s['p84']:.4g}]"


def _span(lo_hi):
    return f"[{lo_hi[0]:.4g}, {lo_hi[1]:.4g}]"


def _yes(flag):
    return "yes" if flag else "no"


def _jsonable(obj):
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple, np.ndarray)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, (bool, np.bool_)):
        return bool(obj)
    if isinstance(obj, (int, np.integer)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        return float(obj) if math.isfinite(obj) else None
    return obj


def evaluate_goals(parameters, speed):
    """Whether the comparison meets each of :data:`GOALS`."""
    return dict(
        medians=all(abs(c["shift_sigma"]) <= GOALS["max_median_shift_sigma"] for c in parameters.values()),
        widths=all(abs(c["width_ratio"] - 1) <= GOALS["max_width_deviation"] for c in parameters.values()),
        speed=speed["speedup_per_effective_sample"] >= GOALS["min_speedup_per_effective_sample"],
        thresholds=dict(GOALS),
    )


def report(emulator, jam, jam_method, rng, truth=None, energy_samples=1000, energy_repeats=5):
    """Build the :class:`ComparisonResult` of two :class:`Side` posteriors."""
    parameters = {}
    for k, name in enumerate(PARAMETERS):
        if jam_method in ("grid", "exact"):  # independent draws from a deterministic quadrature, plus its error
            js = parameter_stats(jam.samples[:, k], jam.diagnostics["n_draws"])
            js["grid_error"] = (jam.diagnostics.get("grid_error") or {}).get(name)
        else:
            js = parameter_stats(jam.samples[:, k], jam.ess[name])
        parameters[name] = compare_parameter(parameter_stats(emulator.samples[:, k], emulator.ess[name]), js)
    energy = energy_test(emulator.samples, jam.samples, rng, energy_samples, energy_repeats)
    se, sj = emulator.speed(), jam.speed()
    speed = dict(emulator=se, jam=sj, speedup_per_call=sj["seconds_per_call"] / se["seconds_per_call"],
                 speedup_per_effective_sample=sj["seconds_per_effective_sample"] / se["seconds_per_effective_sample"])
    diagnostics = dict(emulator=emulator.diagnostics, jam=dict(jam.diagnostics))
    if jam_method == "grid":
        d_inc, d_frac = jam.diagnostics["steps"]["inclination"], jam.diagnostics["steps"]["beta_frac"]
        width = jam.diagnostics["beta_width_at_median"]
        diagnostics["jam"]["cell_over_sigma"] = dict(
            inclination=d_inc / parameters["inclination"]["jam"]["sigma"],
            beta_z=d_frac * width / parameters["beta_z"]["jam"]["sigma"])
        worst = max(diagnostics["jam"]["cell_over_sigma"].values())
        if worst > 0.5:
            log.warning("the JAM grid is coarse: a cell spans %.2g posterior sigma (use a finer --grid)", worst)
    return ComparisonResult(jam_method, parameters, energy, speed, evaluate_goals(parameters, speed),
                            dict(emulator=emulator.best, jam=jam.best), diagnostics, dict(truth or {}), emulator, jam)


__all__ = ["ComparisonResult", "GOALS", "corner_overlay", "evaluate_goals", "report"]

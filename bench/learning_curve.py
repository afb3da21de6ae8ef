"""Training maps needed by each accuracy target of the general emulator, from its learning curve.

    python bench/learning_curve.py        # bench/results/general_curve_random.json
    python bench/learning_curve.py --curve CURVE.json --reference bench/results/general_hybrid_all10k.json

Each statistic s of the curve's rows (pixel median and 99th percentile of |e|, 95th percentiles of
the per-map maximum and of the per-map bias |mean e|, on the same test maps; written by
``bench/general_emulator.py curve``) is fitted as a power law of the training-set size N,

    ln s = ln s_0 + slope * ln(N / N_0),

by least squares over all rows (``fit``) and through the last two rows alone (``last``, the local
slope: a curve that flattens shows it here first). Each line is extrapolated to the target,
N_target = N_0 (target / s_0)^(1 / slope), with N_0, s_0 a point on the line. With two to four
sizes these are a plan, not a forecast. ``--reference`` rows (networks trained on other mixes of
maps) are drawn and tabulated, not fitted; the JAM line is JAM's own convergence error
(``general_jam.json``), the floor no emulator trained on these maps can go below.
Prints a table, writes JSON (``--json``) and a figure (``--plot``).
"""
import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import RESULTS, shown_path  # noqa: E402

# the accuracy the general emulator must reach on held-out multi-component maps (docs/general_emulator.md)
TARGETS = dict(pixel_median=0.002, pixel_p99=0.01, map_max_p95=0.02, map_bias_p95=0.001)
LABELS = dict(pixel_median="pixel median", pixel_p99="pixel p99", map_max_p95="per-map max p95",
              map_bias_p95="bias p95")


def power_law(n, s):
    """Least-squares line through (ln n, ln s): (slope, ln s at n[-1])."""
    slope, intercept = np.polyfit(np.log(n), np.log(s), 1)
    return float(slope), float(intercept + slope * np.log(n[-1]))


def maps_needed(slope, log_s_last, n_last, target):
    """N at which the line ln s = log_s_last + slope ln(N / n_last) reaches ``target`` (None if it does not
    below 10^12 maps: a flat or rising curve)."""
    if slope >= 0:
        return None
    log_n = np.log(n_last) + (np.log(target) - log_s_last) / slope
    return float(np.exp(log_n)) if log_n < np.log(1e12) else None


def extrapolate(rows):
    """Per statistic: values, the all-rows fit, the last-segment slope and the maps each needs for its
    target."""
    rows = sorted(rows, key=lambda r: r["n_train"])
    if len(rows) < 2:
        raise ValueError(f"a learning curve needs at least 2 training-set sizes, got {len(rows)}")
    n = np.array([r["n_train"] for r in rows], float)
    out = {}
    for key, target in TARGETS.items():
        s = np.array([r[key] for r in rows], float)
        fit_slope, fit_last = power_law(n, s)
        last_slope, last_last = power_law(n[-2:], s[-2:])
        out[key] = dict(target=target, values=s.tolist(), fit_slope=fit_slope, fit_at_last=float(np.exp(fit_last)),
                        last_slope=last_slope,
                        n_fit=maps_needed(fit_slope, fit_last, n[-1], target),
                        n_last=maps_needed(last_slope, last_last, n[-1], target))
    return dict(n_train=n.astype(int).tolist(), statistics=out)


def _rows(path):
    return json.loads(Path(path).read_text())["rows"]


def _reference(spec):
    """``PATH`` or ``PATH=LABEL``: the first row of a network's JSON, with its label."""
    path, _, label = spec.partition("=")
    row = _rows(path)[0]
    return dict(label=label or f"{Path(path).stem.removeprefix('general_')} ({row['n_train']:,})",
                source=shown_path(path), row=row)


def _n(n):
    return f"{'never':>9}" if n is None else f"{n:>9.3g}"


def table(result, references):
    head = f"{'statistic':>16} {'target':>7} " + " ".join(f"{'N=' + str(n):>9}" for n in result["n_train"])
    head += f" {'slope':>6} {'last':>6} {'N(fit)':>9} {'N(last)':>9}"
    head += "".join(f" {r['label']:>14}" for r in references)
    lines = [head]
    for key, st in result["statistics"].items():
        line = f"{LABELS[key]:>16} {st['target']:>7.2%} " + " ".join(f"{v:>9.3%}" for v in st["values"])
        line += f" {st['fit_slope']:>6.2f} {st['last_slope']:>6.2f} {_n(st['n_fit'])} {_n(st['n_last'])}"
        line += "".join(f" {r['row'][key]:>14.3%}" for r in references)
        lines.append(line)
    return "\n".join(lines)


def _log_axes(ax):
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    for axis, label, subs in ((ax.xaxis, lambda v, _: f"{v / 1000:g}k", (1, 3)),
                              (ax.yaxis, lambda v, _: f"{100 * v:g}%", (1, 2, 5))):
        axis.set_major_locator(LogLocator(subs=subs))
        axis.set_major_formatter(FuncFormatter(label))
        axis.set_minor_formatter(NullFormatter())


def plot(result, references, jam, path):
    from fastjam.plots import figure, save

    fig = figure(figsize=(12, 3.4), layout="constrained")
    n = np.array(result["n_train"], float)
    grid = np.geomspace(n[0], max([n[-1] * 20] + [r["row"]["n_train"] * 1.5 for r in references]), 50)
    for k, (ax, (key, st)) in enumerate(zip(fig.subplots(1, 4), result["statistics"].items())):
        ax.loglog(n, st["values"], "o", color="C0", label="learning curve")
        for slope, at_last, style, name in ((st["fit_slope"], st["fit_at_last"], "-", "power law, all sizes"),
                                            (st["last_slope"], st["values"][-1], "--", "power law, last two")):
            ax.loglog(grid, at_last * (grid / n[-1]) ** slope, style, color="C0", lw=1, label=name)
        for j, ref in enumerate(references):
            ax.loglog(ref["row"]["n_train"], ref["row"][key], "s", color=f"C{j + 1}", label=ref["label"])
        ax.axhline(st["target"], color="k", lw=1, label="target")
        if jam:
            ax.axhline(jam[key], color="0.6", lw=1, ls=":", label="JAM's own error")
        _log_axes(ax)
        ax.set_title(f"{LABELS[key]}: N$^{{{st['fit_slope']:.2f}}}$ (last N$^{{{st['last_slope']:.2f}}}$)",
                     fontsize=10)
        ax.set_xlabel("training maps")
        if k == 0:
            ax.legend(fontsize=7)
    save(fig, path, dpi=110)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--curve", default=str(RESULTS / "general_curve_random.json"),
                   help="a JSON of bench/general_emulator.py curve (rows at >= 2 sizes)")
    p.add_argument("--reference", nargs="*",
                   default=[str(RESULTS / "general_hybrid_all10k.json") + "=shipped, mixed maps"],
                   help="PATH or PATH=LABEL: JSONs of other networks, drawn beside the curve (their first row)")
    p.add_argument("--jam", default=str(RESULTS / "general_jam.json"), help="JAM's own error ('' for none)")
    p.add_argument("--json", default=str(RESULTS / "general_learning_curve.json"))
    p.add_argument("--plot", default=str(RESULTS / "general_learning_curve.png"))
    args = p.parse_args(argv)
    from fastjam.atomic import write_json

    result = extrapolate(_rows(args.curve))
    references = [_reference(r) for r in args.reference]
    jam = _rows(args.jam)[0] if args.jam else None
    print(table(result, references))
    write_json(args.json, dict(benchmark="general_learning_curve", curve=shown_path(args.curve),
                               references=references, jam=jam, **result))
    plot(result, references, jam, args.plot)
    print(args.json, args.plot, sep="\n")


if __name__ == "__main__":
    main()

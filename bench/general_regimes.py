"""Where the general-photometry emulator errs: held-out errors by kind of galaxy and by place in the map.

For each held-out map of ``--test`` (``mge_test`` of ``scripts/make_training_sets_mge.sh``), the
errors e = f_emu/f_JAM - 1 over the 64 x 64 polar grid at one random anisotropy per map
(``fastjam.emulator.general_evaluate.relative_errors``) are grouped (RMS, per-map maximum |e| and
coherent bias |mean e| of each group's maps, and that bias over the centre, r < 0.1 R_e, 41% of
the grid's nodes, and over the rest) by

* the light fraction in flattened Gaussians (q_obs < 0.3): disks seen nearly edge-on;
* sigma_psf / R_e;
* the number of Sérsic components;
* the Sérsic index of the first component (the bulge of a bulge + disk);
* the radius and the angle from the major axis of the grid node (for the per-map maximum);
* the surface brightness at the node, in units of the mean inside R_e (Sigma_e = L_tot/(2 pi R_e^2)):
  where the per-map maxima lie, and the statistics over the light brighter than a few thresholds
  (``BRIGHT_THRESHOLDS``; 0.03 Sigma_e, 3.8 mag below it, is a de Vaucouleurs profile at 2.7 R_e,
  about the depth of the IFU surveys' outer fields);

and the whole grid's statistics are given again with each node weighted by the area of the field it
stands for (``fastjam.physics.grid.node_areas``), as a map of equal spaxels would weigh them: the
log-spaced grid puts 41% of its nodes, and of the card's statistics, inside 0.1 R_e;

and the worst 5% of the maps by their maximum |e| are described: Spearman's rho of the per-map
maximum with each design parameter (``fastjam.family.FAMILY_PARAM_NAMES``; 0 for a component the
galaxy does not have) and with the thinnest Gaussian's q_intr, and the medians of those in the
worst 5% and in the rest. Each network after the first is compared with the first: whether they
err most on the same maps (``shared_worst``).

Usage::

    python bench/general_regimes.py --test ~/.cache/fastjam/mge_test --models data/emulator_mge [NET ...]

prints one table per network and writes ``bench/results/general_regimes.json`` (or ``--json``).
"""
import argparse
import logging
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import RESULTS, machine_info, shown_path  # noqa: E402

from fastjam.atomic import write_json  # noqa: E402
from fastjam.emulator.general_loss import centre_nodes  # noqa: E402

FLAT_Q = 0.3  #: a Gaussian with q_obs below this counts as flattened
FLAT_BINS = (0.0, 0.01, 0.3, 0.6, 1.01)
PSF_BINS = (0.01, 0.03, 0.1, 0.5)
SERSIC_BINS = (0.5, 2.0, 4.0, 6.0, 8.01)
BRIGHT_THRESHOLDS = (0.0, 0.003, 0.01, 0.03, 0.1)  #: surface brightness cuts, in units of Sigma_e
FAINT = 0.01  #: a per-map maximum in light fainter than this (5 mag below Sigma_e) counts as in faint light


def weighted_percentile(values, q, weights):
    """The ``q``-th percentile of ``values`` (any shape) with ``weights`` (broadcast to it): the
    smallest value whose cumulative weight reaches q% of the total."""
    values = np.asarray(values, dtype=float)
    weights = np.broadcast_to(weights, values.shape).ravel()
    values = values.ravel()
    order = np.argsort(values)
    cumulative = np.cumsum(weights[order])
    return float(values[order][np.searchsorted(cumulative, q / 100 * cumulative[-1])])


def area_weighted(e):
    """Statistics of maps ``e`` (N, NTHETA*NR) with each node weighted by its area of the field:
    pixel median and p99 of |e|, p95 of the per-map bias |sum_k A_k e_k / sum_k A_k|."""
    from fastjam.physics import grid

    area = grid.node_areas().ravel()
    area = area / area.sum()
    return dict(pixel_median=weighted_percentile(np.abs(e), 50, area),
                pixel_p99=weighted_percentile(np.abs(e), 99, area),
                map_bias_p95=float(np.percentile(np.abs(e @ area), 95)))


def relative_surface(inp, x, y):
    """Surface brightness of maps ``inp`` at nodes ``x, y`` (P,) [R_e], in units of the mean inside R_e,
    Sigma_e = L_tot / (2 pi R_e^2) (the unit MGEs are in L_tot / R_e^2), shape (N, P)."""
    from fastjam.emulator.general_features import surface_at

    return 2 * np.pi * surface_at(inp["ln_sigma"], inp["qobs"], inp["weight"], x, y).sum(-1)


def brighter_than(e, surface, thresholds=BRIGHT_THRESHOLDS):
    """Error statistics of maps ``e`` (N, P) over the nodes whose ``surface`` (N, P) [Sigma_e] is at
    least each threshold: share of nodes kept, pixel median and p99 of |e|, p95 of the per-map
    maximum |e| and of the per-map bias |mean e| (over the kept nodes of each map)."""
    rows = []
    for t in thresholds:
        keep = surface >= t
        kept = np.where(keep, e, np.nan)
        has = keep.any(1)
        rows.append(dict(threshold=float(t), node_share=float(keep.mean()),
                         pixel_median=float(np.median(np.abs(e[keep]))),
                         pixel_p99=float(np.percentile(np.abs(e[keep]), 99)),
                         map_max_p95=float(np.percentile(np.nanmax(np.abs(kept[has]), 1), 95)),
                         map_bias_p95=float(np.percentile(np.abs(np.nanmean(kept[has], 1)), 95))))
    return rows
def _group(name, lo, hi, sel, e, centre):
    from fastjam.emulator.general_evaluate import error_stats

    rms, stats = np.sqrt(np.mean(e[sel] ** 2, 1)), error_stats(e[sel])
    bias_p95 = [float(np.percentile(np.abs(e[sel][:, part].mean(1)), 95)) for part in (centre, ~centre)]
    return dict(group=name, range=[lo, hi], n_maps=int(sel.sum()), fraction=float(sel.mean()),
                rms_median=float(np.median(rms)), rms_p90=float(np.percentile(rms, 90)),
                map_max_p95=stats["map_max_p95"], map_bias_p95=stats["map_bias_p95"],
                centre_bias_p95=bias_p95[0], outside_bias_p95=bias_p95[1])


def regimes(e, inp, params, names=None):
    """Error statistics of maps ``e`` (N, NTHETA*NR) grouped as in the module docstring; ``names``: of the
    columns of ``params`` (the set's ``param_names``; default ``fastjam.family.FAMILY_PARAM_NAMES``)."""
    from fastjam.physics import grid

    x, y = grid.polar_grid()
    centre = centre_nodes()
    flat = np.sum(inp["weight"] * (inp["qobs"] < FLAT_Q), 1)
    rows = [_group("all", 0, 1, np.ones(len(e), bool), e, centre)]
    rows += [_group("light in q_obs < 0.3", lo, hi, (flat >= lo) & (flat < hi), e, centre)
             for lo, hi in zip(FLAT_BINS[:-1], FLAT_BINS[1:])]
    rows += [_group("sigma_psf/R_e", lo, hi, (params[:, 2] >= lo) & (params[:, 2] < hi), e, centre)
             for lo, hi in zip(PSF_BINS[:-1], PSF_BINS[1:])]
    rows += [_group("components", k, k, params[:, 0] == k, e, centre) for k in (1, 2, 3)]
    rows += [_group("Sersic n, 1st", lo, hi, (params[:, 4] >= lo) & (params[:, 4] < hi), e, centre)
             for lo, hi in zip(SERSIC_BINS[:-1], SERSIC_BINS[1:])]
    where = np.abs(e).argmax(1)
    radius, angle = np.hypot(x, y).ravel()[where], np.degrees(np.arctan2(y, x)).ravel()[where]
    surface = relative_surface(inp, x.ravel(), y.ravel())
    at_max, worst = surface[np.arange(len(e)), where], worst_share(np.abs(e).max(1))
    place = dict(max_beyond_1p5_re=float(np.mean(radius > 1.5)),
                 max_within_15deg_of_minor_axis=float(np.mean(angle > 75)),
                 max_in_faint_light=dict(worst_5pct=float(np.mean(at_max[worst] < FAINT)),
                                         rest=float(np.mean(at_max[~worst] < FAINT)),
                                         surface_median_worst=float(np.median(at_max[worst])),
                                         surface_median_rest=float(np.median(at_max[~worst]))),
                 brighter_than=brighter_than(e, surface), area_weighted=area_weighted(e),
                 worst_5pct=worst_maps(np.abs(e).max(1), inp, params, names))
    return rows, place


def worst_share(mx, share=0.05):
    """Mask (N,) of the ``share`` of maps with the largest per-map maximum |e| ``mx`` (N,)."""
    return mx > np.percentile(mx, 100 * (1 - share))


def worst_maps(mx, inp, params, names=None, share=0.05):
    """What the ``share`` of maps with the largest per-map maximum |e| ``mx`` (N,) have in common; ``names`` as
    in :func:`regimes`."""
    from scipy.stats import spearmanr

    from fastjam.emulator.general_features import q_intr
    from fastjam.family import FAMILY_PARAM_NAMES

    thinnest = np.min(np.where(inp["weight"] > 0, q_intr(inp["qobs"], inp["cos_i"][:, None]), np.inf), 1)
    columns = dict(zip(names or FAMILY_PARAM_NAMES, params.T), thinnest_q_intr=thinnest)
    worst = worst_share(mx, share)
    return [dict(parameter=k, spearman_rho_max=float(spearmanr(v, mx).statistic),
                 median_worst=float(np.median(v[worst])), median_rest=float(np.median(v[~worst])))
            for k, v in columns.items()]


def shared_worst(mx_first, mx, share=0.05):
    """Whether two networks err most on the same maps: per-map maxima ``mx_first``, ``mx`` (N,).

    Spearman's rho between them, how many of the first network's worst ``share`` of maps are
    among the second's, and the median ratio mx / mx_first on the first's worst and on the rest.
    """
    from scipy.stats import spearmanr

    worst, worst_other = worst_share(mx_first, share), worst_share(mx, share)
    ratio = mx / mx_first
    return dict(spearman_rho=float(spearmanr(mx_first, mx).statistic), n_worst=int(worst.sum()),
                n_worst_shared=int((worst & worst_other).sum()), ratio_median_worst=float(np.median(ratio[worst])),
                ratio_median_rest=float(np.median(ratio[~worst])))


def _table(name, rows, place):
    lines = [name, f"{'group':>22} {'range':>13} {'maps':>6} {'share':>7} {'rms median':>11} {'rms p90':>9} "
             f"{'max p95':>9} {'bias p95':>9} {'r<0.1 Re':>9} {'r>0.1 Re':>9}"]
    for r in rows:
        lines.append(f"{r['group']:>22} {str(r['range']):>13} {r['n_maps']:>6} {r['fraction']:>7.1%} "
                     f"{r['rms_median']:>11.3%} {r['rms_p90']:>9.3%} {r['map_max_p95']:>9.2%} "
                     f"{r['map_bias_p95']:>9.3%} {r['centre_bias_p95']:>9.3%} {r['outside_bias_p95']:>9.3%}")
    lines.append(f"per-map maximum beyond 1.5 R_e: {place['max_beyond_1p5_re']:.0%}; within 15 deg of the minor axis: "
                 f"{place['max_within_15deg_of_minor_axis']:.0%}")
    faint = place["max_in_faint_light"]
    lines.append(f"per-map maximum in light fainter than {FAINT:g} Sigma_e: {faint['worst_5pct']:.0%} of the worst 5% "
                 f"of maps, {faint['rest']:.0%} of the rest (median surface brightness there "
                 f"{faint['surface_median_worst']:.3g} and {faint['surface_median_rest']:.3g} Sigma_e)")
    lines.append(f"{'light >= (Sigma_e)':>22} {'mag':>5} {'nodes':>7} {'median':>8} {'p99':>7} {'max p95':>8} "
                 f"{'bias p95':>9}")
    for b in place["brighter_than"]:
        mag = -2.5 * np.log10(b["threshold"]) if b["threshold"] > 0 else np.inf
        lines.append(f"{b['threshold']:>22g} {mag:>5.1f} {b['node_share']:>7.1%} {b['pixel_median']:>8.3%} "
                     f"{b['pixel_p99']:>7.2%} {b['map_max_p95']:>8.2%} {b['map_bias_p95']:>9.3%}")
    area = place["area_weighted"]
    lines.append(f"weighted by the field's area: pixel median {area['pixel_median']:.3%}, p99 {area['pixel_p99']:.2%}, "
                 f"bias p95 {area['map_bias_p95']:.3%}")
    lines.append(f"{'worst 5% of maps':>22} {'rho(max)':>9} {'median worst':>13} {'median rest':>12}")
    for w in place["worst_5pct"]:
        lines.append(f"{w['parameter']:>22} {w['spearman_rho_max']:>+9.2f} {w['median_worst']:>13.3g} "
                     f"{w['median_rest']:>12.3g}")
    return "\n".join(lines)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--test", required=True, help="held-out MGE-family maps (mge_test)")
    p.add_argument("--test-first", type=int, help="only the test maps of design indices below this")
    p.add_argument("--models", nargs="+", default=["data/emulator_mge"], help="general emulator directories")
    p.add_argument("--seed", type=int, default=0, help="seed of the anisotropies")
    p.add_argument("--json", help="output file (default bench/results/general_regimes.json)")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    import torch

    from fastjam.dataset import load_dataset
    from fastjam.emulator.general import GeneralEmulatorNetwork
    from fastjam.emulator.general_data import map_inputs
    from fastjam.emulator.general_evaluate import relative_errors
    from fastjam.emulator.store import load_arrays

    torch.set_num_threads(1)
    ds = load_dataset(args.test)
    keep = np.asarray(ds.index) < args.test_first if args.test_first else np.ones(len(ds.index), bool)
    inp = {k: v[keep] for k, v in map_inputs(ds).items()}
    params = np.asarray(ds.params, dtype=float)[keep]
    out, first = [], None
    for path in args.models:
        arrays, card = load_arrays(path)
        net = GeneralEmulatorNetwork.from_arrays(arrays, card)
        e = relative_errors(net, inp, 1, args.seed)
        rows, place = regimes(e, inp, params, ds.meta["param_names"])
        out.append(dict(model=shown_path(path), rows=rows, **place))
        print(_table(f"{shown_path(path)} on {int(keep.sum())} held-out maps", rows, place))
        mx = np.abs(e).max(1)
        if first is None:
            first = mx
            continue
        out[-1]["against_first"] = shared = shared_worst(first, mx)
        print(f"against {shown_path(args.models[0])}: Spearman rho of the per-map maxima "
              f"{shared['spearman_rho']:.2f}; {shared['n_worst_shared']} of its {shared['n_worst']} worst maps (5%) "
              f"are among these worst; per-map maximum ratio, median: {shared['ratio_median_worst']:.3f} on its "
              f"worst, {shared['ratio_median_rest']:.3f} on the rest")
    path = Path(args.json) if args.json else RESULTS / "general_regimes.json"
    write_json(path, dict(benchmark="general_regimes", n_maps=int(keep.sum()), models=out,
                          args=dict(vars(args), test=shown_path(args.test), models=[shown_path(m) for m in args.models]),
                          machine=machine_info()))
    print(f"written {shown_path(path)}")


if __name__ == "__main__":
    main()

"""The general emulator's error model by novelty: calibrated on held-out maps, checked on another kind.

A fit of an MGE galaxy takes the likelihood's error model of the held-out maps as far from the
training maps as the galaxy (``fastjam.fit.error_band``; ``fastjam.emulator.novelty``). This
writes the card's ``novelty`` calibration of ``--model`` from the maps ``--test`` (the stored
reference of the training maps is kept, so no training maps are needed) and, for each ``--check``
set of held-out maps, compares band by band what the card says with what those maps show: the
median of the per-map RMS error, the RMS of e by radius, the 95th percentile of the per-map bias
|mean e|, and the share of the maps in the band. It then checks the error model a fit takes: the card's
overall one, the band of each map's novelty at its own inclination, and the band of the median of its
novelty over its prior's inclinations (the fit's rule, which does not know the inclination). Truncated MGEs (``mge_test_truncated``), a kind the
shipped network was not trained on, test whether the bands carry over to maps unlike the ones
that calibrated them::

    python bench/general_novelty.py --model data/emulator_mge --test ~/.cache/fastjam/mge_test \\
        --check ~/.cache/fastjam/mge_test_truncated

Prints a table and writes ``bench/results/general_novelty.json`` (or ``--json``).
"""
import argparse
import logging
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import RESULTS, machine_info, shown_path  # noqa: E402
from general_emulator import _inputs  # noqa: E402

from fastjam.atomic import write_json  # noqa: E402

N_BETAS = 3


def joined(measured):
    """One (d, e) of several sets' novelties d (n_k,) and errors e (N_BETAS * n_k, pixels), keeping e's blocks
    of one anisotropy draw per map."""
    d = np.concatenate([m[0] for m in measured])
    e = np.concatenate([m[1].reshape(N_BETAS, len(m[0]), -1) for m in measured], axis=1)
    return d, e.reshape(N_BETAS * len(d), -1)


def fit_rule_percentiles(net, arrays, entry, inp, i_lowest, n_inclinations=9):
    """Novelty percentile (n,) of the band each of the maps ``inp`` would be fitted with: the median of its
    novelty curve over the inclinations of its prior (:meth:`fastjam.emulator.novelty.NoveltyCurve.median`,
    as :func:`fastjam.fit.error_band`), not the novelty at the map's own inclination."""
    from fastjam.emulator.general_evaluate import coefficients_of
    from fastjam.emulator.general_features import beta_hi
    from fastjam.emulator.novelty import NoveltyCurve, distance, prior_inclinations

    incs = np.array([prior_inclinations(q, i_lowest, n_inclinations) for q in inp["qobs"].min(1)])
    curves = []
    for k in range(n_inclinations):
        cos_i = np.cos(np.radians(incs[:, k]))
        at_k = {key: v for key, v in inp.items() if key != "prof_in"}
        at_k.update(cos_i=cos_i, beta_hi=beta_hi(inp["qobs"], inp["weight"], cos_i))
        curves.append(distance(arrays, coefficients_of(net, at_k)))
    curves = np.array(curves).T
    return np.array([NoveltyCurve(i, d, entry).median().percentile for i, d in zip(incs, curves)])


def band_index(entry, pct, n_rows):
    """Index in the card's novelty ``entry["bands"]`` of each of ``n_rows`` error rows (N_BETAS blocks of the
    maps with novelty percentiles ``pct``, the last band beyond 100)."""
    from fastjam.emulator.novelty import band_of

    return np.array([entry["bands"].index(band_of(entry, p)) for p in np.tile(pct, n_rows // len(pct))])


def band_rows(entry, pct, e):
    """Per band of the card's novelty ``entry``: the card's figures beside those of maps with novelty
    percentiles ``pct`` (n,) and errors ``e`` (N_BETAS * n, pixels), each map in the band of its
    percentile (the last beyond 100)."""
    from fastjam.emulator.evaluate import radial_error_model

    which = band_index(entry, pct, len(e))
    rms, bias = np.sqrt(np.mean(e**2, 1)), np.abs(e.mean(1))
    rows = []
    for k, band in enumerate(entry["bands"]):
        sel = which == k
        row = dict(percentiles=band["percentiles"], card_rms_median=band["rms_median"],
                   card_bias_p95=band.get("bias_p95"), share=float(sel.mean()), n_maps=int(sel.sum() // N_BETAS))
        if sel.sum() >= 2 * N_BETAS:
            radial = np.asarray(radial_error_model(e[sel])["frac_rms"])
            ratio = radial / np.asarray(band["error_model"]["frac_rms"]) if band.get("error_model") else None
            row.update(rms_median=float(np.median(rms[sel])), bias_p95=float(np.percentile(bias[sel], 95)),
                       radial_rms=radial.tolist(),
                       radial_ratio=None if ratio is None else [float(np.min(ratio)), float(np.median(ratio)),
                                                                 float(np.max(ratio))])
        rows.append(row)
    return rows


def model_check(card, entry, pct, e, fit_pct=None):
    """How well the likelihood's error model predicts each map's errors ``e`` (N_BETAS * n, pixels; novelty
    percentiles ``pct`` (n,)), for the card's overall model, for the band of each map's novelty at its own
    inclination and, given ``fit_pct`` (n,), for the band a fit takes (:func:`fit_rule_percentiles`): the
    median and 90th percentile over maps of (RMS of e) / (the model's RMS over the grid), and the share
    of maps whose |mean e| exceeds the 95% bound of the coherent term, 1.96 sigma_coh (5% if exact)."""
    from fastjam.model import Z95, emulator_coherent_error, emulator_error_at
    from fastjam.physics import grid

    radius = np.hypot(*grid.polar_grid()).ravel()
    rms, bias = np.sqrt(np.mean(e**2, 1)), np.abs(e.mean(1))
    # per band: the model's RMS over the grid and the coherent term's 95% bound, overall or raised to the band's
    models = {raised: np.array([(np.sqrt(np.mean(emulator_error_at(card, radius, b if raised else None) ** 2)),
                                 Z95 * emulator_coherent_error(card, b if raised else None)) for b in entry["bands"]])
              for raised in (False, True)}
    rules = [("overall", pct), ("by novelty", pct)] + ([("fit rule", fit_pct)] if fit_pct is not None else [])
    out = {}
    for name, p in rules:
        predicted, bound = models[name != "overall"][band_index(entry, p, len(e))].T
        ratio = rms / predicted
        out[name] = dict(rms_ratio_median=float(np.median(ratio)), rms_ratio_p90=float(np.percentile(ratio, 90)),
                         rms_over_twice=float(np.mean(ratio > 2)), bias_beyond_95=float(np.mean(bias > bound)))
        if name == "fit rule":
            out[name]["same_band"] = float(np.mean(band_index(entry, p, len(pct)) == band_index(entry, pct, len(pct))))
    return out


def print_table(name, rows):
    pct = lambda v: "-" if v is None else f"{100 * v:.3f}%"  # noqa: E731
    print(f"\n{name}")
    print(f"{'band':>9} {'share':>6} {'maps':>5} {'RMS med card':>12} {'RMS med maps':>12} {'bias p95 card':>13} "
          f"{'bias p95 maps':>13} {'RMS by radius, maps/card: min med max':>38}")
    for r in rows:
        ratio = r.get("radial_ratio")
        ratio = " ".join(f"{v:.2f}" for v in ratio) if ratio else "-"
        print(f"{'%g-%g' % tuple(r['percentiles']):>9} {r['share']:6.3f} {r['n_maps']:5d} {pct(r['card_rms_median']):>12} "
              f"{pct(r.get('rms_median')):>12} {pct(r['card_bias_p95']):>13} {pct(r.get('bias_p95')):>13} {ratio:>38}")


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="data/emulator_mge", help="general emulator directory; its card is updated")
    p.add_argument("--test", required=True, nargs="+",
                   help="held-out maps that calibrate the card (the card's test set; several are joined)")
    p.add_argument("--check", nargs="*", default=[], help="further held-out sets to check the bands on")
    p.add_argument("--no-write", action="store_true", help="check the card's calibration without rewriting it")
    p.add_argument("--no-fit-rule", action="store_true",
                   help="skip the error model of the band a fit takes (each map's novelty over its prior's inclinations)")
    p.add_argument("--json", default=str(RESULTS / "general_novelty.json"))
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    import torch

    from fastjam.emulator.general import GeneralEmulatorNetwork
    from fastjam.emulator.general_evaluate import novelty_and_errors
    from fastjam.emulator.novelty import calibration, percentile
    from fastjam.emulator.store import load_arrays, update_card
    from fastjam.photometry import GeneralDomain

    torch.set_num_threads(1)
    arrays, card = load_arrays(args.model)
    net = GeneralEmulatorNetwork.from_arrays(arrays, card)
    inputs = {path: _inputs(path) for path in list(args.test) + list(args.check)}
    measured = {path: novelty_and_errors(net, arrays, inp, N_BETAS) for path, inp in inputs.items()}
    entry = card["novelty"]
    if not args.no_write:
        entry = dict(calibration(*joined([measured[t] for t in args.test])), sets=[shown_path(t) for t in args.test])
        update_card(args.model, novelty=entry)
    sets = {}
    for path, (d, e) in measured.items():
        pct = percentile(entry, d)
        fit_pct = None if args.no_fit_rule else fit_rule_percentiles(net, arrays, entry, inputs[path],
                                                                        GeneralDomain().inclination[0])
        rows, check = band_rows(entry, pct, e), model_check(card, entry, pct, e, fit_pct)
        sets[shown_path(path)] = dict(bands=rows, error_model=check)
        print_table(shown_path(path), rows)
        for name, c in check.items():
            print(f"  error model {name:>10}: map RMS / model RMS median {c['rms_ratio_median']:.2f}, 90th pct "
                  f"{c['rms_ratio_p90']:.2f}, above 2 for {c['rms_over_twice']:.1%} of maps; |bias| beyond the "
                  f"coherent term's 95% bound for {c['bias_beyond_95']:.1%}"
                  + (f"; same band as at the map's own inclination for {c['same_band']:.1%}" if "same_band" in c else ""))
    write_json(args.json, dict(benchmark="general_novelty", model=shown_path(args.model), n_betas=N_BETAS,
                               spearman_rms=entry["spearman_rms"], sets=sets,
                               args=dict(vars(args), model=shown_path(args.model), test=[shown_path(t) for t in args.test],
                                         check=[shown_path(c) for c in args.check], json=shown_path(args.json)),
                               machine=machine_info()))
    print(f"written {shown_path(args.json)}")


if __name__ == "__main__":
    main()

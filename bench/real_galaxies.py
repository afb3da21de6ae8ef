"""The general-photometry emulator against jampy on MGEs fitted to real galaxy images.

    python bench/real_galaxies.py [--emulator data/emulator_mge]

For each MGE of ``examples/real_mges`` (M32, NGC 4342, NGC 5831; ``fit_mges.py``), observed
with a SAURON-like set-up (PSF FWHM 1.5", 0.8" spaxels) on a 12 x 12 grid of positions over
|x|, |y| <= 2.4 R_e: the domain check, then V_RMS of jampy and of the emulator (JAX, same run)
at three inclinations from just above the minimum to 90 deg and three anisotropies in
[-0.2, beta_hi]. Prints a table of the relative error e = V_emu/V_JAM - 1 (rms and max |e|
per case), the galaxy's novelty percentiles over inclination and the time of its novelty curve
(computed once per fit: first call in the process, then warm), the likelihood's error model over
the positions (the card's overall one and that of the novelty band a fit takes), and writes
``bench/results/real_galaxies.json`` (or ``--json``). The MGE surf is taken as
Lsun/pc^2 (no zero point): relative errors do not depend on it.
"""
import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import REPO, RESULTS, machine_info, shown_path  # noqa: E402

from fastjam.atomic import write_json  # noqa: E402

GALAXIES = dict(m32=0.785, ngc4342=16.7, ngc5831=27.2)  #: distances in Mpc (scale only)
SIGMA_PSF, PIXSIZE = 1.5 / 2.355, 0.8  #: arcsec


def load_mge(name):
    """A fitted MGE of ``examples/real_mges`` as a :class:`fastjam.physics.MGE`."""
    from fastjam.physics.mge import MGE

    surf, sigma, qobs = np.loadtxt(REPO / "examples" / "real_mges" / f"{name}_mge.txt", unpack=True)
    return MGE(surf, sigma, qobs)


def cases(unit, n=3):
    """(inclination, beta_z) pairs inside the constraint of every Gaussian."""
    from fastjam.emulator.general_features import BETA_LO, beta_hi
    from fastjam.physics.geometry import QINTR_MIN

    q_min = max(float(np.min(unit.qobs)), QINTR_MIN + 0.02)
    i_min = np.degrees(np.arccos(np.sqrt((q_min**2 - (QINTR_MIN + 0.02) ** 2) / (1 - (QINTR_MIN + 0.02) ** 2))))
    i_min = max(i_min, 10.0) + 2.0
    out = []
    for inc in np.linspace(i_min, 90.0, n):
        b_hi = float(beta_hi(unit.qobs, unit.weight, np.cos(np.radians(inc))))
        out += [(float(inc), float(b)) for b in np.linspace(BETA_LO, b_hi, n)]
    return out


def _novelty(arrays, card, galaxy):
    """Novelty percentiles of ``galaxy`` at the curve's inclinations and the seconds of two calls."""
    from fastjam.emulator.general_model import GeneralEmulator

    emulator, seconds = GeneralEmulator(arrays, card), []
    for _ in range(2):
        t0 = time.perf_counter()
        curve = emulator.novelty(galaxy)
        seconds.append(time.perf_counter() - t0)
    if curve is None:
        return {}, None
    pct = [curve.at(i).percentile for i in curve.inclinations]
    return dict(novelty_percentiles=[min(pct), max(pct)], novelty_seconds_first=seconds[0],
                novelty_seconds_warm=seconds[1]), curve


def _error_models(card, curve, radius_re):
    """RMS over the positions (radii ``radius_re`` in R_e) of the likelihood's error model and its coherent
    term's 95% bound 1.96 sigma_coh: the card's overall model and the one a fit takes (``fastjam.fit.error_band``);
    nothing for a card without an error model."""
    from fastjam.fit import error_band
    from fastjam.model import Z95, emulator_coherent_error, emulator_error_at

    if not card.get("error_model"):  # a network not carded yet
        return {}
    band = error_band(curve)
    out = {}
    for name, b in (("overall", None), ("fit", band)):
        out[f"model_rms_{name}"] = float(np.sqrt(np.mean(emulator_error_at(card, radius_re, b) ** 2)))
        out[f"bias_bound_{name}"] = float(Z95 * emulator_coherent_error(card, b))
    out["error_band"] = band["percentiles"] if band else None
    return out


def bench_galaxy(name, arrays, card, settings):
    import jax

    from fastjam.emulator.general_jax import make_vrms_function
    from fastjam.galaxy import Galaxy
    from fastjam.jam import jam_vrms
    from fastjam.photometry import domain_violations, unit_photometry

    mge, distance = load_mge(name), GALAXIES[name]
    unit = unit_photometry(mge, distance)
    row = dict(galaxy=name, r_e_arcsec=unit.r_e, n_gaussians=int(mge.surf.size),
               q_obs_range=[float(mge.qobs.min()), float(mge.qobs.max())],
               sigma_psf_re=SIGMA_PSF / unit.r_e, pixsize_re=PIXSIZE / unit.r_e,
               violations=domain_violations(unit, sigma_psf_re=SIGMA_PSF / unit.r_e, pixsize_re=PIXSIZE / unit.r_e))
    if row["violations"] or arrays is None:
        return row, []
    g = np.linspace(-2.4, 2.4, 12) * unit.r_e
    x, y = (v.ravel() for v in np.meshgrid(g, g))
    galaxy = Galaxy(mge, distance, SIGMA_PSF, PIXSIZE)
    novelty, curve = _novelty(arrays, card, galaxy)
    row.update(novelty, **_error_models(card, curve, np.hypot(x, y) / unit.r_e))
    vrms = jax.jit(make_vrms_function(arrays, card, galaxy, x, y))
    rows = []
    for inc, beta in cases(unit):
        t0 = time.perf_counter()
        v_jam = jam_vrms(mge, inc, beta, 1.0, distance, SIGMA_PSF, PIXSIZE, x, y, settings)
        t_jam = time.perf_counter() - t0
        v_emu = np.asarray(vrms(inc, beta, 1.0))
        t0 = time.perf_counter()
        v_emu = np.asarray(vrms(inc, beta, 1.0).block_until_ready())
        t_emu = time.perf_counter() - t0
        e = v_emu / v_jam - 1
        rows.append(dict(galaxy=name, inclination=inc, beta_z=beta, rms=float(np.sqrt(np.mean(e**2))),
                         max_abs=float(np.abs(e).max()), mean=float(e.mean()), jam_seconds=t_jam, emu_seconds=t_emu))
    return row, rows


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--emulator", default=str(REPO / "data" / "emulator_mge"))
    p.add_argument("--json", default=str(RESULTS / "real_galaxies.json"), help="output file")
    args = p.parse_args(argv)
    from fastjam.emulator.store import load_arrays
    from fastjam.jam import DEFAULT_SETTINGS

    arrays, card = load_arrays(args.emulator) if Path(args.emulator, "emulator.npz").exists() else (None, None)
    galaxies, rows = [], []
    for name in GALAXIES:
        g, r = bench_galaxy(name, arrays, card, DEFAULT_SETTINGS)
        galaxies.append(g)
        rows += r
    print(f"{'galaxy':>8} {'R_e':>6} {'k':>3} {'q_obs':>11} {'psf/R_e':>8} {'novelty pct':>12} {'1st s':>6} "
          f"{'warm ms':>8}  domain")
    for g in galaxies:
        nov = g.get("novelty_percentiles", [np.nan, np.nan])
        print(f"{g['galaxy']:>8} {g['r_e_arcsec']:6.2f} {g['n_gaussians']:3d} {g['q_obs_range'][0]:5.2f}-"
              f"{g['q_obs_range'][1]:4.2f} {g['sigma_psf_re']:8.3f} {nov[0]:5.0f}-{nov[1]:<6.0f} "
              f"{g.get('novelty_seconds_first', np.nan):6.2f} {1e3 * g.get('novelty_seconds_warm', np.nan):8.1f}  "
              f"{'; '.join(g['violations']) or 'inside'}")
    print("\nthe likelihood's error model over the positions: RMS and the coherent term's 95% bound, the card's "
          "overall one and the one a fit takes (novelty band)")
    for g in galaxies:
        if "model_rms_fit" in g:
            print(f"{g['galaxy']:>8}  overall {g['model_rms_overall']:.2%} (bias bound {g['bias_bound_overall']:.2%})"
                  f"  fit: band {g['error_band']} {g['model_rms_fit']:.2%} (bias bound {g['bias_bound_fit']:.2%})")
    print(f"\n{'galaxy':>8} {'incl':>6} {'beta_z':>7} {'rms e':>8} {'max|e|':>8} {'mean e':>8} {'JAM s':>6} "
          f"{'emu s':>8}")
    for r in rows:
        print(f"{r['galaxy']:>8} {r['inclination']:6.1f} {r['beta_z']:7.3f} {r['rms']:8.2%} {r['max_abs']:8.2%} "
              f"{r['mean']:8.2%} {r['jam_seconds']:6.2f} {r['emu_seconds']:8.5f}")
    write_json(args.json, dict(benchmark="real_galaxies", emulator=shown_path(args.emulator), galaxies=galaxies,
                               rows=rows, sigma_psf=SIGMA_PSF, pixsize=PIXSIZE, machine=machine_info()))
    print(f"written {shown_path(args.json)}")


if __name__ == "__main__":
    main()

"""Emulator posteriors against JAM posteriors on the bundled mocks, side by side.

    python bench/compare.py [--work DIR] [--workers 2] [--grid 40 30] [--only NAME]

Runs ``fastjam compare`` (grid reference with M/L integrated analytically, over a box
around the emulator posterior) on the example galaxy and the mocks of
``examples/mocks/`` (flat and edge-on with high n, round and near face-on with low n,
flat with tangential anisotropy and a wide PSF), each a jampy mock of ~200 bins with
2.5-5% errors (``examples/make_example.py``). The JAM grid nodes are cached in
``DIR/NAME/jam_grid`` (default ``~/.cache/fastjam/compare``), so an interrupted run resumes
where it stopped. Prints one table (per galaxy and parameter: the shift of the medians in
JAM sigma, the width ratio, both with their Monte Carlo errors; the energy-distance excess;
the speed-up per likelihood call and per effective sample) and writes JSON (default
``bench/results/compare.json``) and the per-galaxy reports and figures under ``DIR``.
"""
import argparse
import logging
from pathlib import Path

from _common import REPO, RESULTS, machine_info, shown_path

GALAXIES = {
    "example_galaxy": REPO / "examples" / "example_galaxy" / "galaxy.toml",
    "flat_edge_on": REPO / "examples" / "mocks" / "flat_edge_on" / "galaxy.toml",
    "round_face_on": REPO / "examples" / "mocks" / "round_face_on" / "galaxy.toml",
    "flat_tangential": REPO / "examples" / "mocks" / "flat_tangential" / "galaxy.toml",
}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", default=str(Path.home() / ".cache" / "fastjam" / "compare"),
                        help="per-galaxy output and JAM cache directory")
    parser.add_argument("--workers", type=int, default=2, help="local Dask workers for jampy")
    parser.add_argument("--grid", type=int, nargs=2, default=(40, 30), metavar=("NI", "NB"))
    parser.add_argument("--backend", choices=("emcee", "numpyro"), default=None,
                        help="emulator sampler (default: each config's)")
    parser.add_argument("--only", action="append", choices=sorted(GALAXIES), help="run only this galaxy (repeatable)")
    parser.add_argument("--emulator", default=None, help="emulator directory (default: the shipped one)")
    parser.add_argument("--json", default=str(RESULTS / "compare.json"))
    parser.add_argument("--no-progress", action="store_true")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")

    from fastjam.atomic import write_json
    from fastjam.compare import GOALS, compare
    from fastjam.config import load_config

    emulator = None
    if args.emulator:
        from fastjam.emulator import Emulator

        emulator = Emulator.load(args.emulator)
    rows = {}
    for name in args.only or GALAXIES:
        cfg = load_config(GALAXIES[name])
        res = compare(cfg, emulator=emulator, backend=args.backend, workers=args.workers, out=Path(args.work) / name,
                      jam_method="grid", grid_size=tuple(args.grid), progress=not args.no_progress)
        rows[name] = dict(config=shown_path(GALAXIES[name]), n_bins=int(res.data["x"].size), **res.to_dict())
        logging.info("%s done:\n%s", name, res.table())
    print(table(rows))
    emulator_name = Path(args.emulator).name if args.emulator else None
    out = dict(args=dict(vars(args), work=None, json=None, emulator=emulator_name), goals=GOALS, galaxies=rows,
               machine=machine_info())
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    write_json(args.json, out)
    return out


def table(rows):
    """One line per galaxy and parameter."""
    head = (f"{'galaxy':<17s}{'parameter':<13s}{'truth':>8s}{'JAM median':>12s}{'JAM sigma':>11s}{'shift/sig':>11s}"
            f"{'+-MC':>7s}{'width':>8s}{'+-MC':>7s}")
    lines = [head]
    for name, r in rows.items():
        for p, c in r["parameters"].items():
            truth = r["truth"].get(p)
            lines.append(f"{name:<17s}{p:<13s}{truth if truth is not None else float('nan'):>8.4g}"
                         f"{c['jam']['median']:>12.4g}{c['jam']['sigma']:>11.3g}{c['shift_sigma']:>11.3f}"
                         f"{c['shift_mc_error']:>7.3f}{c['width_ratio']:>8.3f}{c['width_ratio_mc_error']:>7.3f}")
    lines.append("")
    lines.append(f"{'galaxy':<17s}{'energy excess':>14s}{'edge mass':>11s}{'s/call emu':>12s}{'s/call JAM':>12s}"
                 f"{'x per call':>12s}{'x per ESS':>11s}{'JAM wall [s]':>14s}{'goals m/w/s':>13s}")
    for name, r in rows.items():
        sp, g, d = r["speed"], r["goals"], r["diagnostics"]["jam"]
        lines.append(f"{name:<17s}{r['energy']['excess']:>14.2f}{d.get('edge_mass', 0.0):>11.2g}"
                     f"{sp['emulator']['seconds_per_call']:>12.3g}{sp['jam']['seconds_per_call']:>12.3g}"
                     f"{sp['speedup_per_call']:>12.3g}{sp['speedup_per_effective_sample']:>11.3g}"
                     f"{sp['jam']['wall_seconds']:>14.0f}"
                     f"{'/'.join('y' if g[k] else 'n' for k in ('medians', 'widths', 'speed')):>13s}")
    return "\n".join(lines)


if __name__ == "__main__":
    main()

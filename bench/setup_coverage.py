"""Which Sérsic galaxies of the IFU surveys' set-ups the emulators take, and which they refuse.

For each survey set-up of docs/parameter_space.md (spaxel, PSF FWHM and R_e range) ``--n`` random
Sérsic galaxies (n uniform in [0.5, 8], q_obs uniform in [0.2, 1], R_e log-uniform in the
survey's range; seeded) are bound as a fit binds them, at positions inside 2 R_e: once to the Sérsic
emulator alone (as every Sérsic galaxy was before the loader sent those outside its domain to the
general emulator) and once to the emulator the loader picks (``fastjam.emulator.model.for_galaxy``).
A refusal is counted with the first feature its message names::

    python bench/setup_coverage.py --n 200

Prints a table and writes ``bench/results/setup_coverage.json``.
"""
import argparse
import logging
import re
import sys
from collections import Counter
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import RESULTS, git_commit, machine_info, shown_path  # noqa: E402

from fastjam.atomic import write_json  # noqa: E402

#: survey: spaxel [arcsec], PSF FWHM range [arcsec], R_e range [arcsec] (docs/parameter_space.md)
SURVEYS = dict(SAURON=(0.8, (1.5, 1.5), (3.0, 100.0)), CALIFA=(1.0, (2.5, 2.5), (5.0, 30.0)),
               SAMI=(0.5, (2.1, 2.1), (1.5, 15.0)), MaNGA=(0.5, (2.5, 2.5), (2.0, 20.0)),
               MUSE=(0.2, (0.6, 1.0), (10.0, 100.0)))
DISTANCE, L_TOT = 20.0, 1e10


def galaxies(survey, n, rng):
    """``n`` random Sérsic galaxies under a survey's set-up."""
    from fastjam.galaxy import FWHM_PER_SIGMA, Galaxy, Sersic

    spaxel, fwhm, r_e = SURVEYS[survey]
    draw = dict(n=rng.uniform(0.5, 8.0, n), q_obs=rng.uniform(0.2, 1.0, n),
                r_e=np.exp(rng.uniform(*np.log(r_e), n)), fwhm=rng.uniform(*fwhm, n))
    return [Galaxy(Sersic(draw["n"][k], draw["r_e"][k], draw["q_obs"][k], L_TOT), DISTANCE,
                   draw["fwhm"][k] / FWHM_PER_SIGMA, spaxel) for k in range(n)]


def outcome(emulator, galaxy):
    """``emulator.kind`` if it binds ``galaxy`` at positions inside 2 R_e, else the refused feature."""
    r_e = galaxy.photometry.r_e
    try:
        emulator.bind(galaxy, np.array([0.1, 1.0, 2.0]) * r_e, np.array([0.0, 0.5, 1.0]) * r_e)
    except ValueError as err:
        found = re.search(r"([A-Za-z_/ ]+?) (?:of Gaussian \d+ )?= ", str(err).split(":", 1)[-1])
        return "refused: " + (found.group(1).strip() if found else str(err)[:60])
    return emulator.kind


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=200, help="galaxies per survey")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", default=str(RESULTS / "setup_coverage.json"))
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    from fastjam.emulator.model import Emulator, for_galaxy
    from fastjam.emulator.store import default_path

    sersic_alone = Emulator.load(default_path("sersic"))  # given explicitly: kept for every Sérsic galaxy
    default = Emulator.load(kind="sersic")  # a default: for_galaxy swaps it where the general one is needed
    rng, rows = np.random.default_rng(args.seed), []
    for survey in SURVEYS:
        sample = galaxies(survey, args.n, rng)
        before = Counter(outcome(sersic_alone, g) for g in sample)
        after = Counter(outcome(for_galaxy(default, g), g) for g in sample)
        rows.append(dict(survey=survey, galaxies=len(sample), before=dict(before), after=dict(after)))
        refused = [sum(v for k, v in c.items() if k.startswith("refused")) / len(sample) for c in (before, after)]
        print(f"{survey:>7}: refused {refused[0]:6.1%} with the Sérsic emulator alone "
              f"({', '.join(f'{k[9:]} {v}' for k, v in before.most_common() if k.startswith('refused'))}); "
              f"now {after.get('sersic', 0)} Sérsic, {after.get('general', 0)} general, refused {refused[1]:.1%} "
              f"({', '.join(f'{k[9:]} {v}' for k, v in after.most_common() if k.startswith('refused'))})")
    write_json(args.json, dict(benchmark="setup_coverage", rows=rows, surveys=SURVEYS,
                               args=dict(vars(args), json=shown_path(args.json)), git=git_commit(),
                               machine=machine_info()))
    print(f"written {shown_path(args.json)}")


if __name__ == "__main__":
    main()

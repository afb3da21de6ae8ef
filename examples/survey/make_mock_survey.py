"""Write a mock survey: jampy mocks across the emulator's domain as a catalog, text tables and
MaNGA-DAP-like MAPS files (fastjam.mock_survey).

    python examples/survey/make_mock_survey.py --n 120 --out ~/.cache/fastjam/mock_survey
    fastjam survey ~/.cache/fastjam/mock_survey/catalog.csv --config examples/survey/defaults.toml \
        --out ~/.cache/fastjam/mock_survey/fits --workers 2
"""
import argparse
import logging
from pathlib import Path

from fastjam.mock_survey import write_mock_survey


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=120, help="number of galaxies (default 120)")
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--out", required=True, help="output directory (catalog.csv and kinematics/)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    print(f"catalog written to {write_mock_survey(Path(args.out).expanduser(), args.n, args.seed)}")


if __name__ == "__main__":
    main()

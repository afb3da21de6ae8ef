"""Truth recovery across a mock survey: pulls (median - truth)/sigma and recovered-vs-true plots.

    python examples/survey/make_mock_survey.py --n 120 --out ~/.cache/fastjam/mock_survey
    python bench/survey_recovery.py --catalog ~/.cache/fastjam/mock_survey/catalog.csv \
        --out ~/.cache/fastjam/mock_survey/fits --workers 2
    python bench/survey_recovery.py ... --scheduler tcp://127.0.0.1:8786 --name survey_recovery_scheduler

Runs ``fastjam survey`` (resuming when ``--out`` holds a survey), then prints the pull table
and writes JSON and the figure to ``bench/results/NAME.json`` and ``NAME.png``.
"""
import argparse
import json
import logging
from pathlib import Path

from _common import REPO, RESULTS, machine_info, shown_path


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--catalog", required=True)
    parser.add_argument("--config", default=str(REPO / "examples/survey/defaults.toml"))
    parser.add_argument("--out", required=True, help="survey directory")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--scheduler", default=None)
    parser.add_argument("--name", default="survey_recovery", help="stem of the JSON and PNG in bench/results")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    logging.getLogger("fastjam.survey").setLevel(logging.INFO)

    from astropy.table import Table

    from fastjam import plots
    from fastjam.recovery import recovery_summary, recovery_text
    from fastjam.survey import survey

    out = Path(args.out).expanduser()
    run = survey(Path(args.catalog).expanduser(), out, settings=args.config, workers=args.workers,
                 scheduler=args.scheduler, resume=(out / "results.csv").exists())
    table = Table.read(out / "results.fits")
    summary = recovery_summary(table)
    status = {s: int((table["status"] == s).sum()) for s in ("ok", "warning", "refused", "failed")}
    print(run)
    print(f"{len(table)} galaxies: {status}")
    print(recovery_text(summary))
    report = dict(catalog=args.catalog.replace(str(Path.home()), "~"), config=shown_path(args.config),
                  scheduler="external" if args.scheduler else f"local, {args.workers} workers",
                  run=dict(fitted=run.n_fitted, done_before=run.n_done_before, wall_seconds=run.wall_seconds,
                           galaxies_per_hour=run.galaxies_per_hour, workers=run.workers),
                  status=status, pulls=summary, machine=machine_info(),
                  task_seconds_per_galaxy=dict(wall=float(table["wall_seconds"].mean()),
                                               cpu=float(table["cpu_seconds"].mean())),
                  r_hat_max=float(table["r_hat"][table["status"] == "ok"].max()),
                  ess_bulk_min=float(table["ess_bulk"][table["status"] == "ok"].min()))
    (RESULTS / f"{args.name}.json").write_text(json.dumps(report, indent=2))
    plots.save(plots.recovery_plot(table), RESULTS / f"{args.name}.png")
    print(f"written {RESULTS / args.name}.json and .png")


if __name__ == "__main__":
    main()

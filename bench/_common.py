"""Helpers shared by the benchmark scripts (run as ``python bench/NAME.py``)."""
import os
import platform
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
RESULTS = Path(__file__).resolve().parent / "results"


def shown_path(path):
    """``path`` relative to the repository when inside it (keeps local paths out of the JSON)."""
    path = Path(path).resolve()
    try:
        return str(path.relative_to(REPO))
    except ValueError:
        return str(path)


def machine_info():
    """Platform, CPU count and load averages at the time of the call."""
    return dict(platform=platform.platform(), processor=platform.processor(), machine=platform.machine(),
                python=platform.python_version(), cpu_count=os.cpu_count(), loadavg_at_start=os.getloadavg())


def machine_line(machine):
    """One table line: CPUs and the load average at the start and end of a run."""
    return (f"{machine['cpu_count']} CPUs, load average {machine['loadavg_at_start'][0]:.1f} at start, "
            f"{machine['loadavg_at_end'][0]:.1f} at end")

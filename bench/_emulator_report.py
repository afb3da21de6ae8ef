"""Environment record and plain-text tables of ``bench/emulator.py``."""
import os

from _common import THREAD_ENV, cpu_model, machine_info, memory_gb


def environment(threads):
    """Machine, package versions and thread settings."""
    import jampy
    import jax
    import jaxlib
    import mgefit
    import numpy as np
    import scipy
    import torch

    import fastjam

    machine = dict(machine_info(), cpu_model=cpu_model(), memory_gb=memory_gb())
    if hasattr(os, "sched_getaffinity"):
        machine["cpus_available"] = len(os.sched_getaffinity(0))
    if hasattr(os, "getloadavg"):
        machine["load_average_at_start"] = list(os.getloadavg())
    versions = dict(fastjam=fastjam.__version__, jampy=jampy.__version__, mgefit=mgefit.__version__,
                    numpy=np.__version__, scipy=scipy.__version__, torch=torch.__version__, jax=jax.__version__,
                    jaxlib=jaxlib.__version__)
    thread_info = dict(requested=threads, torch_threads=torch.get_num_threads(),
                       torch_interop_threads=torch.get_num_interop_threads(),
                       env={k: os.environ.get(k) for k in THREAD_ENV + ("XLA_FLAGS",)},
                       jax_devices=[str(d) for d in jax.devices()])
    return machine, versions, thread_info


def _num(value):
    """A number for the tables: thousands separators above 1000, 4 significant digits below."""
    return f"{value:,.0f}" if value >= 1000 else f"{value:.4g}"


def _speedup(row):
    value = row["speedup_vs_jampy"]
    return f"{_num(value)}x" if value else "-"


def table_main(rows, sigma_re, npos):
    lines = [f"Emulator vs jampy at sigma_psf/R_e = {sigma_re:.4g} (grid = 64 x 64 map grid, "
             f"data = {npos} positions; speed-up against jampy of the same output)",
             f"{'case':<40s} {'batch':>6s} {'output':>6s} {'ms/map':>11s} {'maps/s':>11s} {'speed-up':>10s} "
             f"{'1st call s':>10s}"]
    for r in rows:
        lines.append(f"{r['label']:<40s} {r['batch']:>6d} {r['output']:>6s} {_num(r['ms_per_map']):>11s} "
                     f"{_num(r['maps_per_s']):>11s} {_speedup(r):>10s} {r['first_call_s']:>10.3g}")
    return "\n".join(lines)


def table_sweep(sweep):
    if not sweep:
        return ""
    names = [r["case"] for r in sweep[0]["rows"]]
    labels = {r["case"]: r["label"] for r in sweep[0]["rows"]}
    lines = ["Across sigma_psf/R_e: ms per map (speed-up against jampy of the same output)"]
    lines.append(f"{'case':<40s}" + "".join(f"{s['sigma_psf_re']:>20.4g}" for s in sweep))
    for name in names:
        cells = []
        for s in sweep:
            r = next(r for r in s["rows"] if r["case"] == name)
            sp = f" ({_speedup(r)})" if r["speedup_vs_jampy"] else ""
            cells.append(f"{_num(r['ms_per_map'])}{sp}")
        lines.append(f"{labels[name]:<40s}" + "".join(f"{c:>20s}" for c in cells))
    return "\n".join(lines)

"""Speed of the emulator against jampy, in one run on one machine.

All timings are wall-clock milliseconds per map (``time.perf_counter``): each case is called
once untimed (warm-up: imports, cached MGE fits, JAX compilation, whose time is recorded as
``first_call_s``), then ``--repeats`` times ``number`` calls, where ``number`` is chosen so
that one repeat lasts at least ``--min-time`` seconds; the table shows the median over the
repeats of the time per call divided by the batch size. JAX results are waited for with
``block_until_ready``.

The cases, at a stated sigma_psf / R_e (``--sigma``, by default the middle of the training
range in log, :math:`\\sqrt{0.02 \\times 0.3}` for the default parameter space) for a
mid-range galaxy (the centre of the unit cube of the design, see
:meth:`fastjam.design.ParameterSpace.from_unit`):

jampy
    :func:`fastjam.jam.dimensionless_map` on the 64 x 64 map grid, and at ``--npos`` data
    positions, with the jampy settings of the emulator's training set (or ``--nrad``/``--nang``).
torch, batch 1
    ``Emulator.log_maps(params, cache=True)`` (photometry latent cached, as when the same galaxy
    is evaluated repeatedly) and ``cache=False`` (photometry image and CNN every call), full map
    grid; and ``Emulator.vrms`` (the forward-model interface: validation, interpolation at the
    data positions, km/s) with the latent cached.
torch, batch ``--batch``
    ``Emulator.log_maps`` on ``--batch`` parameter sets with distinct photometries (n takes 32
    values, so that the MGE fits stay cached; q_obs differs for every map), cached and uncached.
JAX, batch 1
    ``jax.jit(Emulator.bind(...))`` at the data positions, and the full-grid
    :func:`fastjam.emulator.jax_model.log_maps` jitted with the latent precomputed.
JAX, batch ``--batch``
    ``jax.vmap`` of the two functions above: the data-position function over (inclination,
    beta_z, M/L) of one galaxy, the full-grid function over the same parameter sets as torch's
    batch (latents precomputed).

Speed-ups are against jampy in the same run: full-grid cases against jampy on the map grid,
data-position cases against jampy at the data positions. A sweep over ``--sigmas`` repeats
jampy and the batch-1 emulator cases at other values of sigma_psf / R_e (jampy's cost depends
on it; the emulator's does not).

The results are printed as plain-text tables and written as JSON (``--json``) with the machine,
the package versions, the thread settings and the arguments.

Examples
--------
Quick check on a small emulator (seconds)::

    python bench/emulator.py --model /tmp/tiny_emulator --repeats 2 --batch 256 --sigmas 0.05 \\
        --min-time 0.05 --json /tmp/emulator_bench.json

Full run (the shipped emulator)::

    python bench/emulator.py --threads 1
"""
import argparse
import datetime
import os
import sys
import time
from pathlib import Path

from _common import RESULTS, git_commit, limit_threads, measure, shown_path  # noqa: E402
from _emulator_report import environment, table_main, table_sweep  # noqa: E402

DEFAULT_JSON = RESULTS / "emulator.json"

#: Distinct Sérsic indices in the batched parameter sets (each needs one cached MGE fit).
N_DISTINCT_N = 32


def build_parser():
    p = argparse.ArgumentParser(
        description="Benchmark the fastjam emulator (torch and JAX, batch 1 and batched, latent cached or not) "
                    "against jampy, side by side in one run; prints tables and writes JSON.")
    p.add_argument("--model", type=Path, default=None,
                   help="emulator directory (emulator.npz + emulator.json); default: the shipped emulator "
                        "(fastjam.emulator.store.default_path(), or $FASTJAM_EMULATOR)")
    p.add_argument("--json", type=Path, default=DEFAULT_JSON, help="output JSON (default bench/results/emulator.json)")
    p.add_argument("--sigma", type=float, default=None,
                   help="sigma_psf/R_e of the main table (default: middle of the training range in log)")
    p.add_argument("--sigmas", type=float, nargs="*", default=None,
                   help="sigma_psf/R_e values of the sweep (default: 5 log-spaced values over the training range; "
                        "give none to skip the sweep)")
    p.add_argument("--batch", type=int, default=4096, help="maps per batched call (default 4096)")
    p.add_argument("--npos", type=int, default=232, help="data positions of the V_RMS functions (default 232)")
    p.add_argument("--repeats", type=int, default=5, help="timed repeats per case; the median is shown (default 5)")
    p.add_argument("--min-time", type=float, default=0.2,
                   help="minimum seconds per repeat; fast cases are called several times per repeat (default 0.2)")
    p.add_argument("--threads", type=int, default=None,
                   help="threads of torch (torch.set_num_threads), of BLAS (jampy) and, when 1, of XLA "
                        "(default: the libraries' own defaults)")
    p.add_argument("--nrad", type=int, default=None, help="jampy nrad (default: the emulator's training set's)")
    p.add_argument("--nang", type=int, default=None, help="jampy nang (default: the emulator's training set's)")
    p.add_argument("--seed", type=int, default=0, help="seed of the positions and the batched parameter sets")
    p.add_argument("--skip-jampy", action="store_true", help="time the emulator only (no speed-ups)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress messages")
    return p


def parse_args(argv=None):
    p = build_parser()
    args = p.parse_args(argv)
    for name in ("batch", "npos", "repeats"):
        if getattr(args, name) < 1:
            p.error(f"--{name} must be >= 1")
    if args.min_time < 0:
        p.error("--min-time must be >= 0")
    if args.threads is not None and args.threads < 1:
        p.error("--threads must be >= 1")
    return p, args


# --------------------------------------------------------------------------------------------
# the cases


class Bench:
    """The emulator, its jampy settings and the parameter sets of one benchmark run."""

    def __init__(self, args):
        import numpy as np

        from fastjam.design import ParameterSpace
        from fastjam.emulator import Emulator
        from fastjam.jam import JAMSettings

        self.args = args
        self.emu = Emulator.load(args.model)
        self.card = self.emu.card
        self.space = ParameterSpace.from_dict(self.card["space"])
        jam = dict(self.card.get("training", {}).get("data_meta", {}).get("jam_settings", {}))
        if args.nrad is not None:
            jam["nrad"] = args.nrad
        if args.nang is not None:
            jam["nang"] = args.nang
        self.jam_settings = JAMSettings(**jam)
        rng = np.random.default_rng(args.seed)
        # data positions in R_e, inside the emulated field
        from fastjam.physics import grid

        half = grid.FIELD_HALF * (1 - 1e-9)
        self.x_re, self.y_re = rng.uniform(-half, half, (2, args.npos))

    # parameter sets --------------------------------------------------------------------------

    def unit_sigma(self, sigma_re):
        """Unit-cube coordinate of sigma_psf / R_e (log-uniform axis of the design)."""
        import numpy as np

        lo, hi = self.space.sigma_psf_re
        if not lo <= sigma_re <= hi:
            raise ValueError(f"sigma_psf / R_e = {sigma_re:g} is outside the emulator's range [{lo:g}, {hi:g}]")
        return float((np.log(sigma_re) - np.log(lo)) / (np.log(hi) - np.log(lo)))

    def point(self, sigma_re):
        """The mid-range parameter set (n, q_obs, inc, beta_z, sigma_psf_re, pixsize_re) at ``sigma_re``."""
        import numpy as np

        u = np.full((1, 6), 0.5)
        u[0, 4] = self.unit_sigma(sigma_re)
        return self.space.from_unit(u)[0]

    def batch_params(self, sigma_re):
        """``--batch`` parameter sets with distinct photometries (n on N_DISTINCT_N values), PSF fixed."""
        import numpy as np

        from fastjam.design import sobol_design

        u_sobol = sobol_design(self.args.batch, self.args.seed + 1, _UnitSpace())
        u = u_sobol.copy()
        u[:, 0] = np.round(u[:, 0] * (N_DISTINCT_N - 1)) / (N_DISTINCT_N - 1)
        u[:, 4] = self.unit_sigma(sigma_re)
        u[:, 5] = 0.5
        return self.space.from_unit(u)

    def galaxy_params(self, sigma_re):
        """``--batch`` (inclination, beta_z, M/L) of the mid-range galaxy at ``sigma_re``."""

        from fastjam.design import sobol_design

        u = sobol_design(self.args.batch, self.args.seed + 2, _UnitSpace())
        ml = 1.0 + 9.0 * u[:, 0]
        u[:, [0, 1, 5]] = 0.5
        u[:, 4] = self.unit_sigma(sigma_re)
        p = self.space.from_unit(u)
        return p[:, 2], p[:, 3], ml

    def galaxy(self, p):
        """The reference galaxy (R_e = 1 arcsec) of a dimensionless parameter set."""
        from fastjam.galaxy import Galaxy, Sersic
        from fastjam.jam import REFERENCE

        r_e = REFERENCE["r_e"]
        return Galaxy(Sersic(float(p[0]), r_e, float(p[1]), REFERENCE["l_tot"]), REFERENCE["distance"],
                      float(p[4]) * r_e, float(p[5]) * r_e)

    # cases -----------------------------------------------------------------------------------

    def cases(self, sigma_re, full):
        """(name, label, engine, batch, output, fn) of every case at ``sigma_re``."""
        import jax
        import jax.numpy as jnp

        from fastjam.emulator import jax_model
        from fastjam.emulator.features import param_features
        from fastjam.jam import REFERENCE, dimensionless_map

        emu, args = self.emu, self.args
        p = self.point(sigma_re)
        g = self.galaxy(p)
        r_e = REFERENCE["r_e"]
        x, y = self.x_re * r_e, self.y_re * r_e
        inc, beta, ml = float(p[2]), float(p[3]), 3.0
        out = []
        if not args.skip_jampy:
            settings = self.jam_settings
            out.append(("jampy_grid", "jampy, map grid", "jampy", 1, "grid",
                        lambda: dimensionless_map(*p, settings)))
            out.append(("jampy_data", f"jampy, {args.npos} positions", "jampy", 1, "data",
                        lambda: dimensionless_map(*p, settings, x=self.x_re, y=self.y_re)))
        p1 = p[None]
        out.append(("torch_b1_cached", "torch log_maps, latent cached", "torch", 1, "grid",
                    lambda: emu.log_maps(p1, cache=True)))
        if full:
            out.append(("torch_b1_uncached", "torch log_maps, uncached", "torch", 1, "grid",
                        lambda: emu.log_maps(p1, cache=False)))
            out.append(("torch_vrms_b1", f"torch vrms(), {args.npos} positions", "torch", 1, "data",
                        lambda: emu.vrms(g, inc, beta, ml, x, y)))

        # JAX, batch 1
        vrms = emu.bind(g, x, y)
        vrms_jit = jax.jit(vrms)
        a_inc, a_beta, a_ml = (jnp.float32(v) for v in (inc, beta, ml))
        out.append(("jax_vrms_b1", f"JAX jit vrms, {args.npos} positions", "jax", 1, "data",
                    lambda: vrms_jit(a_inc, a_beta, a_ml).block_until_ready()))
        weights = jax_model.to_jax(emu.arrays)
        config, space = self.card["network"], self.card["space"]

        def one_map(first, q_obs, inclination, beta_z, sig, pix):
            pf = param_features(q_obs, inclination, beta_z, sig, pix, space, xp=jnp).astype(jnp.float32)
            return jax_model.log_maps(weights, first[None], pf[None], config)[0]

        one_map_jit = jax.jit(one_map)
        first1 = jnp.asarray(emu._first_inputs(p1[:, 0], p1[:, 1]).cpu().numpy()[0])
        args1 = tuple(jnp.float32(v) for v in (p[1], p[2], p[3], p[4], p[5]))
        out.append(("jax_grid_b1", "JAX jit log_maps, latent given", "jax", 1, "grid",
                    lambda: one_map_jit(first1, *args1).block_until_ready()))
        if not full:
            return out

        # batched
        b = args.batch
        pb = self.batch_params(sigma_re)
        out.append(("torch_batch_cached", "torch log_maps, latent cached", "torch", b, "grid",
                    lambda: emu.log_maps(pb, cache=True)))
        out.append(("torch_batch_uncached", "torch log_maps, uncached", "torch", b, "grid",
                    lambda: emu.log_maps(pb, cache=False)))
        incs, betas, mls = (jnp.asarray(v, dtype=jnp.float32) for v in self.galaxy_params(sigma_re))
        vrms_vmap = jax.jit(jax.vmap(vrms))
        out.append(("jax_vrms_batch", f"JAX vmap vrms, {args.npos} positions", "jax", b, "data",
                    lambda: vrms_vmap(incs, betas, mls).block_until_ready()))
        firsts = jnp.asarray(emu._first_inputs(pb[:, 0], pb[:, 1]).cpu().numpy())
        cols = tuple(jnp.asarray(pb[:, k], dtype=jnp.float32) for k in range(1, 6))
        grid_vmap = jax.jit(jax.vmap(one_map))
        out.append(("jax_grid_batch", "JAX vmap log_maps, latents given", "jax", b, "grid",
                    lambda: grid_vmap(firsts, *cols).block_until_ready()))
        return out

    def run(self, sigma_re, full):
        """Time every case at ``sigma_re``; rows with speed-ups against jampy of the same output."""
        rows = []
        for name, label, engine, batch, output, fn in self.cases(sigma_re, full):
            if not self.args.quiet:
                print(f"  sigma_psf/R_e = {sigma_re:.4g}: {label}, batch {batch}", file=sys.stderr, flush=True)
            t = measure(fn, batch, self.args.repeats, self.args.min_time)
            rows.append(dict(case=name, label=label, engine=engine, batch=batch, output=output,
                             sigma_psf_re=sigma_re, **t))
        jampy = {r["output"]: r["ms_per_map"] for r in rows if r["engine"] == "jampy"}
        for r in rows:
            ref = jampy.get(r["output"])
            r["speedup_vs_jampy"] = ref / r["ms_per_map"] if ref is not None and r["engine"] != "jampy" else None
        return rows


class _UnitSpace:
    """Identity 'space' so that :func:`fastjam.design.sobol_design` returns unit-cube points."""

    @staticmethod
    def from_unit(u):
        return u


def main(argv=None):
    parser, args = parse_args(argv)
    limit_threads(args.threads)
    import numpy as np
    import torch

    from fastjam.emulator.store import default_path

    if args.threads is not None:
        torch.set_num_threads(args.threads)
    args.model = Path(args.model) if args.model is not None else default_path()
    if not (args.model / "emulator.npz").is_file() or not (args.model / "emulator.json").is_file():
        parser.error(f"no emulator in {args.model} (expected emulator.npz and emulator.json): train one with "
                     f"'fastjam train' and pass --model DIR, or set FASTJAM_EMULATOR")
    bench = Bench(args)
    lo, hi = bench.space.sigma_psf_re
    sigma = args.sigma if args.sigma is not None else float(np.sqrt(lo * hi))
    sigmas = args.sigmas if args.sigmas is not None else [float(s) for s in np.geomspace(lo, hi, 5)]
    try:
        for s in [sigma, *sigmas]:
            bench.unit_sigma(s)
    except ValueError as exc:
        parser.error(str(exc))
    machine, versions, threads = environment(args.threads)
    t_start = time.perf_counter()
    main_rows = bench.run(sigma, full=True)
    sweep = [dict(sigma_psf_re=s, rows=bench.run(s, full=False)) for s in sigmas]
    if hasattr(os, "getloadavg"):
        machine["load_average_at_end"] = list(os.getloadavg())
    result = dict(
        benchmark="emulator",
        date=datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        command=" ".join([Path(sys.argv[0]).name] + (sys.argv[1:] if argv is None else list(argv))),
        machine=machine, versions=versions, threads=threads, git=git_commit(),
        model=dict(path=shown_path(args.model), network=bench.card["network"],
                   n_weights=int(sum(p.numel() for p in bench.emu.net.parameters())),
                   space=bench.card["space"]),
        jam_settings=bench.jam_settings.as_dict(),
        settings=dict(batch=args.batch, npos=args.npos, repeats=args.repeats, min_time=args.min_time,
                      seed=args.seed, n_distinct_sersic_n=N_DISTINCT_N),
        point=dict(zip(("n", "q_obs", "inclination", "beta_z", "sigma_psf_re", "pixsize_re"),
                       map(float, bench.point(sigma)))),
        sigma_psf_re=sigma, main=main_rows, sweep=sweep, wall_seconds=time.perf_counter() - t_start,
    )
    from fastjam.atomic import write_json

    args.json.parent.mkdir(parents=True, exist_ok=True)
    write_json(args.json, result)
    print(table_main(main_rows, sigma, args.npos))
    if sweep:
        print()
        print(table_sweep(sweep))
    print(f"\nmachine: {machine['cpu_model']}, {machine.get('cpus_available', machine['cpu_count'])} CPUs, "
          f"torch threads {threads['torch_threads']}; load average at start {machine.get('load_average_at_start')}")
    print(f"written {shown_path(args.json)}")
    return result


if __name__ == "__main__":
    main()

"""Cost of one likelihood evaluation of the general emulator in JAX, per encoder design, side by side.

Each design of ``bench/general_emulator.py`` is built with random weights (the cost does not
depend on their values), stored and bound to one MGE galaxy at ``--bins`` positions exactly as a
fit binds it (:func:`fastjam.emulator.general_jax.bind`, tokens padded to 30 Gaussians); then
the jit-compiled V_RMS and its gradient with respect to (inclination, beta_z, M/L) are timed::

    python bench/general_speed.py --designs hybrid-anchors-k128 jeans-anchors-k128

Also timed, in torch: one training step (forward and backward on a batch of ``--batch`` maps) with the
profile encoder's input computed in the step, as before it was precomputed, and read precomputed
(:func:`fastjam.emulator.general_data.with_profile_input`), as training now does; and a whole optimiser
step (forward, backward and the AdamW update) with torch's plain AdamW and with its fused one
(:func:`fastjam.emulator.train.optimiser`), timed in turns so that both see the same machine load.

Prints a table and writes ``bench/results/general_speed.json``.
"""
import argparse
import json
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import RESULTS, limit_threads, machine_info, measure, shown_path  # noqa: E402


def _bound(design, galaxy, x, y):
    from general_emulator import DESIGNS

    from fastjam.emulator import general_jax
    from fastjam.emulator.general import GeneralConfig, GeneralEmulatorNetwork
    from fastjam.emulator.general_features import feature_definition
    from fastjam.emulator.store import load_arrays, save_emulator

    with tempfile.TemporaryDirectory() as tmp:
        save_emulator(tmp, GeneralEmulatorNetwork(GeneralConfig(**DESIGNS[design])), dict(kind="general"), None, {},
                      features=feature_definition())
        return general_jax.bind(*load_arrays(tmp), galaxy, x, y)


def time_design(design, galaxy, x, y, repeats):
    """Median ms per call of the jit-compiled V_RMS and of its gradient (:func:`_common.measure`)."""
    import jax
    import jax.numpy as jnp

    model = _bound(design, galaxy, x, y)
    point = jnp.array([80.0, 0.1, 2.0])
    value = jax.jit(lambda p: model(p[0], p[1], p[2]))
    grad = jax.jit(jax.grad(lambda p: jnp.sum(model(p[0], p[1], p[2]) ** 2)))
    return dict(design=design,
                value_ms=measure(lambda: value(point).block_until_ready(), 1, repeats, 0.2)["ms_per_call"],
                gradient_ms=measure(lambda: grad(point).block_until_ready(), 1, repeats, 0.2)["ms_per_call"])


def time_training_step(design, galaxy, batch, repeats):
    """Median ms per training step (torch, forward and backward on ``batch`` maps of ``galaxy`` at random
    inclinations) with the profile input computed in the step and precomputed; None without a profile
    encoder, and "computed" None where a design cannot compute it in the step (``profile_psf``)."""
    from general_emulator import DESIGNS

    from fastjam.emulator.general import GeneralConfig, GeneralEmulatorNetwork
    from fastjam.emulator.general_data import network_inputs, with_profile_input

    config = GeneralConfig(**DESIGNS[design])
    if not config.uses_profile:
        return None
    net, inp, idx = GeneralEmulatorNetwork(config), _batch_inputs(galaxy, batch), np.arange(batch)

    def step(d):
        net.zero_grad()
        net(*network_inputs(d, idx)).square().mean().backward()

    ms = {}
    for name, d in (("computed", inp), ("precomputed", with_profile_input(inp, config))):
        ms[name] = None if name == "computed" and config.profile_psf else \
            measure(lambda: step(d), 1, repeats, 0.2)["ms_per_call"]
    return dict(design=design, batch=batch, step_ms_computed=ms["computed"], step_ms_precomputed=ms["precomputed"])


def time_optimiser_step(design, galaxy, batch, repeats):
    """Median ms per whole training step (forward, backward, AdamW update) on ``batch`` maps of ``galaxy``
    with the plain and with the fused AdamW, timed in turns, and their ratio."""
    import torch
    from general_emulator import DESIGNS

    from fastjam.emulator.general import GeneralConfig, GeneralEmulatorNetwork
    from fastjam.emulator.general_data import network_inputs, with_profile_input

    config = GeneralConfig(**DESIGNS[design])
    inp = with_profile_input(_batch_inputs(galaxy, batch), config)
    idx, ms = np.arange(batch), dict(plain=[], fused=[])
    steps = {}
    for name, fused in (("plain", False), ("fused", True)):
        net = GeneralEmulatorNetwork(config)
        opt = torch.optim.AdamW(net.parameters(), lr=1e-5, fused=fused)

        def step(net=net, opt=opt):
            opt.zero_grad()
            net(*network_inputs(inp, idx)).square().mean().backward()
            opt.step()
        steps[name] = step
    for _ in range(repeats):
        for name in ms:
            ms[name].append(measure(steps[name], 1, 1, 0.2)["ms_per_call"])
    plain, fused = (float(np.median(ms[k])) for k in ("plain", "fused"))
    return dict(design=design, batch=batch, step_ms_plain_adamw=plain, step_ms_fused_adamw=fused, ratio=plain / fused)


def _batch_inputs(galaxy, batch):
    """Network inputs of ``batch`` maps of one galaxy at random inclinations."""
    from fastjam.emulator.general_features import beta_hi
    from fastjam.photometry import unit_photometry

    unit = unit_photometry(galaxy.mge, galaxy.distance)
    cos_i = np.random.default_rng(1).uniform(0.0, 0.9, batch)
    inp = dict(ln_sigma=np.tile(np.log(unit.sigma), (batch, 1)), qobs=np.tile(unit.qobs, (batch, 1)),
               weight=np.tile(unit.weight, (batch, 1)), cos_i=cos_i, sigma_psf_re=np.full(batch, 0.1),
               pixsize_re=np.full(batch, 0.08))
    inp["beta_hi"] = beta_hi(inp["qobs"], inp["weight"], cos_i)
    return inp


def _ms(value):
    return "-" if value is None else f"{value:.2f}"


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--designs", nargs="+", default=["hybrid-anchors-k128", "jeans-anchors-k128"])
    p.add_argument("--bins", type=int, default=400, help="data positions")
    p.add_argument("--repeats", type=int, default=7)
    p.add_argument("--batch", type=int, default=16, help="maps per training step")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--json", default=str(RESULTS / "general_speed.json"))
    args = p.parse_args(argv)
    limit_threads(args.threads)
    from fastjam.galaxy import Galaxy
    from fastjam.physics.mge import sersic_mge

    galaxy = Galaxy(sersic_mge(4.0, 0.6, r_e=10.0, l_tot=1e10, distance=20.0), 20.0, 1.0, 0.8)
    rng = np.random.default_rng(0)
    x, y = rng.uniform(-20, 20, (2, args.bins))
    rows = [time_design(d, galaxy, x, y, args.repeats) for d in args.designs]
    steps = [t for t in (time_training_step(d, galaxy, args.batch, args.repeats) for d in args.designs) if t]
    print(f"{'design':>30} {'value [ms]':>12} {'gradient [ms]':>14}")
    for r in rows:
        print(f"{r['design']:>30} {r['value_ms']:>12.3f} {r['gradient_ms']:>14.3f}")
    print(f"\n{'training step, ' + str(args.batch) + ' maps':>30} {'computed [ms]':>14} {'precomputed [ms]':>17}")
    for t in steps:
        print(f"{t['design']:>30} {_ms(t['step_ms_computed']):>14} {_ms(t['step_ms_precomputed']):>17}")
    updates = [time_optimiser_step(d, galaxy, args.batch, args.repeats) for d in args.designs]
    print(f"\n{'whole step, ' + str(args.batch) + ' maps':>30} {'plain AdamW [ms]':>17} {'fused AdamW [ms]':>17} "
          f"{'ratio':>6}")
    for u in updates:
        print(f"{u['design']:>30} {u['step_ms_plain_adamw']:>17.2f} {u['step_ms_fused_adamw']:>17.2f} "
              f"{u['ratio']:>6.2f}")
    shown = dict(vars(args), json=shown_path(args.json))
    Path(args.json).write_text(json.dumps(dict(benchmark="general_speed", rows=rows, training_steps=steps,
                                               optimiser_steps=updates, args=shown, machine=machine_info()),
                                          indent=1))


if __name__ == "__main__":
    main()

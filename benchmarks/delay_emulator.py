"""Delay-network emulator speed vs Lava: a dense 128-256-64 netx network with axonal delays up to 60.

    uv run python benchmarks/delay_emulator.py [--steps 3000] [--batch 64] [--threads 1]

Both dense layers carry per-neuron (axonal) delays drawn from 0..60, as slayer's learnt delays
are exported; the input is a random spike stream (rate 0.1) of --steps steps, no reset. Measures
in one run on the same machine:
  - Lava (Loihi2SimCfg fixed_pt, DelayDense) steps/s on one sample (monitors on every layer,
    compile and first step excluded),
  - the emulator at batch 1 (layer by layer: one matmul per layer over all steps, delays as
    time shifts, the neuron loop in numpy; the same sample: spikes must be identical to Lava's on
    every layer and step) and at --batch samples (sample-steps/s; torch's step loop with the
    delay ring buffer),
  - the ring-buffer step loop at batch 1 too (the path GPUs and large batches take),
  - the old one-matmul-per-delay-value emulator at batch 1 (on --old-steps steps), for the speedup.
Weights are balanced (-180..178): about 26% and 33% of the neurons fire per step.
Emulator times are the best of 2 runs; Lava's is one run (it takes about a minute).
Prints a table and writes benchmarks/results/delay_emulator.json.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def write_net(path: Path, sizes=(128, 256, 64), max_delay: int = 60, seed: int = 0) -> None:
    """A netx file in lava-dl slayer's layout: dense layers with axonal delays 0..max_delay."""
    import h5py

    rng = np.random.default_rng(seed)
    with h5py.File(path, "w") as f:
        g = f.create_group("layer")
        for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
            h = g.create_group(str(i))
            h.create_dataset("type", (1,), "S10", [b"dense"])
            h.create_dataset("shape", data=np.array([n_out]))
            h.create_dataset("weight", data=rng.integers(-90, 90, (n_out, n_in)) * 2)
            h.create_dataset("delay", data=rng.integers(0, max_delay + 1, n_out).astype(np.float32))
            for k, v in {"type": "CUBA", "iDecay": 1024, "vDecay": 256, "vThMant": 80,
                         "refDelay": 1, "gradedSpike": False}.items():
                h.create_dataset(f"neuron/{k}", data=v)


def timed(fn, repeats: int = 1):
    """(result, best seconds) over repeats."""
    best, out = float("inf"), None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return out, best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=3000, help="Steps per sample.")
    ap.add_argument("--batch", type=int, default=64, help="Samples per emulator batch.")
    ap.add_argument("--old-steps", type=int, default=300, help="Steps for the old per-delay emulator.")
    ap.add_argument("--threads", type=int, default=1, help="torch threads (1: small per-step ops "
                    "gain nothing from more, and on a shared machine extra threads stall).")
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks/results/delay_emulator.json")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    import tempfile

    from exporters.emulator import Emulator, run_streams
    from exporters.lava import lava_available, run_lava_streams
    from exporters.netx import read_netx

    tmp = Path(tempfile.mkdtemp(prefix="snn2hw-delay-")) / "delay_net.net"
    write_net(tmp)
    net = read_netx(tmp)
    rng = np.random.default_rng(1)
    S = args.steps
    x = (rng.random((args.batch, S, 128)) < 0.1).astype(np.int64)
    emu = Emulator(net, reset_interval=0)
    r1, t1 = timed(lambda: run_streams(emu, x[:1], S), 2)
    rb, tb = timed(lambda: run_streams(emu, x, S, batch_size=args.batch))
    rr, tr = timed(lambda: run_streams(emu, x[:1], S, layerwise=False))
    same_paths = all(np.array_equal(a.numpy(), b.numpy()) for a, b in zip(r1.spikes, rr.spikes))
    old = Emulator(net, reset_interval=0, delay_mode="per_delay")
    so = args.old_steps
    ro, to = timed(lambda: run_streams(old, x[:1, :so], so, layerwise=False))
    same_old = all(np.array_equal(a.numpy(), b[:so].numpy()) for a, b in
                   zip(ro.spikes, run_streams(emu, x[:1, :so], so, layerwise=False).spikes))
    res = {"machine": f"{platform.processor() or platform.machine()}, torch threads {args.threads}",
           "net": "dense 128-256-64, axonal delays 0..60", "steps": S,
           "emulator_b1_steps_per_s": S / t1, "emulator_batch": args.batch,
           "emulator_batch_sample_steps_per_s": args.batch * S / tb,
           "ring_step_loop_b1_steps_per_s": S / tr, "layerwise_equals_ring": same_paths,
           "old_per_delay_b1_steps_per_s": so / to, "old_equals_ring": same_old,
           "spikes": [int(s.sum()) for s in r1.spikes]}
    if lava_available():
        lr = run_lava_streams(tmp, x[:1], period=S, reset_interval=None, reset_offset=0,
                              num_layers=None, input_message_bits=0, timeout_s=1800)
        res["lava_steps_per_s"] = lr.steps_per_s
        res["lava_compile_s"] = lr.compile_s
        res["spikes_identical"] = all(np.array_equal(a.numpy(), b) for a, b in
                                      zip(r1.spikes, lr.spikes)) and \
            bool(np.array_equal(r1.v_last.numpy(), lr.v))
        res["ratio_b1"] = res["emulator_b1_steps_per_s"] / lr.steps_per_s
        res["ratio_batch"] = res["emulator_batch_sample_steps_per_s"] / lr.steps_per_s
    rows = [("machine", res["machine"]), ("network", res["net"]), ("steps", str(S)),
            ("Lava steps/s", f"{res.get('lava_steps_per_s', float('nan')):.1f}"),
            ("emulator steps/s, batch 1", f"{res['emulator_b1_steps_per_s']:.0f}"),
            (f"emulator sample-steps/s, batch {args.batch}",
             f"{res['emulator_batch_sample_steps_per_s']:.0f}"),
            ("emulator ring-buffer step loop steps/s, batch 1",
             f"{res['ring_step_loop_b1_steps_per_s']:.0f}"),
            ("old per-delay emulator steps/s, batch 1", f"{res['old_per_delay_b1_steps_per_s']:.0f}"),
            ("ratio emulator/Lava, batch 1", f"{res.get('ratio_b1', float('nan')):.1f}x"),
            (f"ratio emulator/Lava, batch {args.batch}", f"{res.get('ratio_batch', float('nan')):.1f}x"),
            ("spikes identical to Lava (every layer, step)", str(res.get("spikes_identical", "-"))),
            ("ring buffer == old per-delay emulator", str(same_old)),
            ("layer-by-layer == ring-buffer step loop", str(same_paths))]
    w = max(len(a) for a, _ in rows)
    for a, b in rows:
        print(f"{a:<{w}}  {b}")
    from snn2hw.fileio import atomic_write_text

    atomic_write_text(args.out, json.dumps(res, indent=2))
    print(f"written {args.out}")


if __name__ == "__main__":
    main()

"""Training throughput (forward + backward + SGD step) of a spiking student, snn2hw vs peers.

Same network, same neuron (LIF leak 0.5, V_th 1, hard reset, triangle surrogate), same batch, one
process, variants interleaved round by round (machines are noisy: compare ratios within one run).
Peers available in the project environment: Norse (its LIF with tau_syn_inv = 1/dt, i.e. no
synaptic memory, and dt * tau_mem_inv = 0.5, which is the same leak-0.5 neuron with the input
halved), a plain PyTorch time loop (snn2hw's reference path is exactly that), and torch.compile of
the whole plain model. GPU peers (SpikingJelly, snnTorch) run with ../shared/bench on a GPU machine.

    uv run python benchmarks/train_throughput.py                      # digits student, CPU
    uv run python benchmarks/train_throughput.py --arch vgg11 --batch 32 --iters 3
"""

from __future__ import annotations

import argparse
import copy
import json
import platform
import statistics
import time
from pathlib import Path

import torch
from torch import nn

from snn2hw.models import STUDENTS, ModelSpec, build_model
from snn2hw.neurons import PRESETS, SpikingNeuron, set_backend

SHAPES = {"digits-snn": (1, 8, 8)}


class NorseLIF(nn.Module):
    """Norse's LIF module over [T, B, ...], returning spikes only."""

    def __init__(self) -> None:
        super().__init__()
        from norse.torch import LIF, LIFParameters

        p = LIFParameters(tau_syn_inv=torch.tensor(1000.0), tau_mem_inv=torch.tensor(500.0),
                          v_th=torch.tensor(1.0), method="triangle", alpha=torch.tensor(1.0))
        self.lif = LIF(p, dt=1e-3)

    def forward(self, x):
        return self.lif(x)[0]


def swap_neurons(model: nn.Module, factory) -> nn.Module:
    for name, child in model.named_children():
        if isinstance(child, SpikingNeuron):
            setattr(model, name, factory())
        else:
            swap_neurons(child, factory)
    return model


def variants(base: nn.Module) -> dict[str, nn.Module]:
    out = {
        "snn2hw fused": set_backend(copy.deepcopy(base), "fused"),
        "plain loop (snn2hw reference)": set_backend(copy.deepcopy(base), "reference"),
        "norse LIF": swap_neurons(copy.deepcopy(base), NorseLIF),
    }
    try:
        out["torch.compile plain model"] = torch.compile(set_backend(copy.deepcopy(base), "reference"))
        out["snn2hw fused --compile"] = torch.compile(set_backend(copy.deepcopy(base), "fused"))
    except Exception as e:  # pragma: no cover - platform without a compiler
        print(f"torch.compile unavailable: {e}")
    return out


def step_fn(model: nn.Module, x: torch.Tensor, y: torch.Tensor):
    opt = torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9)

    def step():
        opt.zero_grad(set_to_none=True)
        nn.functional.cross_entropy(model(x), y).backward()
        opt.step()

    return step


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--arch", default="digits-snn", choices=sorted(STUDENTS))
    ap.add_argument("--batch", type=int, nargs="+", default=[64, 256])
    ap.add_argument("--timesteps", type=int, default=4)
    ap.add_argument("--iters", type=int, default=20, help="timed steps per round")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--threads", type=int, default=0,
                    help="torch threads (0: torch's default); 1 is steadier on a shared, loaded CPU")
    ap.add_argument("--out", default="benchmarks/results/train_throughput_cpu.json")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    in_shape = SHAPES.get(args.arch, (3, 32, 32))
    spec = ModelSpec("student", args.arch, in_shape, 10, args.timesteps, PRESETS["tet"])
    rows = []
    for b in args.batch:
        x, y = torch.rand(b, *in_shape), torch.randint(0, 10, (b,))
        models = variants(build_model(spec))
        steps = {k: step_fn(m, x, y) for k, m in models.items()}
        warm: dict[str, float] = {}
        for k, s in steps.items():  # warm-up (and compilation), timed: the compile cost
            t0 = time.perf_counter()
            for _ in range(3):
                s()
            warm[k] = time.perf_counter() - t0
        times: dict[str, list[float]] = {k: [] for k in steps}
        for _ in range(args.rounds):
            for k, s in steps.items():
                t0 = time.perf_counter()
                for _ in range(args.iters):
                    s()
                times[k].append((time.perf_counter() - t0) / args.iters)
        norse = statistics.median(times["norse LIF"])
        default = statistics.median(times["snn2hw fused"])
        for k, ts in times.items():
            ms = statistics.median(ts)
            row = {"variant": k, "arch": args.arch, "batch": b, "timesteps": args.timesteps,
                   "ms_per_step": 1e3 * ms, "images_per_s": b / ms, "vs_norse": norse / ms,
                   "vs_default": default / ms, "spread_ms": 1e3 * (max(ts) - min(ts)),
                   "warmup_3_steps_s": warm[k]}
            if "compile" in k:  # steps after which compiling beats the default, compile included
                gain = default - ms
                row["break_even_steps"] = (warm[k] - 3 * default) / gain if gain > 0 else None
            rows.append(row)
    print(f"\n{args.arch}, T={args.timesteps}, CPU ({torch.get_num_threads()} threads), fp32")
    print(f"{'variant':32} {'B':>5} {'ms/step':>9} {'img/s':>9} {'x Norse':>8} {'x default':>9} "
          f"{'warm-up s':>9} {'break-even steps':>16}")
    for r in rows:
        be = r.get("break_even_steps")
        print(f"{r['variant']:32} {r['batch']:>5} {r['ms_per_step']:>9.2f} {r['images_per_s']:>9.0f} "
              f"{r['vs_norse']:>8.2f} {r['vs_default']:>9.2f} {r['warmup_3_steps_s']:>9.1f} "
              f"{'' if 'compile' not in r['variant'] else ('never' if be is None else f'{be:.0f}'):>16}")
    import norse

    result = {"device": platform.processor() or platform.machine(), "threads": torch.get_num_threads(),
              "torch": torch.__version__, "norse": getattr(norse, "__version__", "?"),
              "dtype": "float32", "rows": rows}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()

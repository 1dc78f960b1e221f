"""GPU suite: spiking VGG-11 training throughput, snn2hw vs peers, plus the emulator's steps/s.

One process, one JSON. Sections, each with its own time share of --budget-s (a section that does
not fit is recorded as skipped with the reason, never silently dropped):
  1. check    triton vs fused spikes/gradients on a VGG-sized tensor, fp32 and bf16 (on the GPU)
  2. snn2hw   the vgg11 student (CIFAR shape, TET LIF) trained with SGD (lr 0.05, momentum 0.9,
              as the peers) at each --batch and dtype: fused eager, triton eager, triton + CUDA
              graphs (whole step as one graph), triton + torch.compile + CUDA graphs
  3. peers    benchmarks/peers/peer_train_throughput.py in a child process per batch (plain loop,
              torch.compile whole model with and without CUDA graphs, Norse, snnTorch,
              SpikingJelly 2.0 Triton); a peer whose package is missing is recorded with the error
  4. emulator the bit-exact Loihi emulator on benchmarks/fixtures/digits_export (sample steps/s)

    bash benchmarks/gpu_suite.sh                                     # GPU machine, writes $OUT
    uv run python benchmarks/gpu_suite.py --device cpu --quick --out /tmp/suite.json  # dry run
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import torch
from torch import nn

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from snn2hw.models import ModelSpec, build_model
from snn2hw.neurons import PRESETS, SpikingNeuron, set_backend
from snn2hw.train_step import TrainStep

PEERS = ["torch-naive-loop", "torch-compile-model", "torch-compile-model-cudagraphs", "norse-LIF",
         "snntorch-Leaky-loop", "spikingjelly-lif_multi_step-triton"]
QUICK_PEERS = ["torch-naive-loop", "norse-LIF", "snntorch-Leaky-loop",
               "spikingjelly-lif_multi_step-triton"]  # no compiles on a CPU dry run
# (name, neuron backend, cuda graphs, torch.compile)
VARIANTS = [("snn2hw fused", "fused", False, False),
            ("snn2hw triton", "auto", False, False),
            ("snn2hw triton + cuda-graphs", "auto", True, False),
            ("snn2hw triton + compile + cuda-graphs", "auto", True, True)]


class Clock:
    def __init__(self, budget_s: float) -> None:
        self.t0, self.budget = time.perf_counter(), budget_s

    def left(self) -> float:
        return self.budget - (time.perf_counter() - self.t0)


def sync(dev: torch.device) -> None:
    if dev.type == "cuda":
        torch.cuda.synchronize()


def check_kernels(dev: torch.device) -> list[dict]:
    """Triton vs fused on [T=4, B=128, 64, 16, 16] currents: spikes equal, gradient difference."""
    out = []
    for dtype in (torch.float32, torch.bfloat16):
        torch.manual_seed(0)
        x = (torch.randn(4, 128, 64, 16, 16, device=dev) * 1.5 + 0.4).to(dtype)
        w = torch.randn(x.shape, device=dev)
        res = {}
        for backend in ("triton", "fused"):
            xi = x.clone().requires_grad_()
            layer = SpikingNeuron(PRESETS["tet"], backend=backend)
            try:
                z = layer(xi)
            except ValueError as e:
                out.append({"dtype": str(dtype), "skipped": str(e)})
                break
            (z.float() * w).sum().backward()
            res[backend] = (z.detach(), xi.grad.float())
        else:
            (zt, gt), (zf, gf) = res["triton"], res["fused"]
            out.append({"dtype": str(dtype).replace("torch.", ""), "spikes_equal": bool(torch.equal(zt, zf)),
                        "spike_rate": float(zt.float().mean()),
                        "grad_max_abs_diff": float((gt - gf).abs().max()),
                        "grad_max_abs": float(gf.abs().max())})
    return out


def bench_snn2hw(name, backend, graphs, compiled, *, dev, B, T, dtype, iters, warmup) -> dict:
    row = {"variant": name, "dtype": dtype, "T": T, "B": B}
    if graphs and dev.type != "cuda":
        return {**row, "skipped": "CUDA graphs need a CUDA device"}
    torch.manual_seed(0)
    model = build_model(ModelSpec("student", "vgg11", (3, 32, 32), 10, T, PRESETS["tet"]))
    set_backend(model, backend)
    model = model.to(dev)
    if dev.type == "cuda":
        model = model.to(memory_format=torch.channels_last)  # as the peers
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    net = torch.compile(model) if compiled else model

    def ce(n, x, y):
        logits = n(x)
        return {"loss": nn.functional.cross_entropy(logits, y)}, logits

    step = TrainStep(ce, net, opt, precision=dtype, cuda_graphs=graphs, warmup=3)
    x = torch.randn(B, 3, 32, 32, device=dev)
    y = torch.randint(0, 10, (B,), device=dev)
    probe = next(m for m in model.modules() if isinstance(m, SpikingNeuron))
    row["neuron_path"] = probe.path_for(torch.empty(1, device=dev))
    t0 = time.perf_counter()
    for _ in range(warmup):
        terms, _ = step(x, y)
    sync(dev)
    row["warmup_s"] = round(time.perf_counter() - t0, 2)
    if dev.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    t0 = time.perf_counter()
    for _ in range(iters):
        terms, _ = step(x, y)
    sync(dev)
    dt = time.perf_counter() - t0
    row.update(img_per_s=round(B * iters / dt, 1), ms_per_iter=round(1e3 * dt / iters, 3),
               loss=float(terms["loss"].detach()), graph_replays=step.replays)
    if dev.type == "cuda":
        row["peak_GiB"] = round(torch.cuda.max_memory_allocated() / 2**30, 3)
        row["peak_reserved_GiB"] = round(torch.cuda.max_memory_reserved() / 2**30, 3)
    return row


def run_peers(B, T, iters, dtypes, names, timeout, dev) -> list[dict]:
    env = {**os.environ, "T": str(T), "B": str(B), "ITERS": str(iters), "DTYPES": ",".join(dtypes)}
    if dev.type == "cpu":
        env["CUDA_VISIBLE_DEVICES"] = ""
    cmd = [sys.executable, str(ROOT / "benchmarks" / "peers" / "peer_train_throughput.py"), *names]
    rows: list[dict] = []
    try:
        r = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout,
                           check=False)
        text, note = r.stdout, (f"exit {r.returncode}: {r.stderr[-300:]}" if r.returncode else None)
    except subprocess.TimeoutExpired as e:
        text = (e.stdout or b"").decode() if isinstance(e.stdout, bytes) else (e.stdout or "")
        note = f"timed out after {timeout:.0f} s (rows so far kept)"
    for line in text.splitlines():
        if line.startswith("{"):
            try:
                rows.append({"source": "peer", **json.loads(line)})
            except json.JSONDecodeError:
                pass
    seen = {(r.get("variant"), r.get("dtype")) for r in rows}
    for n in names:
        for d in dtypes:
            if (n, d) not in seen and not any(r.get("variant") == n.split("-")[0] for r in rows):
                rows.append({"source": "peer", "variant": n, "dtype": d, "T": T, "B": B,
                             "skipped": note or "no result printed"})
    return rows


def bench_emulator(dev, samples, batch) -> dict:
    from exporters.emulator import Emulator, run_samples

    folder = ROOT / "benchmarks" / "fixtures" / "digits_export"
    info = json.loads((folder / "quantization.json").read_text())
    T, bits = int(info["timesteps"]), int(info["input_message_bits"])
    emu = Emulator(folder / "model.net", device=dev)
    L = len(emu.net.layers)
    g = torch.Generator().manual_seed(0)
    x = torch.randint(0, 2**bits, (samples, *emu.net.in_shape), generator=g)
    run_samples(emu, x[:batch], T, batch_size=batch)  # warm-up
    times = []
    for _ in range(3):
        sync(dev)
        t0 = time.perf_counter()
        run_samples(emu, x, T, batch_size=batch)
        sync(dev)
        times.append(time.perf_counter() - t0)
    return {"netx": str(folder.relative_to(ROOT)), "samples": samples, "batch": batch,
            "steps_per_sample": T + L, "best_s": min(times),
            "sample_steps_per_s": samples * (T + L) / min(times),
            "definition": "simulated sample time steps per second (T + L per sample), windowed"}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=os.path.join(os.environ.get("OUT", "/tmp"), "gpu_suite.json"))
    ap.add_argument("--device", default="auto")
    ap.add_argument("--batch", type=int, nargs="+", default=[128, 512])
    ap.add_argument("--timesteps", type=int, default=4)
    ap.add_argument("--iters", type=int, default=30)
    ap.add_argument("--warmup", type=int, default=6)
    ap.add_argument("--dtypes", nargs="+", default=["fp32", "bf16"])
    ap.add_argument("--budget-s", type=float, default=420.0, help="whole suite (sections share it)")
    ap.add_argument("--quick", action="store_true", help="dry run: B=2, T=2, 1 iteration")
    ap.add_argument("--no-peers", action="store_true")
    ap.add_argument("--tests-log", help="pytest log of the GPU tests, to attach (gpu_suite.sh)")
    args = ap.parse_args()
    dev = torch.device(args.device if args.device != "auto" else
                       ("cuda" if torch.cuda.is_available() else "cpu"))
    if args.quick:
        args.batch, args.timesteps, args.iters, args.warmup = [2], 2, 1, 4
    clock = Clock(args.budget_s)
    result: dict = {"suite": "snn2hw gpu_suite 1", "device": str(dev), "python": platform.python_version(),
                    "torch": torch.__version__, "cuda": torch.version.cuda, "quick": args.quick,
                    "args": vars(args), "rows": [], "skipped_sections": {}}
    try:
        import triton

        result["triton"] = triton.__version__
    except Exception as e:  # noqa: BLE001 - recorded, not fatal
        result["triton"] = f"missing: {e!r}"[:200]
    if dev.type == "cuda":
        result["gpu"] = torch.cuda.get_device_name(dev)
        torch.backends.cudnn.benchmark = True
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)

    def save():
        result["elapsed_s"] = round(clock.budget - clock.left(), 1)
        tmp = out.with_suffix(".tmp")
        tmp.write_text(json.dumps(result, indent=2) + "\n")
        tmp.replace(out)

    if args.tests_log and Path(args.tests_log).is_file():
        result["gpu_tests_tail"] = Path(args.tests_log).read_text()[-3000:]
    result["kernel_check"] = check_kernels(dev) if dev.type == "cuda" else "skipped: needs CUDA"
    save()
    # snn2hw: 40% of the budget. Uncompiled variants first at every size, then the compiled ones
    # (each costs a compile), largest batch and bf16 first: that is the target size.
    share_end = clock.left() - 0.40 * args.budget_s
    sizes = [(B, d) for B in args.batch for d in args.dtypes]
    order = sorted(sizes, key=lambda bd: (-bd[0], bd[1] != "bf16"))
    plan = [(B, d, v) for B, d in sizes for v in VARIANTS if not v[3]]
    plan += [(B, d, v) for B, d in order for v in VARIANTS if v[3]]
    for B, dtype, (name, backend, graphs, compiled) in plan:
        if clock.left() < share_end:
            result["rows"].append({"source": "snn2hw", "variant": name, "dtype": dtype, "B": B,
                                   "skipped": "snn2hw section's time share used up"})
            continue
        try:
            row = bench_snn2hw(name, backend, graphs, compiled, dev=dev, B=B, T=args.timesteps,
                               dtype=dtype, iters=args.iters, warmup=args.warmup)
        except Exception as e:  # noqa: BLE001 - a variant that fails is recorded, the suite goes on
            row = {"variant": name, "dtype": dtype, "B": B, "error": repr(e)[:400]}
        print(json.dumps(row), flush=True)
        result["rows"].append({"source": "snn2hw", **row})
        save()
        if dev.type == "cuda":
            torch.cuda.empty_cache()
    # peers: a child per batch size, the cheap peers first at every size, then the compiled ones
    # (largest batch first), sharing what is left but 45 s for the emulator
    if args.no_peers:
        result["skipped_sections"]["peers"] = "--no-peers"
    else:
        cheap = [n for n in (QUICK_PEERS if args.quick else PEERS) if "compile" not in n]
        costly = [] if args.quick else [n for n in PEERS if "compile" in n]
        jobs = [(B, cheap) for B in args.batch] + [(B, costly) for B in sorted(args.batch)[::-1]]
        jobs = [(B, names) for B, names in jobs if names]
        for i, (B, names) in enumerate(jobs):
            left = clock.left() - 45
            timeout = left / 4 if names is cheap and len(jobs) > i + 1 else left / (len(jobs) - i)
            if timeout < 15:
                result["skipped_sections"][f"peers B={B} {','.join(names)}"] = "no time left"
                continue
            rows = run_peers(B, args.timesteps, args.iters, args.dtypes, names, timeout, dev)
            for r in rows:
                print(json.dumps(r), flush=True)
            result["rows"] += rows
            save()
    try:
        result["emulator"] = bench_emulator(dev, samples=256 if args.quick else 16384,
                                            batch=128 if args.quick else 4096)
    except Exception as e:  # noqa: BLE001 - recorded, not fatal
        result["emulator"] = {"error": repr(e)[:400]}
    result["summary"] = summarize(result["rows"])
    save()
    print(json.dumps(result["summary"], indent=1))
    print(f"wrote {out} in {result['elapsed_s']} s")


def summarize(rows: list[dict]) -> dict:
    """Per (B, dtype): the best snn2hw variant, the best peer, and their ratio."""
    out = {}
    for r in rows:
        if "img_per_s" not in r:
            continue
        key = f"B{r['B']} {r['dtype']}"
        side = "snn2hw" if r.get("source") == "snn2hw" else "peer"
        best = out.setdefault(key, {}).get(side)
        if best is None or r["img_per_s"] > best["img_per_s"]:
            out[key][side] = {"variant": r["variant"], "img_per_s": r["img_per_s"],
                              "peak_GiB": r.get("peak_GiB")}
    for v in out.values():
        if "snn2hw" in v and "peer" in v:
            v["ratio"] = round(v["snn2hw"]["img_per_s"] / v["peer"]["img_per_s"], 3)
    return out


if __name__ == "__main__":
    main()

"""Every student family to Loihi: emulator vs Lava spike for spike, accuracy, speed.

    uv run python benchmarks/export_loihi_graph.py [--runs-dir DIR] [--samples 100] [--big-samples 4]

Students:
  - digits-resnet, IDSNN-distilled on digits (trained here if missing: `snn2hw distill --method
    idsnn --student-arch digits-resnet --teacher-arch digits-resnet`, 60 epochs), graph export;
  - the default digits student (`snn2hw distill`, netx export);
  - CIFAR-shaped (3x32x32) resnet19 and wrn16-2 students, random weights and BN statistics, T=4,
    graph export, random images;
  - a DVS-Gesture-shaped vggsnn student (2x32x32 event frames, T=16), random weights, netx export,
    random event-count frames (time-varying input).
Measured: identical spike trains emulator vs Lava on every population/layer (--samples for the
digits students, --big-samples for the others), readout voltages equal, emulator accuracy vs float
(whole digits test split), emulator vs Lava sample-steps per second on the digits-resnet
(Lava without monitors, compile excluded; emulator best of 5, one torch thread).
Prints a table and writes benchmarks/results/export_loihi_graph.json.
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

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests" / "exporters"))


def ensure_run(runs: Path, name: str, extra: list[str]) -> Path:
    """A finished run under runs/name, distilled with `extra` if missing."""
    run = runs / name
    if not (run / "student.pt").is_file():
        cmd = [sys.executable, "-m", "snn2hw.cli", "distill", "--runs-dir", str(runs), "--name",
               name, *extra]
        subprocess.run(cmd, check=True, cwd=ROOT, stdout=subprocess.DEVNULL)
    return run


def _agree_summary(agreement: list[dict]) -> dict:
    return {"min_identical_fraction": min(a["identical_fraction"] for a in agreement),
            "layers": len(agreement), "spikes": int(sum(a["spikes"] for a in agreement)),
            "silent_layers": [a["layer"] for a in agreement
                              if a["spikes"] == 0 and a["layer"] != "readout"]}


def bench_digits_resnet(run: Path, samples: int) -> dict:
    """Trained residual student: export, agreement, accuracy, speed."""
    from exporters.emulator_graph import GraphEmulator, run_samples
    from exporters.graph_file import read_graph
    from exporters.graph_pipeline import simulate_graph
    from exporters.lava_graph import run_lava_graph
    from exporters.pipeline import export

    out = run / "export"
    t0 = time.perf_counter()
    export(run, target="loihi", out=out)
    export_s = time.perf_counter() - t0
    full = simulate_graph(out, samples=10**6, compare=False)
    from exporters.graph_pipeline import read_graph_report
    from exporters.pipeline import Target, _test_data, encode_inputs
    from snn2hw.pipeline import load_model

    rep = read_graph_report(out)
    q = read_graph(out / "model.graph.h5")
    _, x_all, y_all = _test_data(Target(out / "model.graph.h5", {"quantization": rep}, out), 10**6)
    student, _, _ = load_model(run / "student.pt", "student")
    with torch.no_grad():
        float_acc = float((student.eval()(x_all).argmax(1).numpy() == y_all).mean())
    cmp = simulate_graph(out, samples=samples, compare=True)
    x_int = encode_inputs(x_all[:samples].numpy(), {"input_scale": q.input_scale,
                                                     "input_message_bits": q.input_message_bits})
    lr = run_lava_graph(out / "model.graph.h5", x_int, record=False)
    emu = GraphEmulator(q)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    times = []
    for _ in range(5):
        t1 = time.perf_counter()
        run_samples(emu, x_int)
        times.append(time.perf_counter() - t1)
    torch.set_num_threads(threads)
    emu_sps = samples * q.latency_steps / min(times)
    return {
        "run": str(run), "export_s": export_s, "timesteps": q.timesteps,
        "populations": len(q.populations), "latency_steps": q.latency_steps,
        "test_samples": len(y_all), "float_accuracy": float_acc,
        "emulator_accuracy": full["emulator"]["accuracy"],
        "agreement_samples": cmp["samples"], "agreement": cmp["agreement"],
        **_agree_summary(cmp["agreement"]), "readout_voltages_equal": cmp["readout_equal"],
        "lava_accuracy_on_agreement_samples": cmp["lava"]["accuracy"],
        "emulator_accuracy_on_agreement_samples": cmp["emulator"]["accuracy"],
        "lava_relay_populations": lr.relays,
        "lava_steps_per_s": lr.steps_per_s, "lava_compile_s": lr.compile_s,
        "emulator_steps_per_s": emu_sps, "emulator_torch_threads": 1,
        "speedup": emu_sps / lr.steps_per_s,
        "lava_samples_per_s": lr.samples_per_s,
        "emulator_samples_per_s": samples / min(times),
    }


def bench_digits_default(run: Path, samples: int) -> dict:
    """The default (sequential) digits student through netx: agreement and accuracy."""
    from exporters.pipeline import export, simulate

    out = run / "export"
    export(run, target="loihi", out=out)
    cmp = simulate(out, samples=samples, compare=True)
    full = simulate(out, samples=10**6)
    return {"run": str(run), "format": "netx", "agreement_samples": cmp["samples"],
            "agreement": cmp["agreement"], **_agree_summary(cmp["agreement"]),
            "readout_voltages_equal": cmp["readout_equal"],
            "float_accuracy_on_agreement_samples": cmp["float"]["accuracy"],
            "emulator_accuracy": full["emulator"]["accuracy"],
            "lava_steps_per_s": cmp["lava"]["steps_per_s"]}


def bench_random_graph(arch: str, samples: int, tmp: Path) -> dict:
    """A CIFAR-shaped residual student with random weights: emulator vs Lava on random images."""
    from graph_helpers import randomize_bn

    from exporters.emulator_graph import GraphEmulator, run_samples
    from exporters.graph_file import read_graph, write_graph
    from exporters.lava_graph import run_lava_graph
    from exporters.nir_graph import student_to_nir_graph
    from exporters.pipeline import spike_agreement
    from exporters.quantize_graph import quantize_graph
    from snn2hw.models.registry import ModelSpec, build_model
    from snn2hw.neurons import PRESETS

    torch.manual_seed(0)
    model = build_model(ModelSpec("student", arch, (3, 32, 32), 10, 4, PRESETS["idsnn"])).eval()
    randomize_bn(model)
    q = quantize_graph(student_to_nir_graph(model), input_scale=255.0)
    path = tmp / f"{arch}.graph.h5"
    write_graph(path, q)
    x = np.random.default_rng(0).integers(0, 256, (samples, 3, 32, 32))
    t0 = time.perf_counter()
    v, sp = run_samples(GraphEmulator(read_graph(path)), x)
    emu_s = time.perf_counter() - t0
    lr = run_lava_graph(path, x, timeout_s=3000, pipelined=True)
    names = [p.pop.name for p in q.populations]
    agree = spike_agreement([sp[k] for k in names], [lr.spikes[k] for k in names], names)
    return {"arch": arch, "in_shape": [3, 32, 32], "timesteps": q.timesteps, "weights": "random",
            "populations": len(q.populations), "neurons": int(sum(np.prod(p.pop.shape)
                                                                  for p in q.populations)),
            "agreement_samples": samples, "agreement": agree, **_agree_summary(agree),
            "readout_voltages_equal": bool(np.array_equal(v, lr.v_readout)),
            "lava_relay_populations": lr.relays, "lava_pipelined": True,
            "lava_steps_per_s": lr.steps_per_s, "lava_samples_per_s": lr.samples_per_s,
            "lava_run_s": lr.run_s, "emulator_samples_per_s": samples / emu_s}


def bench_gesture_vggsnn(samples: int, tmp: Path, timesteps: int = 16) -> dict:
    """A DVS-Gesture-shaped vggsnn (2x32x32 frames, T=16), random weights, event-count input."""
    from graph_helpers import randomize_bn

    from exporters.events_export import run_sequence_both
    from exporters.netx import write_netx
    from exporters.nir import student_to_nir
    from exporters.quantize import quantize
    from snn2hw.models.registry import ModelSpec, build_model
    from snn2hw.neurons import PRESETS

    torch.manual_seed(0)
    model = build_model(ModelSpec("student", "vggsnn", (2, 32, 32), 11, timesteps,
                                  PRESETS["tet"])).eval()
    randomize_bn(model)
    with torch.no_grad():  # random weights x 3: without it layers 4-8 stay silent (trivial agreement)
        for m in model.modules():
            if isinstance(m, torch.nn.Conv2d):
                m.weight.mul_(3.0)
    q = quantize(student_to_nir(model), input_scale=1.0, input_max=15.0)
    path = tmp / "vggsnn.net"
    write_netx(path, q)
    rng = np.random.default_rng(0)
    x = np.minimum(rng.poisson(1.5, (samples, timesteps, 2, 32, 32)), 15)
    r = run_sequence_both(path, x, timeout_s=float(os.environ.get("LAVA_TIMEOUT_S", 3000)))
    return {"arch": "vggsnn", "in_shape": [2, 32, 32], "timesteps": timesteps,
            "weights": "random (conv weights x 3) + random BN stats",
            "input": "Poisson(1.5) event counts per pixel and bin, <= 15",
            "layers": len(q.layers), "agreement_samples": samples, "agreement": r["agreement"],
            **_agree_summary(r["agreement"]), "readout_voltages_equal": r["readout_equal"],
            "lava_steps_per_s": r["lava"]["steps_per_s"], "lava_run_s": r["lava"]["seconds"],
            "emulator_steps_per_s": r["emulator"]["steps_per_s"]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs-dir", type=Path, default=ROOT / "runs" / "bench-graph")
    ap.add_argument("--samples", type=int, default=100, help="Samples for the digits students.")
    ap.add_argument("--big-samples", type=int, default=4, help="Samples for the CIFAR/DVS students.")
    ap.add_argument("--only", default="", help="Comma-separated subset of: digits_resnet, "
                    "digits_default, resnet19, wrn16-2, vggsnn_gesture.")
    args = ap.parse_args()
    runs = args.runs_dir
    only = set(filter(None, args.only.split(",")))
    want = lambda k: not only or k in only  # noqa: E731
    tmp = runs / "random-students"
    tmp.mkdir(parents=True, exist_ok=True)
    results: dict = {}
    out = ROOT / "benchmarks" / "results" / "export_loihi_graph.json"

    def save(key: str, value: dict) -> None:
        """Merge one student's entry into the JSON (runs of --only subsets may run side by side)."""
        results[key] = value
        merged = json.loads(out.read_text()).get("results", {}) if out.is_file() and only else {}
        merged.update({k: v for k, v in results.items()})
        write_json(out, merged)

    if want("digits_resnet"):
        run = ensure_run(runs, "digits-resnet-idsnn", ["--method", "idsnn", "--student-arch",
                                                       "digits-resnet", "--teacher-arch",
                                                       "digits-resnet"])
        save("digits_resnet", bench_digits_resnet(run, args.samples))
    if want("digits_default"):
        save("digits_default", bench_digits_default(ensure_run(runs, "digits-default", []),
                                                    args.samples))
    for arch in ("resnet19", "wrn16-2"):
        if want(arch):
            save(arch, bench_random_graph(arch, args.big_samples, tmp))
    if want("vggsnn_gesture"):
        save("vggsnn_gesture", bench_gesture_vggsnn(args.big_samples, tmp))
    rows = []
    for key, r in results.items():
        rows.append((key, f"identical spike trains, {r['agreement_samples']} samples, "
                          f"{r['layers']} layers (min)",
                     f"{100 * r['min_identical_fraction']:.2f}%  ({r['spikes']} spikes)"))
        rows.append((key, "readout voltages equal", str(r["readout_voltages_equal"])))
        if "float_accuracy" in r:
            rows.append((key, "float / emulator accuracy (test split)",
                         f"{100 * r['float_accuracy']:.2f}% / {100 * r['emulator_accuracy']:.2f}%"))
        if "speedup" in r:
            rows.append((key, "emulator / Lava steps/s", f"{r['emulator_steps_per_s']:.0f} / "
                                                          f"{r['lava_steps_per_s']:.1f} = "
                                                          f"{r['speedup']:.0f}x"))
    w = max(len(a) + len(b) for a, b, _ in rows) + 3
    for a, b, c in rows:
        print(f"{a} | {b}".ljust(w), c)
    print(f"wrote {out}")


def write_json(out: Path, results: dict) -> None:
    """benchmarks/results/export_loihi_graph.json with the machine and date."""
    payload = {
        "benchmark": "export_loihi_graph", "machine": f"{platform.machine()}, {os.cpu_count()} CPU cores",
        "load_average_at_end": os.getloadavg(), "torch": torch.__version__,
        "date_utc": time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime()),
        "steps_per_s_definition": "simulated sample time steps per second (T + depth steps per sample)",
        "results": results,
    }
    from snn2hw.runs import atomic_write_text

    out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out, json.dumps(payload, indent=2))


if __name__ == "__main__":
    main()

"""Loihi export benchmark: emulator vs Lava agreement, accuracy, speed, export time.

    .venv/bin/python benchmarks/export_loihi.py [--runs-dir DIR] [--samples 120]

Distills (or reuses) the default digits student (TET LIF) and a second conv student (IDSNN LIF:
leak 0.25, v_th 0.5, another voltage decay), exports both, then measures
  - spike agreement emulator vs Lava (every layer, every neuron, every step) over --samples,
  - emulator (integer) accuracy vs float student accuracy on the whole digits test split,
  - emulator vs Lava simulated sample-steps per second on the same samples (CPU; Lava without
    monitors, compile excluded; emulator best of 3),
  - export time of the default student.
Prints a table and writes benchmarks/results/export_loihi.json.
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


def ensure_run(runs: Path, name: str, extra: list[str]) -> Path:
    """A finished run under runs/name, distilled with default settings plus `extra` if missing."""
    run = runs / name
    if not (run / "student.pt").is_file():
        cmd = [sys.executable, "-m", "snn2hw.cli", "distill", "--runs-dir", str(runs), "--name",
               name, *extra]
        subprocess.run(cmd, check=True, cwd=ROOT, stdout=subprocess.DEVNULL)
    return run


def bench_student(run: Path, out: Path, samples: int) -> dict:
    from exporters.emulator import Emulator, run_samples
    from exporters.lava import run_lava
    from exporters.pipeline import _test_data, export, open_target, simulate

    t0 = time.perf_counter()  # as a user runs it: a fresh `snn2hw export` process
    subprocess.run([sys.executable, "-m", "snn2hw.cli", "export", str(run), "--out", str(out)],
                   check=True, cwd=ROOT, stdout=subprocess.DEVNULL)
    export_cli_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    export(run, target="loihi", out=out)
    export_s = time.perf_counter() - t0
    t = open_target(out)
    info = t.info
    T, L = int(info["timesteps"]), int(info["num_layers"])
    # accuracy on the whole test split: float student vs emulator
    full = simulate(out, backend="emulator", samples=10**6, compare=False)
    _, x_all, y_all = _test_data(t, 10**6)
    from snn2hw.pipeline import load_model

    student, _, _ = load_model(run / "student.pt", "student")
    with torch.no_grad():
        float_acc = float((student.eval()(x_all).argmax(1).numpy() == y_all).mean())
    # agreement on `samples` test samples (Lava with monitors on every layer)
    cmp = simulate(out, samples=samples, compare=True)
    # speed on the same samples: Lava without monitors vs emulator (windowed and full-step)
    x = x_all[:samples].numpy()
    x_int = np.clip(np.round(x * info["input_scale"]), 0, 2 ** info["input_message_bits"] - 1)
    lr = run_lava(t.net, x_int.astype(np.int64), timesteps=T, num_layers=L,
                  input_message_bits=int(info["input_message_bits"]), record=False)
    emu = Emulator(t.net)
    speeds = {}
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # one thread: OpenMP spin-waits collapse on a shared, loaded CPU
    for windowed in (True, False):
        times = []
        for _ in range(7):
            t1 = time.perf_counter()
            run_samples(emu, x_int, T, windowed=windowed)
            times.append(time.perf_counter() - t1)
        key = "windowed" if windowed else "full_steps"
        speeds[key] = samples * (T + L) / min(times)
        speeds[key + "_median"] = samples * (T + L) / float(np.median(times))
    torch.set_num_threads(threads)
    return {
        "run": str(run), "export_s": export_s, "export_cli_wall_s": export_cli_s, "timesteps": T, "layers": L,
        "test_samples": len(y_all), "float_accuracy": float_acc,
        "emulator_accuracy": full["emulator"]["accuracy"],
        "agreement_samples": samples,
        "agreement": cmp["agreement"], "readout_voltages_equal": cmp["readout_equal"],
        "lava_accuracy_on_agreement_samples": cmp["lava"]["accuracy"],
        "emulator_accuracy_on_agreement_samples": cmp["emulator"]["accuracy"],
        "lava_steps_per_s": lr.steps_per_s, "lava_compile_s": lr.compile_s,
        "emulator_steps_per_s": speeds["windowed"],
        "emulator_full_steps_per_s": speeds["full_steps"],
        "emulator_steps_per_s_median": speeds["windowed_median"],
        "emulator_torch_threads": 1,
        "speedup": speeds["windowed"] / lr.steps_per_s,
        "speedup_median": speeds["windowed_median"] / lr.steps_per_s,
        "speedup_full_steps": speeds["full_steps"] / lr.steps_per_s,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs-dir", type=Path, default=ROOT / "runs" / "bench-export")
    ap.add_argument("--samples", type=int, default=120)
    args = ap.parse_args()
    runs = args.runs_dir
    students = {
        "digits_default": ensure_run(runs, "digits-default", []),
        "digits_conv_idsnn": ensure_run(runs, "digits-idsnn", ["--neuron", "idsnn"]),
    }
    results = {}
    for key, run in students.items():
        results[key] = bench_student(run, run / "export", args.samples)
    rows = []
    for key, r in results.items():
        agree = min(a["identical_fraction"] for a in r["agreement"])
        rows += [
            (key, f"agreement emulator vs Lava, {r['agreement_samples']} samples (min over layers)",
             f"{100 * agree:.2f}% of trains"),
            (key, "float accuracy (test split)", f"{100 * r['float_accuracy']:.2f}%"),
            (key, "emulator accuracy (test split)", f"{100 * r['emulator_accuracy']:.2f}%"),
            (key, "Lava accuracy (agreement samples)",
             f"{100 * r['lava_accuracy_on_agreement_samples']:.2f}%"),
            (key, "emulator steps/s (best / median of 7, 1 thread)",
             f"{r['emulator_steps_per_s']:.0f} / {r['emulator_steps_per_s_median']:.0f}"),
            (key, "emulator steps/s (all T+L steps)", f"{r['emulator_full_steps_per_s']:.0f}"),
            (key, "Lava steps/s", f"{r['lava_steps_per_s']:.1f}"),
            (key, "speedup vs Lava (best / median; all-steps path)",
             f"{r['speedup']:.0f}x / {r['speedup_median']:.0f}x; {r['speedup_full_steps']:.0f}x"),
            (key, "export time (CLI process / in-process)",
             f"{r['export_cli_wall_s']:.1f} s / {r['export_s']:.2f} s"),
        ]
    w = max(len(a) + len(b) for a, b, _ in rows) + 3
    for a, b, c in rows:
        print(f"{a} | {b}".ljust(w), c)
    payload = {
        "benchmark": "export_loihi", "machine": f"{platform.machine()}, {os.cpu_count()} CPU cores",
        "load_average_at_end": os.getloadavg(), "torch": torch.__version__,
        "date_utc": time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime()),
        "steps_per_s_definition": "simulated sample time steps per second (T + L steps per sample)",
        "results": results,
    }
    out = ROOT / "benchmarks" / "results" / "export_loihi.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    from snn2hw.runs import atomic_write_text

    atomic_write_text(out, json.dumps(payload, indent=2))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()

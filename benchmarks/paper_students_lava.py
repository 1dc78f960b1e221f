"""The papers' students on Loihi from the CLI path: export, emulator vs Lava, profile, timings.

    uv run python benchmarks/paper_students_lava.py [--archs vgg11,resnet19-tet] [--samples N]

Each student (vgg11, vgg16, vgg11-sastc, vgg11-kdsnn, resnet19-tet, resnet18-sastc: the four
papers' networks) replaces the student of a short digits run (8x8 input, T = 4, random weights
and BN statistics, BN biases raised so that every layer fires), then goes through what `snn2hw export`, `simulate --compare` and `profile` do:
export time, emulator time on 10 samples, Lava on the samples `simulate` runs by default with Lava
(exporters/lava_budget.py; --samples overrides), identical spike trains on every layer or
population, readout voltages equal, spikes per layer and the silent ones (agreement on a silent
layer is trivial, so they are named). Prints a table and writes
benchmarks/results/paper_students_lava.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests" / "exporters"))
sys.path.insert(0, str(ROOT / "benchmarks"))

# resnet18-sastc is TET's ResNet-19 under SASTC's name (same network, same numbers)
ARCHS = ("vgg11", "vgg16", "vgg11-sastc", "vgg11-kdsnn", "resnet19-tet", "resnet18-sastc")
OUT = ROOT / "benchmarks" / "results" / "paper_students_lava.json"


def student_run(base: Path, arch: str, runs: Path) -> Path:
    """A copy of the digits run `base` whose student is `arch` with random weights and BN stats,
    BN biases + 0.5 and linear weights x 3 so that every spiking layer fires."""
    from graph_helpers import randomize_bn

    from snn2hw.models.registry import ModelSpec, build_model
    from snn2hw.runs import load_checkpoint, save_checkpoint

    run = runs / arch
    shutil.rmtree(run, ignore_errors=True)
    shutil.copytree(base, run, ignore=shutil.ignore_patterns("export"))
    ck = load_checkpoint(run / "student.pt")
    ck["model"]["arch"] = arch
    torch.manual_seed(0)
    model = build_model(ModelSpec.from_dict(ck["model"])).eval()
    randomize_bn(model)
    with torch.no_grad():  # make every layer fire at digits size (else vgg11 layers 3-8 are silent)
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.bias.add_(0.5)
            elif isinstance(m, torch.nn.Linear):
                m.weight.mul_(3.0)
    ck["state_dict"] = model.state_dict()
    save_checkpoint(run / "student.pt", ck)
    return run


def bench_arch(run: Path, samples: int | None, timeout_s: float) -> dict:
    from export_loihi_graph import _agree_summary

    from exporters.lava_budget import default_samples, weight_count, weight_steps
    from exporters.pipeline import export, simulate
    from snn2hw.api import profile

    out = run / "export"
    t0 = time.perf_counter()
    r = export(run, target="loihi", out=out)
    export_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    emu = simulate(out, samples=10)
    emu_s = time.perf_counter() - t0
    n, _ = default_samples(out, True) if samples is None else (samples, None)
    t0 = time.perf_counter()
    cmp = simulate(out, samples=n, compare=True, timeout_s=timeout_s)
    cmp_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    profile(out, samples=4, out=run / "profile-export", device="cpu")
    prof_s = time.perf_counter() - t0
    return {"format": "graph" if (out / "model.graph.h5").is_file() else "netx",
            "synapses": r.summary.get("synapses"), "latency_steps": r.summary.get("latency_steps"),
            "weights": weight_count(next(p for p in out.iterdir() if p.suffix in (".net", ".h5"))),
            "weight_steps_per_sample": weight_steps(out), "export_s": export_s,
            "emulator_10_samples_s": emu_s, "emulator_steps_per_s": emu["emulator"]["steps_per_s"],
            "agreement_samples": cmp["samples"], "agreement": cmp["agreement"],
            **_agree_summary(cmp["agreement"]), "readout_voltages_equal": cmp["readout_equal"],
            "lava_s": cmp["lava"]["seconds"], "lava_steps_per_s": cmp["lava"]["steps_per_s"],
            "lava_weight_steps_per_s": (weight_steps(out) or 0) / cmp["lava"]["seconds"],
            "simulate_compare_s": cmp_s, "profile_export_4_samples_s": prof_s}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--archs", default=",".join(ARCHS))
    ap.add_argument("--samples", type=int, default=None,
                    help="Lava samples (default: what `simulate` runs by default with Lava).")
    ap.add_argument("--runs-dir", type=Path, default=ROOT / "runs" / "bench-paper-students")
    ap.add_argument("--timeout", type=float, default=3000.0)
    args = ap.parse_args()
    from export_loihi_graph import ensure_run

    base = ensure_run(args.runs_dir, "digits-base", ["--epochs", "1", "--teacher-epochs", "1"])
    results = json.loads(OUT.read_text()).get("results", {}) if OUT.is_file() else {}
    for arch in filter(None, args.archs.split(",")):
        print(f"{arch} ...", flush=True)
        results[arch] = bench_arch(student_run(base, arch, args.runs_dir), args.samples,
                                   args.timeout)
        OUT.parent.mkdir(parents=True, exist_ok=True)
        payload = {"benchmark": "paper_students_lava",
                   "machine": f"{platform.machine()}, {os.cpu_count()} CPU cores",
                   "load_average_at_end": os.getloadavg(), "torch": torch.__version__,
                   "date_utc": time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime()),
                   "input": "digits 1x8x8, T = 4, random weights + random BN statistics, BN bias + 0.5, "
                            "linear weights x 3",
                   "results": results}
        tmp = OUT.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(payload, indent=2))
        tmp.replace(OUT)
    print(f"{'student':16} {'fmt':6} {'layers':>6} {'Lava n':>6} {'identical':>10} {'readout':>8} "
          f"{'export s':>8} {'emu 10 s':>8} {'Lava s':>7}  silent")
    for arch, r in results.items():
        print(f"{arch:16} {r['format']:6} {r['layers']:6d} {r['agreement_samples']:6d} "
              f"{100 * r['min_identical_fraction']:9.2f}% {str(r['readout_voltages_equal']):>8} "
              f"{r['export_s']:8.1f} {r['emulator_10_samples_s']:8.1f} {r['lava_s']:7.0f}  "
              f"{', '.join(r['silent_layers']) or '-'}")
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()

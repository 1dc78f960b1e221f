"""Every distillation method on the same data, seeds, time steps and epochs: accuracy, time, memory, STM.

Per seed one teacher is trained and shared by all methods; every (method, seed) student runs in
its own process (peak memory per job), with the same options and the methods' paper defaults
(no per-method tuning). Writes JSON and a Markdown table to benchmarks/results/.

    python benchmarks/distill_methods.py                       # digits, CPU, ~10 min on 2 cores
    python benchmarks/distill_methods.py --dataset cifar10 --data-root data \\
        --student-arch vgg11 --teacher-arch resnet19 --epochs 100 --teacher-epochs 100 \\
        --device cuda --parallel 1 --threads 8
"""

from __future__ import annotations

import argparse
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_common import run_jobs

HERE = Path(__file__).resolve().parent


def add_experiment_args(p: argparse.ArgumentParser) -> None:
    """Data, networks, seeds, training budget and job options shared by the distillation benchmarks."""
    p.add_argument("--dataset", default="digits")
    p.add_argument("--data-root", default="data")
    p.add_argument("--student-arch", default="digits-resnet")
    p.add_argument("--teacher-arch", default="digits-resnet")
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    p.add_argument("--timesteps", type=int, default=4)
    p.add_argument("--neuron", default=None,
                   help="neuron preset for every method (default: each method's paper neuron)")
    p.add_argument("--epochs", type=int, default=12)
    p.add_argument("--teacher-epochs", type=int, default=15)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--lr", type=float, default=None, help="student learning rate (default: snn2hw's)")
    p.add_argument("--train-subset", type=int, default=None)
    p.add_argument("--test-subset", type=int, default=None)
    p.add_argument("--device", default="cpu")
    p.add_argument("--parallel", type=int, default=2, help="jobs at a time")
    p.add_argument("--threads", type=int, default=1, help="torch threads per job")
    p.add_argument("--runs-dir", default=None, help="where runs go (default: a temporary folder)")


def parse_args(argv=None) -> argparse.Namespace:
    from snn2hw.distill import METHODS

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_experiment_args(p)
    p.add_argument("--methods", nargs="+", default=list(METHODS), choices=list(METHODS))
    p.add_argument("--out", default=str(HERE / "results" / "distill_methods.json"))
    return p.parse_args(argv)


def base_config(a: argparse.Namespace, seed: int, runs_dir: str, name: str) -> dict:
    cfg = {
        "name": name, "runs_dir": runs_dir,
        "data": {"dataset": a.dataset, "data_root": a.data_root, "batch_size": a.batch_size,
                 "train_subset": a.train_subset, "test_subset": a.test_subset},
        "teacher": {"arch": a.teacher_arch, "epochs": a.teacher_epochs},
        "student": {"arch": a.student_arch, "timesteps": a.timesteps},
        "train": {"epochs": a.epochs, "seed": seed, "device": a.device},
    }
    if a.lr is not None:
        cfg["train"]["lr"] = a.lr
    if a.neuron is not None:
        cfg["student"]["neuron"] = a.neuron
    return cfg


def method_neuron(a: argparse.Namespace, method: str) -> str:
    """The neuron a method's student runs with: --neuron, else the method's paper neuron."""
    from snn2hw.config import FALLBACK_NEURON, METHOD_NEURONS

    return a.neuron or METHOD_NEURONS.get(method, FALLBACK_NEURON)


def spread(xs: list[float]) -> dict:
    return {"mean": statistics.fmean(xs), "std": statistics.stdev(xs) if len(xs) > 1 else 0.0,
            "min": min(xs), "max": max(xs), "n": len(xs)}


def summarise(a, teachers: dict, results: dict) -> dict:
    rows = []
    for m in a.methods:
        rs = [results[(m, s)] for s in a.seeds]
        stms = [r["stm"] for r in rs if r.get("stm") is not None]
        rows.append({
            "method": m, "neuron": method_neuron(a, m),
            "test_acc": spread([r["test_acc"] for r in rs]),
            "epoch_time_s": statistics.fmean(t for r in rs for t in r["epoch_time_s"]),
            "peak_memory_mib": max(r["peak_memory_mib"] for r in rs),
            "stm": spread(stms) if stms else None,
            "per_seed": {str(s): r for s, r in zip(a.seeds, rs)},
        })
    return {
        "benchmark": "distill_methods",
        "settings": {k: v for k, v in vars(a).items() if k not in ("out", "runs_dir")},
        "machine": {"cpu_count": __import__("os").cpu_count(), "platform": platform.platform(),
                    "python": platform.python_version()},
        "teachers": {str(s): t for s, t in teachers.items()},
        "methods": rows,
    }


def markdown(summary: dict) -> str:
    s = summary["settings"]
    accs = [t["test_acc"] for t in summary["teachers"].values()]
    lines = [
        (f"Dataset {s['dataset']}, student {s['student_arch']} (T={s['timesteps']}, neuron "
        f"{s['neuron'] or 'per method'}), teacher {s['teacher_arch']} (test acc mean "
        f"{100 * statistics.fmean(accs):.2f}%), {s['epochs']} student epochs, seeds "
        f"{', '.join(map(str, s['seeds']))}, device {s['device']}, {s['parallel']} job(s) at a "
        f"time x {s['threads']} thread(s)."),
        "",
        "| method | neuron | test acc % (mean ± std) | min–max % | time/epoch s | peak mem MiB | STM ln (b=64) |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in sorted(summary["methods"], key=lambda r: -r["test_acc"]["mean"]):
        a = r["test_acc"]
        stm = f"{r['stm']['mean']:.3f}" if r["stm"] else "-"
        lines.append(f"| {r['method']} | {r.get('neuron', '-')} | {100 * a['mean']:.2f} ± {100 * a['std']:.2f} | "
                     f"{100 * a['min']:.2f}–{100 * a['max']:.2f} | {r['epoch_time_s']:.2f} | "
                     f"{r['peak_memory_mib']:.0f} | {stm} |")
    return "\n".join(lines) + "\n"


def main(argv=None) -> dict:
    import json

    from snn2hw.runs import atomic_write_text

    a = parse_args(argv)
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="distill-bench-") as tmp:
        runs = a.runs_dir or tmp
        stamp = time.strftime("%H%M%S")
        print(f"teachers for seeds {a.seeds} ...", flush=True)
        tjobs = [{"kind": "teacher", "threads": a.threads, "label": f"teacher seed {s}",
                  "config": base_config(a, s, runs, f"teacher-{s}-{stamp}")} for s in a.seeds]
        teachers = dict(zip(a.seeds, run_jobs(tjobs, a.parallel)))
        jobs, keys = [], []
        for s in a.seeds:
            for m in a.methods:
                cfg = base_config(a, s, runs, f"{m}-{s}-{stamp}")
                cfg["teacher"]["path"] = teachers[s]["checkpoint"]
                cfg["distill"] = {"method": m}
                jobs.append({"kind": "student", "threads": a.threads, "label": f"{m} seed {s}",
                             "config": cfg, "stm": True,
                             "teacher_ckpt": teachers[s]["checkpoint"]})
                keys.append((m, s))
        print(f"{len(jobs)} student runs ...", flush=True)
        results = dict(zip(keys, run_jobs(jobs, a.parallel)))
    summary = summarise(a, teachers, results)
    summary["total_time_s"] = time.perf_counter() - t0
    table = markdown(summary)
    out = Path(a.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out, json.dumps(summary, indent=2))
    atomic_write_text(out.with_suffix(".md"), table)
    print(table)
    print(f"total {summary['total_time_s']:.0f} s; wrote {out} and {out.with_suffix('.md')}")
    return summary


if __name__ == "__main__":
    main()

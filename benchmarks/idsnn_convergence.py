"""IDSNN convergence: test accuracy per epoch, student initialised from the teacher vs random init.

Both arms use the same teacher (one per seed), response KD with IDSNN's defaults (tau 4, w 0.3),
the same epochs, data and seeds; the only difference is distill.idsnn_init. Writes
benchmarks/results/idsnn_convergence.json and .png.

    python benchmarks/idsnn_convergence.py                     # digits, CPU, a few minutes
    python benchmarks/idsnn_convergence.py --dataset cifar10 --data-root data \\
        --student-arch resnet18 --teacher-arch resnet34 --epochs 30 --device cuda
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_common import run_jobs
from distill_methods import add_experiment_args, base_config

HERE = Path(__file__).resolve().parent


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_experiment_args(p)
    p.add_argument("--out", default=str(HERE / "results" / "idsnn_convergence.json"))
    return p.parse_args(argv)


def epochs_to_reach(curve: list[float], level: float) -> int | None:
    """First epoch (1-based) whose test accuracy is >= level, or None."""
    return next((i + 1 for i, a in enumerate(curve) if a >= level), None)


def plot(summary: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    for arm, colour in (("init_from_teacher", "tab:blue"), ("random_init", "tab:orange")):
        curves = summary["arms"][arm]["curves"]
        ep = list(range(1, len(curves[0]) + 1))
        mean = [100 * statistics.fmean(c[i] for c in curves) for i in range(len(ep))]
        lo = [100 * min(c[i] for c in curves) for i in range(len(ep))]
        hi = [100 * max(c[i] for c in curves) for i in range(len(ep))]
        ax.plot(ep, mean, marker="o", color=colour,
                label=arm.replace("_", " ") + f" (final {mean[-1]:.1f}%)")
        ax.fill_between(ep, lo, hi, color=colour, alpha=0.2)
    s = summary["settings"]
    ax.set_xlabel("epoch")
    ax.set_ylabel("test accuracy (%)")
    ax.set_ylim(top=100)  # not the autoscale margin past 100%
    ax.set_title(f"IDSNN on {s['dataset']}: {s['student_arch']} (SNN, T={s['timesteps']}) "
                 f"from {s['teacher_arch']} (ANN)", fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(title=f"mean, min–max over {len(s['seeds'])} seeds", fontsize=8)
    fig.tight_layout()
    tmp = path.with_suffix(".tmp.png")
    fig.savefig(tmp, dpi=120)
    tmp.replace(path)
    plt.close(fig)


def main(argv=None) -> dict:
    import json

    from snn2hw.runs import atomic_write_text

    a = parse_args(argv)
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="idsnn-conv-") as tmp:
        runs = a.runs_dir or tmp
        stamp = time.strftime("%H%M%S")
        tjobs = [{"kind": "teacher", "threads": a.threads, "label": f"teacher seed {s}",
                  "config": base_config(a, s, runs, f"teacher-{s}-{stamp}")} for s in a.seeds]
        teachers = dict(zip(a.seeds, run_jobs(tjobs, a.parallel)))
        jobs, keys = [], []
        for s in a.seeds:
            for arm, init in (("init_from_teacher", True), ("random_init", False)):
                cfg = base_config(a, s, runs, f"{arm}-{s}-{stamp}")
                cfg["teacher"]["path"] = teachers[s]["checkpoint"]
                cfg["distill"] = {"method": "idsnn", "idsnn_init": init}
                jobs.append({"kind": "student", "threads": a.threads, "label": f"{arm} seed {s}",
                             "config": cfg})
                keys.append((arm, s))
        results = dict(zip(keys, run_jobs(jobs, a.parallel)))
    arms = {}
    for arm in ("init_from_teacher", "random_init"):
        curves = [results[(arm, s)]["curve"] for s in a.seeds]
        arms[arm] = {"curves": curves,
                     "mean_curve": [statistics.fmean(c[i] for c in curves) for i in range(a.epochs)],
                     "final": [c[-1] for c in curves]}
    target = statistics.fmean(arms["random_init"]["final"])
    summary = {
        "benchmark": "idsnn_convergence",
        "settings": {k: v for k, v in vars(a).items() if k not in ("out", "runs_dir")},
        "teachers": {str(s): t for s, t in teachers.items()},
        "arms": arms,
        "random_init_final_mean": target,
        "epochs_to_reach_random_final": {
            arm: [epochs_to_reach(c, target) for c in arms[arm]["curves"]] for arm in arms},
        "total_time_s": time.perf_counter() - t0,
    }
    out = Path(a.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out, json.dumps(summary, indent=2))
    plot(summary, out.with_suffix(".png"))
    for arm in arms:
        print(arm, " ".join(f"{100 * x:.1f}" for x in arms[arm]["mean_curve"]))
    print("epochs to reach the random-init final mean", f"{100 * target:.2f}%:",
          summary["epochs_to_reach_random_final"])
    print(f"total {summary['total_time_s']:.0f} s; wrote {out} and {out.with_suffix('.png')}")
    return summary


if __name__ == "__main__":
    main()

"""N-MNIST accuracy recipe on the real recordings in ../shared/data/nmnist_small (1000 train, 100 test):
event-cnn teacher + nmnist-snn student (T=8, KD), on CPU. Prints a table and writes
benchmarks/results/nmnist_recipe.json. Same as:

    snn2hw distill --dataset nmnist --data-root ../shared/data/nmnist_small -T 8 --teacher-epochs 12 --epochs 12
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path

from snn2hw.config import config_from_dict
from snn2hw.pipeline import distill
from snn2hw.runs import atomic_write_text

HERE = Path(__file__).resolve().parent
OUT = HERE / "results" / "nmnist_recipe.json"
DATA = HERE.parent.parent / "shared" / "data" / "nmnist_small"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-root", default=str(DATA))
    ap.add_argument("--timesteps", type=int, default=8)
    ap.add_argument("--teacher-epochs", type=int, default=12)
    ap.add_argument("--epochs", type=int, default=12)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        cfg = config_from_dict({
            "runs_dir": tmp, "name": "nmnist",
            "data": {"dataset": "nmnist", "data_root": args.data_root, "cache_dir": f"{tmp}/cache"},
            "student": {"timesteps": args.timesteps}, "teacher": {"epochs": args.teacher_epochs},
            "train": {"epochs": args.epochs, "device": "cpu"},
        })
        load0 = os.getloadavg()[0]
        w, c = time.perf_counter(), time.process_time()
        s = distill(cfg)
        wall, cpu = time.perf_counter() - w, time.process_time() - c
        metrics = [json.loads(x) for x in (Path(tmp) / "nmnist" / "metrics.jsonl").read_text().splitlines()]
    result = {
        "benchmark": "nmnist_recipe", "dataset": "nmnist_small (1000 train / 100 test, real)",
        "recipe": {"teacher": s["teacher"]["arch"], "student": s["student"]["arch"],
                   "timesteps": args.timesteps, "teacher_epochs": args.teacher_epochs,
                   "epochs": args.epochs, "method": s["method"]},
        "teacher_test_acc": s["teacher"]["test_acc"], "student_test_acc": s["student"]["test_acc"],
        "wall_s": wall, "process_cpu_s": cpu, "loadavg_1min_start": load0,
        "loadavg_1min_end": os.getloadavg()[0],
        "machine": f"{platform.machine()}, {os.cpu_count()} cores (shared with other jobs)",
        "epochs_log": [{k: m[k] for k in ("phase", "epoch", "train_acc", "test_acc", "time_s")} for m in metrics],
    }
    print(f"{'teacher':>10} {'student':>10} {'T':>3} {'wall':>8} {'cpu':>8}")
    print(f"{s['teacher']['test_acc']:>10.2%} {s['student']['test_acc']:>10.2%} {args.timesteps:>3} "
          f"{wall:>7.0f}s {cpu:>7.0f}s")
    atomic_write_text(OUT, json.dumps(result, indent=2))
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()

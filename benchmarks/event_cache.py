"""Frame cache speed-up: loader time of epoch 1 (decode + frames + cache write) vs epoch 2 (cache
reads) on fake DVS-Gesture and CIFAR10-DVS sets read through tonic. Prints a table and writes
benchmarks/results/event_cache.json.

    .venv/bin/python benchmarks/event_cache.py [--samples-per-class 4] [--events 100000]
"""

from __future__ import annotations

import argparse
import json
import platform
import tempfile
import time
from pathlib import Path

import torch
from torch.utils.data import DataLoader

from snn2hw.data import load_dataset
from snn2hw.data.events import EventOptions
from snn2hw.data.fake import write_fake_cifar10_dvs, write_fake_dvs_gesture
from snn2hw.runs import atomic_write_text

OUT = Path(__file__).resolve().parent / "results" / "event_cache.json"


def epoch_time(ds) -> tuple[float, float]:
    """(wall s, process CPU s) to iterate the split once through a DataLoader."""
    w, c = time.perf_counter(), time.process_time()
    for _ in DataLoader(ds, batch_size=8, shuffle=True, num_workers=0):
        pass
    return time.perf_counter() - w, time.process_time() - c


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--samples-per-class", type=int, default=4)
    ap.add_argument("--events", type=int, default=100000, help="events per fake recording")
    args = ap.parse_args()
    torch.set_num_threads(1)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        n = args.events
        users = tuple(range(1, args.samples_per_class + 1))
        write_fake_dvs_gesture(root, train_users=users, test_users=(30,), events=(n, n + 1))
        write_fake_cifar10_dvs(root, per_class=args.samples_per_class, events=(n, n + 1))
        cases = [
            ("dvs-gesture", EventOptions(time_bins=16, frame_size=64)),
            ("dvs-gesture", EventOptions(time_bins=16, frame_size=64, denoise_us=10000)),
            ("cifar10-dvs", EventOptions(time_bins=10, frame_size=48, split="7:3")),
        ]
        for i, (name, opts) in enumerate(cases):
            opts = EventOptions(**{**opts.__dict__, "cache_dir": str(root / f"cache{i}")})
            split = load_dataset(name, str(root), options=opts).train
            e1 = epoch_time(split)
            e2 = epoch_time(split)
            rows.append({
                "dataset": name, "samples": len(split), "events_per_sample": n, "T": opts.time_bins,
                "frame_size": opts.frame_size, "denoise_us": opts.denoise_us,
                "epoch1_wall_s": e1[0], "epoch2_wall_s": e2[0], "epoch1_cpu_s": e1[1],
                "epoch2_cpu_s": e2[1], "speedup_wall": e1[0] / e2[0], "speedup_cpu": e1[1] / max(e2[1], 1e-9),
            })
    print(f"{'dataset':12} {'n':>4} {'denoise':>8} {'ep1 wall':>9} {'ep2 wall':>9} {'x wall':>7} "
          f"{'ep1 cpu':>8} {'ep2 cpu':>8} {'x cpu':>6}")
    for r in rows:
        print(f"{r['dataset']:12} {r['samples']:>4} {r['denoise_us']!s:>8} {r['epoch1_wall_s']:>8.2f}s "
              f"{r['epoch2_wall_s']:>8.3f}s {r['speedup_wall']:>6.1f}x {r['epoch1_cpu_s']:>7.2f}s "
              f"{r['epoch2_cpu_s']:>7.3f}s {r['speedup_cpu']:>5.1f}x")
    result = {"benchmark": "event_cache", "machine": f"{platform.machine()}, {torch.get_num_threads()} "
              "torch thread(s); shared 2-core CPU", "rows": rows}
    atomic_write_text(OUT, json.dumps(result, indent=2))
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()

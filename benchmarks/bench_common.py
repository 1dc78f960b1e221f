"""Shared by the distillation benchmarks: run one teacher or student job in a fresh process.

Each job runs in its own Python process so that its peak memory (ru_maxrss, or CUDA's peak
allocation) belongs to that job alone, with a fixed number of torch threads.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

RESULT_TAG = "BENCH-RESULT "


def run_jobs(jobs: list[dict], parallel: int) -> list[dict]:
    """Run worker jobs (dicts) `parallel` at a time in child processes; results in job order."""

    def one(job: dict) -> dict:
        cmd = [sys.executable, str(Path(__file__).resolve()), json.dumps(job)]
        t0 = time.perf_counter()
        p = subprocess.run(cmd, capture_output=True, text=True, check=False)
        lines = [x for x in p.stdout.splitlines() if x.startswith(RESULT_TAG)]
        if p.returncode != 0 or not lines:
            raise RuntimeError(f"job {job.get('label')} failed:\n{p.stderr[-3000:]}")
        out = json.loads(lines[-1][len(RESULT_TAG):])
        out["wall_s"] = time.perf_counter() - t0
        print(f"  done {job.get('label')}: {out.get('test_acc')} in {out['wall_s']:.0f} s", flush=True)
        return out

    with ThreadPoolExecutor(max_workers=parallel) as pool:
        return list(pool.map(one, jobs))


def _peak_memory_mib(device) -> float:
    import torch

    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def _worker(job: dict) -> dict:
    import torch

    torch.set_num_threads(job["threads"])
    from snn2hw.config import config_from_dict
    from snn2hw.pipeline import distill, load_data, load_model, train_teacher
    from snn2hw.train import resolve_device

    cfg = config_from_dict(job["config"])
    device = resolve_device(cfg.train.device)
    if job["kind"] == "teacher":
        s = train_teacher(cfg)
        return {"test_acc": s["teacher"]["test_acc"], "checkpoint": s["teacher"]["checkpoint"]}
    s = distill(cfg)
    run = Path(s["run_dir"])
    rows = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    rows = [r for r in rows if r["phase"] == "student"]
    out = {
        "test_acc": s["student"]["test_acc"],
        "curve": [r["test_acc"] for r in rows],
        "epoch_time_s": [r["time_s"] for r in rows],
        "peak_memory_mib": _peak_memory_mib(device),
        "device": str(device),
        "terms": {k: v for k, v in rows[-1].items() if k not in ("phase", "epoch", "epochs", "lr", "time_s")},
    }
    if job.get("stm"):
        from snn2hw.distill.stm import measure_stm

        bundle = load_data(cfg)
        student, _, _ = load_model(run / "student.pt", "student", bundle)
        teacher, tspec, _ = load_model(job["teacher_ckpt"], "teacher", bundle)
        out["stm"] = measure_stm(student.to(device), teacher.to(device), tspec.arch, bundle.test,
                                 device, batch_size=job.get("stm_batch", 64))
    return out


if __name__ == "__main__":
    job = json.loads(sys.argv[1])
    result = _worker(job)
    print(RESULT_TAG + json.dumps(result), flush=True)
    os._exit(0)

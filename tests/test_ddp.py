"""torchrun with 2 CPU processes (gloo) equals one process with the same global batch."""

from __future__ import annotations

import os
import subprocess
import sys

import torch

ARGS = ["--method", "baseline", "--epochs", "2", "--batch-size", "32", "--device", "cpu",
        "--set", "data.train_subset=96", "--set", "data.test_subset=32", "--set", "train.lr=0.01"]


def test_two_process_ddp_matches_single_process(cli, tmp_path):
    r = cli("distill", "--runs-dir", tmp_path, "--name", "single", *ARGS)
    assert r.exit_code == 0, r.output
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    p = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
         "-m", "snn2hw", "distill", "--runs-dir", str(tmp_path), "--name", "ddp", *ARGS],
        capture_output=True, text=True, timeout=300, env=env,
    )
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
    a = torch.load(tmp_path / "single" / "student.pt", weights_only=True)
    b = torch.load(tmp_path / "ddp" / "student.pt", weights_only=True)
    assert b["epoch"] == 2 and b["complete"]
    for k in a["state_dict"]:
        torch.testing.assert_close(b["state_dict"][k], a["state_dict"][k], rtol=1e-4, atol=1e-5)
    assert abs(b["metrics"]["train_loss"] - a["metrics"]["train_loss"]) < 1e-4  # summed over ranks
    # rank 0 alone wrote: one metrics line per epoch
    lines = (tmp_path / "ddp" / "metrics.jsonl").read_text().splitlines()
    assert len(lines) == 2

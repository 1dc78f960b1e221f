"""Run directory: atomic checkpoints, metrics.jsonl, summary.json, resolved config."""

from __future__ import annotations

import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

from snn2hw.errors import CheckpointError

CHECKPOINT_FORMAT = "snn2hw-checkpoint/1"
STUDENT_CKPT = "student.pt"
TEACHER_CKPT = "teacher.pt"
CONFIG_FILE = "config.yaml"
METRICS_FILE = "metrics.jsonl"
SUMMARY_FILE = "summary.json"


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write via a temp file in the same folder + rename: a crash leaves the old file or the new one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode())


def save_checkpoint(path: Path, payload: dict[str, Any]) -> None:
    """torch.save to a temp file, then rename (never a half-written checkpoint)."""
    import io

    buf = io.BytesIO()
    torch.save({"format": CHECKPOINT_FORMAT, **payload}, buf)
    atomic_write_bytes(path, buf.getvalue())


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """Load a checkpoint with weights_only=True; any corruption becomes a CheckpointError."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(
            f"checkpoint {path} does not exist; give the path of a teacher.pt/student.pt written by "
            "snn2hw (inside a run directory, e.g. runs/<name>/teacher.pt)"
        )
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # torch raises many types (EOFError, IndexError, UnpicklingError...)
        raise CheckpointError(
            f"checkpoint {path} is corrupt or truncated and cannot be read ({type(e).__name__}: "
            f"{str(e).splitlines()[0] if str(e) else 'no detail'}). If a run was killed while "
            "writing, it is the previous epoch's file that counts: re-run, or point to an intact "
            "checkpoint."
        ) from None
    if not isinstance(ckpt, dict) or ckpt.get("format") != CHECKPOINT_FORMAT:
        raise CheckpointError(
            f"{path} is a PyTorch file but not an snn2hw checkpoint (no '{CHECKPOINT_FORMAT}' "
            "marker); use a teacher.pt/student.pt written by `snn2hw teacher` or `snn2hw distill`"
        )
    return ckpt


class RunDir:
    """A run's folder: config.yaml, teacher.pt, student.pt, metrics.jsonl, summary.json."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    @property
    def config_path(self) -> Path:
        return self.path / CONFIG_FILE

    @property
    def student_ckpt(self) -> Path:
        return self.path / STUDENT_CKPT

    @property
    def teacher_ckpt(self) -> Path:
        return self.path / TEACHER_CKPT

    @property
    def summary_path(self) -> Path:
        return self.path / SUMMARY_FILE

    def log_metrics(self, record: dict[str, Any]) -> None:
        """Append one JSON line (one epoch of one phase)."""
        self.path.mkdir(parents=True, exist_ok=True)
        with open(self.path / METRICS_FILE, "a") as f:
            f.write(json.dumps(record) + "\n")

    def metrics(self) -> list[dict[str, Any]]:
        p = self.path / METRICS_FILE
        if not p.exists():
            return []
        return [json.loads(line) for line in p.read_text().splitlines() if line.strip()]

    def truncate_metrics(self, phase: str, last_epoch: int) -> None:
        """Drop lines of `phase` after `last_epoch` (written after the last checkpoint of a killed run)."""
        kept = [m for m in self.metrics() if not (m["phase"] == phase and m["epoch"] > last_epoch)]
        atomic_write_text(self.path / METRICS_FILE, "".join(json.dumps(m) + "\n" for m in kept))

    def write_summary(self, summary: dict[str, Any]) -> None:
        atomic_write_text(self.summary_path, json.dumps(summary, indent=2) + "\n")

    def summary(self) -> dict[str, Any]:
        if not self.summary_path.exists():
            raise CheckpointError(
                f"{self.path} has no {SUMMARY_FILE}: the run did not finish; resume it with "
                f"`snn2hw distill --resume {self.path}`"
            )
        return json.loads(self.summary_path.read_text())


def new_run_name(prefix: str, runs_dir: str | Path | None = None) -> str:
    """<prefix>-<YYYYmmdd-HHMMSS>; with runs_dir, a -2, -3, ... suffix if that folder exists
    (two runs started in the same second, e.g. a script run twice)."""
    name = f"{prefix}-{time.strftime('%Y%m%d-%H%M%S')}"
    if runs_dir is None:
        return name
    n, candidate = 1, name
    while (Path(runs_dir) / candidate).exists():
        n += 1
        candidate = f"{name}-{n}"
    return candidate


def latest_run(runs_dir: str | Path = "runs") -> RunDir:
    """The run under `runs_dir` whose student checkpoint was written last."""
    runs = Path(runs_dir)
    candidates = sorted(runs.glob(f"*/{STUDENT_CKPT}"), key=lambda p: p.stat().st_mtime)
    if not candidates:
        raise CheckpointError(
            f"no run with a trained student under {runs.resolve()}; run `snn2hw distill` first or "
            "give the run directory explicitly"
        )
    return RunDir(candidates[-1].parent)


def open_run(path: str | Path) -> RunDir:
    """An existing run directory (must hold config.yaml)."""
    run = RunDir(path)
    if not run.config_path.is_file():
        raise CheckpointError(
            f"{run.path} is not an snn2hw run directory (no {CONFIG_FILE}); give a folder made by "
            "`snn2hw distill` or `snn2hw teacher`, e.g. runs/<name>"
        )
    return run

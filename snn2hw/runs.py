"""Run directory: atomic checkpoints, metrics.jsonl, summary.json, resolved config."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import torch

from snn2hw.errors import CheckpointError
from snn2hw.fileio import (  # atomic_write_* are also imported from here by callers
    FileSystemError,
    atomic_write_bytes,
    atomic_write_text,
    ensure_dir,
    is_user_os_error,
    os_error,
)

CHECKPOINT_FORMAT = "snn2hw-checkpoint/1"
STUDENT_CKPT = "student.pt"
TEACHER_CKPT = "teacher.pt"
CONFIG_FILE = "config.yaml"
METRICS_FILE = "metrics.jsonl"
SUMMARY_FILE = "summary.json"


def save_checkpoint(path: Path, payload: dict[str, Any]) -> None:
    """torch.save to a temp file, then rename (never a half-written checkpoint).

    A full or read-only disk leaves the previous checkpoint intact; the error says where it is.
    """
    import io

    path = Path(path)
    buf = io.BytesIO()
    torch.save({"format": CHECKPOINT_FORMAT, **payload}, buf)
    try:
        atomic_write_bytes(path, buf.getvalue(), what="checkpoint")
    except FileSystemError as e:
        if not (path.parent / CONFIG_FILE).is_file():  # not inside a run folder (an export)
            raise
        raise CheckpointError(f"{e}. {_last_good(path)}") from None


def _last_good(path: Path) -> str:
    """Where a run stands after a failed write next to `path` (a checkpoint or metrics file)."""
    found = [p for p in (path.parent / STUDENT_CKPT, path.parent / TEACHER_CKPT) if p.is_file()]
    resume = f"continue with --resume {path.parent} (snn2hw distill or snn2hw teacher)"
    if not found:
        return f"No checkpoint of this run was written yet; after fixing, {resume} or start again"
    newest = max(found, key=lambda p: p.stat().st_mtime)
    return f"The last good checkpoint, {newest}, is intact; after fixing, {resume}"


# Keys every snn2hw checkpoint holds, and those a resumable (unfinished) one holds besides.
CHECKPOINT_KEYS = {"model": dict, "state_dict": dict, "epoch": int}
RESUME_KEYS = {"optimizer": dict, "rng": dict}


def check_checkpoint(ck: dict[str, Any], path: Path) -> None:
    """Raise CheckpointError naming the missing or wrong-typed key of an snn2hw checkpoint."""
    need = dict(CHECKPOINT_KEYS)
    if ck.get("complete") is not True:  # an unfinished run's checkpoint: resumable state needed
        need.update(RESUME_KEYS)
    for key, tp in need.items():
        if key not in ck:
            raise CheckpointError(
                f"checkpoint {path} lacks the key {key!r} (it has {', '.join(sorted(map(str, ck)))}): "
                "it was edited or written by another program; use a teacher.pt/student.pt written "
                "by `snn2hw teacher` or `snn2hw distill`"
            )
        if not isinstance(ck[key], tp) or (tp is int and isinstance(ck[key], bool)):
            raise CheckpointError(
                f"checkpoint {path}: key {key!r} is a {type(ck[key]).__name__}, not a "
                f"{tp.__name__}; the file was edited or is of another format; re-create it"
            )
    bad = [k for k, v in ck["state_dict"].items() if not isinstance(v, torch.Tensor)]
    if bad:
        raise CheckpointError(f"checkpoint {path}: state_dict entry {bad[0]!r} is not a tensor; "
                              "re-create the checkpoint")


def check_spec(ck: dict[str, Any], path: Path, expected: dict[str, Any]) -> None:
    """The checkpoint's model record must match the model being resumed (role, arch, shapes)."""
    got = ck["model"]
    for key in ("role", "arch", "in_shape", "num_classes", "timesteps"):
        a, b = got.get(key), expected.get(key)
        if key == "in_shape" and a is not None:
            a, b = list(a), list(b or [])
        if a != b:
            raise CheckpointError(
                f"checkpoint {path} holds a model with {key} {a!r}, but this run needs {b!r}; the "
                "file was copied from another run; restore this run's own checkpoint, or start a "
                "new run without --resume"
            )


def load_state(model: Any, state: dict[str, Any], path: Path, what: str = "model") -> None:
    """model.load_state_dict(state); a shape or key mismatch names the file and the fix."""
    try:
        model.load_state_dict(state)
    except (RuntimeError, KeyError, TypeError, ValueError) as e:
        first = str(e).splitlines()[0] if str(e) else type(e).__name__
        detail = " ".join(str(e).split())[:400]
        raise CheckpointError(
            f"the weights in {path} do not fit this {what} ({first}: {detail}); the file belongs to "
            "another architecture, dataset or time-step setting; use the checkpoint of this run"
        ) from None


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """Load a checkpoint with weights_only=True; any corruption becomes a CheckpointError."""
    path = Path(path)
    if path.is_dir():
        raise CheckpointError(
            f"checkpoint {path} is a folder; give the checkpoint file inside it, e.g. "
            f"{path / TEACHER_CKPT} or {path / STUDENT_CKPT}"
        )
    if not path.is_file():
        raise CheckpointError(
            f"checkpoint {path} does not exist; give the path of a teacher.pt/student.pt written by "
            "snn2hw (inside a run directory, e.g. runs/<name>/teacher.pt)"
        )
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except OSError as e:
        if is_user_os_error(e):
            raise os_error(e, path, "read checkpoint") from None
        raise CheckpointError(f"checkpoint {path} cannot be read ({e}); point to an intact "
                              "checkpoint") from None
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
    check_checkpoint(ckpt, path)
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
        """Append one JSON line (one epoch of one phase); a full disk names the intact checkpoint."""
        p = self.path / METRICS_FILE
        try:
            ensure_dir(self.path, what="run folder")
            with open(p, "a") as f:
                f.write(json.dumps(record) + "\n")
        except OSError as e:
            raise CheckpointError(f"{os_error(e, p, 'append to')}. {_last_good(p)}") from None

    def metrics(self) -> list[dict[str, Any]]:
        """The epoch records; a line torn by a crash or a full disk is skipped."""
        p = self.path / METRICS_FILE
        if not p.exists():
            return []
        out = []
        for line in p.read_text(errors="replace").splitlines():
            try:
                rec = json.loads(line)
            except ValueError:
                continue
            if isinstance(rec, dict):
                out.append(rec)
        return out

    def truncate_metrics(self, phase: str, last_epoch: int) -> None:
        """Drop lines of `phase` after `last_epoch` (written after the last checkpoint of a killed run)."""
        kept = [m for m in self.metrics()
                if not (m.get("phase") == phase and isinstance(m.get("epoch"), int)
                        and m["epoch"] > last_epoch)]
        atomic_write_text(self.path / METRICS_FILE, "".join(json.dumps(m) + "\n" for m in kept))

    def write_summary(self, summary: dict[str, Any]) -> None:
        try:
            atomic_write_text(self.summary_path, json.dumps(summary, indent=2) + "\n", what="summary")
        except FileSystemError as e:
            raise CheckpointError(f"{e}. Training finished; {_last_good(self.summary_path)} "
                                  "(it only writes the summary)") from None

    def summary(self) -> dict[str, Any]:
        if not self.summary_path.exists():
            raise CheckpointError(
                f"{self.path} has no {SUMMARY_FILE}: the run did not finish; resume it with "
                f"`snn2hw distill --resume {self.path}`"
            )
        try:
            data = json.loads(self.summary_path.read_text())
        except ValueError as e:
            raise CheckpointError(f"{self.summary_path} is corrupt ({e}); it is rewritten when the "
                                  "run finishes: resume it or run it again") from None
        if not isinstance(data, dict):
            raise CheckpointError(f"{self.summary_path} holds a {type(data).__name__}, not a "
                                  "summary record; resume the run or run it again")
        return data


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
    if run.path.is_file():
        raise CheckpointError(
            f"{run.path} is a file; give its run folder ({run.path.parent}), the folder made by "
            "`snn2hw distill` or `snn2hw teacher` that holds config.yaml"
        )
    if not run.config_path.is_file():
        raise CheckpointError(
            f"{run.path} is not an snn2hw run directory (no {CONFIG_FILE}); give a folder made by "
            "`snn2hw distill` or `snn2hw teacher`, e.g. runs/<name>"
        )
    return run

"""Shared fixtures: tiny run configs and the location of ../shared (real data for tests)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import settings

# CI runs the property tests on a fixed example sequence (a red CI must mean a regression, not a
# newly drawn example) and without per-example deadlines (shared 2-core machines stall).
# Local runs keep exploring new examples.
settings.register_profile("ci", derandomize=True, deadline=None)
if os.environ.get("CI"):
    settings.load_profile("ci")

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"



@pytest.fixture
def shared_dir() -> Path:
    if not SHARED.is_dir():
        pytest.skip(f"needs the shared data folder at {SHARED} (absent on this machine)")
    return SHARED


@pytest.fixture
def cli():
    """Invoke the real `snn2hw` typer app in-process; returns click's Result."""
    from typer.testing import CliRunner

    from snn2hw.cli import app

    runner = CliRunner()

    def run(*args: str):
        return runner.invoke(app, [str(a) for a in args])

    return run


@pytest.fixture
def crash_after_student_epoch1(monkeypatch):
    """arm(): the next training run dies (KeyboardInterrupt) right after the student's epoch-1
    checkpoint is written, as a killed run would; arm() returns disarm()."""
    import snn2hw.train as train_mod

    real_save = train_mod.save_checkpoint

    def save_then_die(path, payload):
        real_save(path, payload)
        if path.name == "student.pt" and payload["epoch"] == 1:
            raise KeyboardInterrupt

    def arm():
        monkeypatch.setattr(train_mod, "save_checkpoint", save_then_die)
        return lambda: monkeypatch.setattr(train_mod, "save_checkpoint", real_save)

    return arm

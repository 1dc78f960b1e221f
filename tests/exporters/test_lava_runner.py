"""The Lava runner's failure modes: missing install, crash, hang -> clear error, no process left."""

from __future__ import annotations

import os
import time

import numpy as np
import pytest

import exporters.lava as lava_mod
from exporters.errors import SimulationError

HANG = """
import os, subprocess, sys, time
child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
open(os.environ["PID_FILE"], "w").write(f"{os.getpid()} {child.pid}")
time.sleep(120)
"""
CRASH = "import sys\nraise RuntimeError('lava exploded: bad netx layer')\n"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open(f"/proc/{pid}/stat") as f:  # a zombie waiting for its parent counts as gone
        return f.read().split()[2] != "Z"


@pytest.fixture
def fake_worker(tmp_path, monkeypatch):
    monkeypatch.setattr(lava_mod, "lava_available", lambda: True)
    monkeypatch.setenv("PYTHONPATH", str(tmp_path))

    def make(name: str, code: str) -> str:
        (tmp_path / f"{name}.py").write_text(code)
        return name

    return make


def _run(worker: str, timeout: float = 60.0):
    return lava_mod.run_lava("x.net", np.zeros((1, 4), np.int64), timesteps=2, num_layers=1,
                             input_message_bits=0, timeout_s=timeout, worker=worker)


def test_missing_lava_is_a_clear_error(monkeypatch):
    monkeypatch.setattr(lava_mod, "lava_available", lambda: False)
    with pytest.raises(SimulationError, match="Lava is not installed.*--backend emulator"):
        _run("exporters.lava_worker")


def test_crash_reports_the_cause(fake_worker):
    with pytest.raises(SimulationError, match="Lava failed.*lava exploded"):
        _run(fake_worker("crash_worker", CRASH))


def test_hang_is_stopped_and_leaves_no_process(fake_worker, tmp_path, monkeypatch):
    monkeypatch.setenv("PID_FILE", str(tmp_path / "worker.pids"))
    t0 = time.perf_counter()
    with pytest.raises(SimulationError, match="did not finish within 3 s"):
        _run(fake_worker("hang_worker", HANG), timeout=3)
    assert time.perf_counter() - t0 < 30
    pids = [int(p) for p in (tmp_path / "worker.pids").read_text().split()]
    assert len(pids) == 2  # the worker and the process it started (as Lava does)
    time.sleep(0.2)
    assert not any(_alive(p) for p in pids)

"""Run a netx file in Lava (Loihi2SimCfg, fixed_pt) in a child process with a timeout.

Lava forks its own processes; running it in a separate session lets a hang or crash be killed
as a whole group, so the caller survives and no process is left behind.
"""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from exporters.errors import SimulationError


@dataclass
class LavaResult:
    """Readout voltage per sample, valid-window spikes per layer [T, N, ...], speed."""

    v_readout: np.ndarray
    spikes: list[np.ndarray] | None
    steps: int
    run_s: float
    compile_s: float
    raw: list[np.ndarray] | None = None  # every recorded step [steps, *shape] per layer

    @property
    def steps_per_s(self) -> float:
        return self.steps / self.run_s if self.run_s > 0 else float("inf")


def lava_available() -> bool:
    """True when lava-nc and lava-dl import paths exist (without importing them)."""
    try:
        return importlib.util.find_spec("lava.lib.dl.netx") is not None
    except ModuleNotFoundError:
        return False


def run_lava(net_path: str | Path, x_int: np.ndarray, *, timesteps: int, num_layers: int,
             input_message_bits: int, record: bool = True, timeout_s: float = 600.0,
             worker: str = "exporters.lava_worker", per_step: bool = False) -> LavaResult:
    """Run samples x_int [N, *in_shape] through Lava, sample after sample (netx reset schedule);
    with per_step, x_int is [N, T, *in_shape]: a new frame every step (event frames, streams)."""
    cfg = {"net": str(Path(net_path).resolve()), "timesteps": timesteps,
           "num_layers": num_layers, "input_message_bits": input_message_bits, "record": record,
           "input": "frames" if per_step else "static"}
    r = _run_worker(net_path, np.asarray(x_int, np.int64), cfg, timeout_s, worker)
    L = num_layers
    P = timesteps + L
    n = len(x_int)
    mons = [r[f"mon{k}"] for k in range(L)] if record else []
    v = r[f"mon{len(mons)}"]
    v_read = np.stack([v[i * P + timesteps + L - 1] for i in range(n)])
    spikes = None
    if record:
        spikes = []
        for k, m in enumerate(mons):
            idx = np.concatenate([np.arange(i * P + k + 1, i * P + k + 1 + timesteps)
                                  for i in range(n)])
            w = m[idx].reshape(n, timesteps, *m.shape[1:]).swapaxes(0, 1)
            spikes.append(w)
    comp, run_s, steps = r["timing"]
    return LavaResult(v_read, spikes, int(steps), float(run_s), float(comp),
                      raw=mons + [v] if record else None)


@dataclass
class LavaStreams:
    """Every step of every sample: spikes per neuron layer [period, N, *shape], last-layer v."""

    spikes: list[np.ndarray]
    v: np.ndarray  # [period, N, *shape]
    steps: int
    run_s: float
    compile_s: float

    @property
    def steps_per_s(self) -> float:
        return self.steps / self.run_s if self.run_s > 0 else float("inf")


def run_lava_streams(net_path: str | Path, x: np.ndarray, *, period: int,
                     reset_interval: int | None, reset_offset: int, num_layers: int | None,
                     input_message_bits: int, timeout_s: float = 600.0) -> LavaStreams:
    """Samples x [N, S, *in_shape] in Lava, one after another from a zero state, `period` steps
    each, under netx's reset schedule (None = no reset) and num_layers (see lava_worker)."""
    x = np.asarray(x, np.int64)
    cfg = {"mode": "streams", "net": str(Path(net_path).resolve()), "period": int(period),
           "reset_interval": reset_interval, "reset_offset": int(reset_offset),
           "num_layers": num_layers, "input_message_bits": int(input_message_bits)}
    r = _run_worker(net_path, x, cfg, timeout_s)
    n = len(x)
    keys = sorted((k for k in r["files"] if k.startswith("mon")), key=lambda k: int(k[3:]))
    mons = [r[k].reshape(n, period, *r[k].shape[1:]).swapaxes(0, 1) for k in keys]
    comp, run_s, steps = r["timing"]
    return LavaStreams(mons[:-1], mons[-1], int(steps), float(run_s), float(comp))


def require_lava() -> None:
    """Raise the user error that says how to get Lava when it is not installed."""
    if not lava_available():
        raise SimulationError(
            "Lava is not installed (lava-nc 0.10 and lava-dl 0.6 need Python 3.10); run "
            "`uv sync` in the project on Python 3.10, or use --backend emulator"
        )


def _run_worker(net_path, x: np.ndarray, cfg: dict, timeout_s: float,
                worker: str = "exporters.lava_worker", *,
                timeout_fix: str = "run fewer samples (--samples) or use --backend emulator",
                failure_fix: str = "check that the file is a valid netx network, or use "
                                   "--backend emulator",
                env_defaults: dict[str, str] | None = None) -> dict:
    """Run a Lava worker module on (x, cfg) in its own process group, killed on timeout or exit;
    its outputs, loaded. Every Lava runner (netx, streams, graphs, event frames) goes through here."""
    require_lava()
    with tempfile.TemporaryDirectory(prefix="snn2hw-lava-") as tmp:
        job, out = Path(tmp) / "job.npz", Path(tmp) / "out.npz"
        np.savez(job, x=x, cfg=np.array(json.dumps(cfg)))
        env = dict(os.environ)
        root = str(Path(__file__).resolve().parent.parent)
        env["PYTHONPATH"] = root + os.pathsep + env.get("PYTHONPATH", "")
        for k, val in (env_defaults or {}).items():
            env.setdefault(k, val)
        proc = subprocess.Popen([sys.executable, "-m", worker, str(job), str(out)], env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                start_new_session=True)
        try:
            log, _ = proc.communicate(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            _kill_group(proc)
            raise SimulationError(
                f"Lava did not finish within {timeout_s:.0f} s on {net_path} and was stopped; "
                f"{timeout_fix}"
            ) from None
        finally:
            _kill_group(proc)
        if proc.returncode != 0 or not out.is_file():
            tail = log.decode(errors="replace").strip().splitlines()[-3:]
            raise SimulationError(
                f"Lava failed on {net_path} (exit code {proc.returncode}): {' | '.join(tail)}; "
                f"{failure_fix}"
            )
        with np.load(out) as r:
            return {k: r[k] for k in r.files} | {"files": list(r.files)}


def _kill_group(proc: subprocess.Popen) -> None:
    """Kill the child's whole process group (Lava's own workers included); ignore if gone."""
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait()
    else:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass

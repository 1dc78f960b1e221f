"""Event students (frames [N, T, C, H, W], a new frame every step) on the exported netx network.

The emulator runs each layer's T valid steps on the T integer frames (exporters/emulator.py
`run_windowed` with sequence input); Lava gets frame t of sample i at step i * P + t + 1
(exporters/lava_worker.py, per-step input). Event frames hold integer event counts, so they are sent as graded
spikes unscaled (input scale 1), clipped to the export's input range.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from exporters.errors import SimulationError

EVENT_DATASETS = ("nmnist", "dvs-gesture", "cifar10-dvs")
EVENT_MAX_COUNT = 255  # graded input of at most 8 bits; larger counts are clipped


def event_input_range(bundle, samples: int = 64) -> tuple[float, float]:
    """(input scale, input max) for event frames: counts sent as they are, max seen in training."""
    hi = 1.0
    for i in range(min(samples, len(bundle.train))):
        x, _ = bundle.train[i]
        hi = max(hi, float(torch.as_tensor(x).max()))
    return 1.0, float(min(np.ceil(hi), EVENT_MAX_COUNT))


def is_sequence(x: np.ndarray, in_shape: tuple[int, ...]) -> bool:
    """True for inputs [N, T, *in_shape] (event frames) rather than [N, *in_shape]."""
    return np.ndim(x) == len(in_shape) + 2 and tuple(np.shape(x)[2:]) == tuple(in_shape)


def emulate_sequence(emu, x_int: np.ndarray, timesteps: int, batch_size: int = 64
                     ) -> tuple[np.ndarray, list[np.ndarray]]:
    """Frames [N, T, *in_shape] -> (readout voltages [N, n], valid spikes per layer [T, N, ...])."""
    from exporters.emulator import run_windowed

    x_int = torch.as_tensor(np.asarray(x_int))
    vs, spikes = [], None
    for i in range(0, len(x_int), batch_size):
        r = run_windowed(emu, x_int[i:i + batch_size].transpose(0, 1), timesteps)
        vs.append(r.v_last[0].cpu().numpy())
        spikes = [[] for _ in r.spikes] if spikes is None else spikes
        for k, s in enumerate(r.spikes):
            spikes[k].append(s.cpu().numpy())
    return np.concatenate(vs), [np.concatenate(s, axis=1) for s in spikes]


def check_frames(x_int: np.ndarray, timesteps: int, message_bits: int) -> np.ndarray:
    """Integer frames with T = timesteps and values the graded input can carry."""
    x_int = np.asarray(x_int)
    if x_int.shape[1] != timesteps:
        raise SimulationError(f"the inputs hold {x_int.shape[1]} frames per sample, but the export "
                              f"runs T = {timesteps} steps; export a student trained with -T "
                              f"{x_int.shape[1]} or bin the events into {timesteps} frames")
    hi = 2 ** message_bits - 1 if message_bits else 1
    return np.clip(np.round(x_int), 0, hi).astype(np.int64)


def run_sequence_both(net: str | Path, x_int: np.ndarray, *, lava: bool = True,
                      emulator: bool = True, device: str = "cpu", timeout_s: float = 1800.0,
                      y: np.ndarray | None = None) -> dict[str, Any]:
    """Emulator and/or Lava on frames [N, T, *in_shape]; with both, spike agreement per layer."""
    from exporters.emulator import Emulator
    from exporters.netx import read_netx
    from exporters.pipeline import _acc, spike_agreement

    f = read_netx(net)
    info = f.info
    T, L = int(info["timesteps"]), len(f.layers)
    bits = int(info["input_message_bits"])
    x_int = check_frames(x_int, T, bits)
    res: dict[str, Any] = {"samples": len(x_int), "net": str(net), "input": "frames"}
    voltage = info.get("readout") == "voltage"
    if emulator:
        emu = Emulator(f, device=device, input_message_bits=bits, reset_interval=T + L,
                       reset_offset=1)
        t0 = time.perf_counter()
        v, sp = emulate_sequence(emu, x_int, T)
        dt = time.perf_counter() - t0
        res["emulator"] = {"accuracy": _acc(v if voltage else sp[-1].sum(0), y),
                           "steps_per_s": len(x_int) * (T + L) / dt, "seconds": dt}
    if lava:
        from exporters.lava import run_lava

        lr = run_lava(net, x_int, timesteps=T, num_layers=L, input_message_bits=bits,
                      record=emulator or not voltage, timeout_s=timeout_s,
                      per_step=True)
        res["lava"] = {"accuracy": _acc(lr.v_readout if voltage else lr.spikes[-1].sum(0), y),
                       "steps_per_s": lr.steps_per_s, "seconds": lr.run_s,
                       "compile_s": lr.compile_s}
        if emulator:
            res["agreement"] = spike_agreement(sp, lr.spikes, info.get("layer_names"))
            res["readout_equal"] = bool(np.array_equal(v, lr.v_readout))
    return res

"""`snn2hw simulate FILE.net` for any netx file with Lava's semantics: input streams, event files,
the file's reset schedule (or --reset-interval/--reset-offset) and netx's `num_layers`.

Each sample is a stream [S, *in_shape] (a static input is repeated for --timesteps steps) and runs
for `period` steps (default S + neuron layers + the largest delay of each delayed layer, so its
last input reaches the output) from a zero network state; samples follow each other on the
reset schedule's clock, as in one Lava run. The emulator and the Lava runner compute exactly
this, so their spikes are compared on every step of every layer.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from exporters.errors import SimulationError

A_IN_MAX = 2**15 - 1  # Lava's LIF a_in port is a signed 16-bit integer


@dataclass
class StreamInputs:
    """Integer streams [N, S, *in_shape], labels, and what was done to the given input."""

    x: np.ndarray
    y: np.ndarray | None
    notes: list[str] = field(default_factory=list)


def _is_events(a: np.ndarray) -> bool:
    names = a.dtype.names or ()
    return all(k in names for k in ("x", "y", "t"))


def read_input_file(path: str | Path) -> np.ndarray:
    """A .npy array (numbers or structured events with fields x, y, t[, p]) or an N-MNIST .bs2."""
    p = Path(path)
    if p.suffix.lower() == ".bs2":
        from snn2hw.data.nmnist import read_bs2
        from snn2hw.errors import DataError

        try:
            return read_bs2(p)
        except DataError as e:
            raise SimulationError(str(e)) from None
    from exporters.pipeline import read_npy

    return read_npy(p, "--input")


def events_to_stream(ev: np.ndarray, in_shape: tuple[int, ...], timesteps: int | None,
                     bits: int, what: str) -> tuple[np.ndarray, list[str]]:
    """One event recording -> [1, T, C, H, W] counts binned with snn2hw.data's frame code."""
    from snn2hw.data.frames import events_to_frames, keep_inside, sort_by_time

    if len(in_shape) != 3:
        raise SimulationError(f"{what} holds events, but the network takes input of shape "
                              f"{list(in_shape)}; events need a (polarity, height, width) input")
    if not timesteps:
        raise SimulationError(f"{what} holds events: give --timesteps T, the number of time bins "
                              "the recording is cut into (one bin per step)")
    c, h, w = in_shape
    notes = []
    ev, unsorted = sort_by_time(ev)
    if unsorted:
        notes.append("events were not in time order and were sorted")
    if c == 1 and "p" in (ev.dtype.names or ()) and np.any(ev["p"].astype(np.int64) != 0):
        ev = ev.copy()
        ev["p"] = 0
        notes.append("the network has one input channel: both polarities were merged")
    ev, outside = keep_inside(ev, (w, h, c))
    if outside:
        notes.append(f"{outside} events outside the {w}x{h}x{c} sensor were dropped")
    frames = events_to_frames(ev, (w, h, c), timesteps).astype(np.int64)
    hi = 1 if bits == 0 else 2**bits - 1
    if frames.max(initial=0) > hi:
        extra = int(np.clip(frames - hi, 0, None).sum())
        frames = np.minimum(frames, hi)
        notes.append(f"{extra} events in bins already holding {hi} were merged (each input "
                     f"carries at most {hi} per step: {bits or 'binary'} message bits)")
    notes.append(f"{len(ev)} events binned into {timesteps} steps")
    return frames[None], notes


def prepare_inputs(x: np.ndarray, y: np.ndarray | None, in_shape: tuple[int, ...],
                   timesteps: int | None, bits: int, what: str = "--input") -> StreamInputs:
    """Static [N, *in] (needs --timesteps, repeated), one stream [S, *in] or streams [N, S, *in]."""
    from exporters.checks import check_inputs

    x = np.asarray(x)
    notes: list[str] = []
    if x.dtype.names is not None:
        if not _is_events(x):
            raise SimulationError(f"{what} is a structured array with fields {x.dtype.names}; "
                                  "event recordings need fields x, y, t (and p)")
        x, notes = events_to_stream(x, in_shape, timesteps, bits, what)
    elif x.ndim == len(in_shape) + 1 and not timesteps:
        x = x[None]  # [S, *in]: one sample's stream
        notes.append(f"{what} [{x.shape[1]}, ...] is one sample's stream of {x.shape[1]} steps "
                     "(give --timesteps T to feed [N, ...] as N static samples instead)")
    x, y = check_inputs(x, y, in_shape, bits, what, streams=True)
    if x.ndim == len(in_shape) + 1:
        if not timesteps:
            raise SimulationError(f"{what} holds static samples: give --timesteps T")
        x = np.repeat(x[:, None], timesteps, axis=1)
    elif timesteps and timesteps != x.shape[1]:
        raise SimulationError(f"{what} streams have {x.shape[1]} steps but --timesteps is "
                              f"{timesteps}; drop --timesteps or cut the streams to {timesteps}")
    return StreamInputs(x, y, notes)


def default_period(net, steps_in: int) -> int:
    """Input steps + one step per neuron layer + the largest delay of every delayed layer."""
    return steps_in + len(net.layers) + sum(int(lay.delay.max()) for lay in net.layers
                                            if lay.delay is not None)


def layer_names(net) -> list[str]:
    """Our exports' names, else `<index>:<kind>` per neuron layer."""
    names = net.info.get("layer_names")
    if names and len(names) == len(net.layers):
        return list(names)
    return [f"{k}:{'dense_rec' if lay.weight_rec is not None else lay.kind}"
            for k, lay in enumerate(net.layers)]


def schedule(net, reset_interval: int | None, reset_offset: int | None) -> tuple[int | None, int]:
    """The file's own reset schedule (snn2hw's exports carry one; others: none), or the override.

    reset_interval 0 means no reset."""
    ri = net.info.get("reset_interval") if reset_interval is None else reset_interval
    off = net.info.get("reset_offset", 0) if reset_offset is None else reset_offset
    return (int(ri) if ri else None), int(off)


def simulate_netx(path: str | Path, inputs: StreamInputs, *, backend: str = "emulator",
                  compare: bool = False, samples: int = 100, input_message_bits: int = 0,
                  reset_interval: int | None = None, reset_offset: int | None = None,
                  num_layers: int | None = None, period: int | None = None,
                  device: str = "cpu", timeout_s: float = 600.0) -> dict[str, Any]:
    """Run streams on the emulator and/or Lava (see the module docstring); the result table."""
    from exporters.emulator import Emulator, run_streams
    from exporters.netx import read_netx
    from exporters.pipeline import _acc, spike_agreement

    net = read_netx(path, num_layers=num_layers)
    x, y = inputs.x[:samples], (None if inputs.y is None else inputs.y[:samples])
    if net.layers[0].kind == "input":
        lay = net.layers[0]
        a = np.abs(lay.in_weight * x.astype(np.float64) + lay.in_bias).max()
        if a > A_IN_MAX:
            raise SimulationError(
                f"the input layer's transform {lay.in_weight} * x + {lay.in_bias} reaches {a:.0f}, "
                f"beyond the {A_IN_MAX} a 16-bit Lava input current holds; scale the inputs down")
    ri, off = schedule(net, reset_interval, reset_offset)
    P = period or default_period(net, x.shape[1])
    if P < x.shape[1]:
        raise SimulationError(f"--steps {P} is shorter than the {x.shape[1]} input steps per sample")
    voltage = net.info.get("readout") == "voltage" and num_layers is None
    names = layer_names(net)
    res: dict[str, Any] = {
        "samples": len(x), "net": str(path), "steps_per_sample": P,
        "reset": "none" if not ri else f"interval {ri}, offset {off}",
        "layers": f"{net.groups_read} of {net.groups_total} layer groups ({len(net.layers)} "
                  "neuron layers)"}
    if inputs.notes:
        res["note"] = "; ".join(inputs.notes)
    emu_r = None
    if compare or backend == "emulator":
        emu = Emulator(net, device=device, input_message_bits=input_message_bits,
                       reset_interval=ri or 0, reset_offset=off)
        t0 = time.perf_counter()
        emu_r = run_streams(emu, x, P)
        dt = time.perf_counter() - t0
        sp = [s.numpy() for s in emu_r.spikes]
        v = emu_r.v_last.numpy()
        res["emulator"] = {"accuracy": _acc(v[-1] if voltage else sp[-1].sum(0).reshape(len(x), -1), y),
                           "steps_per_s": len(x) * P / dt, "seconds": dt,
                           "spikes": [int(s.sum()) for s in sp]}
    if compare or backend == "lava":
        from exporters.lava import run_lava_streams

        lr = run_lava_streams(net.path, x, period=P, reset_interval=ri, reset_offset=off,
                              num_layers=num_layers, input_message_bits=input_message_bits,
                              timeout_s=timeout_s)
        scores = lr.v[-1] if voltage else lr.spikes[-1].sum(0).reshape(len(x), -1)
        res["lava"] = {"accuracy": _acc(scores, y), "steps_per_s": lr.steps_per_s,
                       "seconds": lr.run_s, "compile_s": lr.compile_s,
                       "spikes": [int(s.sum()) for s in lr.spikes]}
        if compare:
            res["agreement"] = spike_agreement(sp, lr.spikes, names)
            res["readout_equal"] = bool(np.array_equal(v, lr.v))
    return res

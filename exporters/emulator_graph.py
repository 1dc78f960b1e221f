"""Bit-exact emulation of a graph artefact (residual networks) under Loihi's CUBA integer semantics.

Uses the integer neuron and synapse arithmetic of exporters/emulator.py (cuba_step, 24-bit
signed wrap of conv sums). Several synapses into one population add their integer currents.
A population of depth D is reset when the sample's first input reaches it (step D + 1) and is
valid for steps D + 1 .. D + T; the synaptic delays of the artefact align all branches, so
`run_windowed` computes each population's T valid steps population by population (fast) and
`run_steps` simulates every step with delay buffers as the chip does (the reference); both give
the same integers.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from exporters.emulator import cuba_step, signed_clamp
from exporters.quantize_graph import QuantGraph


class GraphEmulator:
    """Holds a quantized graph's integer tensors on a device."""

    def __init__(self, q: QuantGraph, device: str | torch.device = "cpu") -> None:
        self.q = q
        self.device = torch.device(device)
        self._w = [torch.as_tensor(s.weight, device=self.device).to(
            torch.float32 if s.syn.kind == "conv" else torch.float64) for s in q.synapses]
        self._b = {}
        for p in q.populations:
            b = torch.as_tensor(p.bias, device=self.device).double()
            self._b[p.pop.name] = b.view(-1, *([1] * (len(p.pop.shape) - 1)))
        self.shapes = {"input": tuple(q.in_shape), **{p.pop.name: tuple(p.pop.shape)
                                                      for p in q.populations}}

    def synapse(self, k: int, x: torch.Tensor) -> torch.Tensor:
        """Integer current of synapse k for integer inputs x [N, *in_shape] -> [N, *out_shape]."""
        s = self.q.synapses[k].syn
        if s.kind == "conv":
            y = F.conv2d(x.float(), self._w[k], stride=s.stride, padding=s.padding,
                         dilation=s.dilation, groups=s.groups)
            return signed_clamp(torch.trunc(y).double(), 24)
        return x.flatten(1).double() @ self._w[k].T

    def _indices(self, pop: str) -> list[int]:
        return [k for k, s in enumerate(self.q.synapses) if s.syn.dst == pop]


@torch.no_grad()
def run_windowed(emu: GraphEmulator, x: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """x: integer input [B, *in_shape] (static, fed T steps) or [B, T, *in_shape] (a new frame every
    step: event frames) -> (readout v [B, n], spikes per population [T, B, *shape] as uint8)."""
    q, T = emu.q, emu.q.timesteps
    x = torch.as_tensor(x, device=emu.device).double()
    b = x.shape[0]
    per_step = x.ndim == len(q.in_shape) + 2
    if per_step and x.shape[1] != T:
        raise ValueError(f"inputs hold {x.shape[1]} frames per sample, the graph runs T = {T}")
    spikes: dict[str, torch.Tensor] = {}
    v = None
    for qp in q.populations:
        name, shape = qp.pop.name, qp.pop.shape
        a = torch.zeros((T, b, *shape), dtype=torch.float64, device=emu.device)
        for k in emu._indices(name):
            src = q.synapses[k].syn.src
            if src == "input" and per_step:
                a += emu.synapse(k, x.transpose(0, 1).flatten(0, 1)).reshape(T, b, *shape)
            elif src == "input":
                a += emu.synapse(k, x).unsqueeze(0)
            else:
                a += emu.synapse(k, spikes[src].flatten(0, 1)).reshape(T, b, *shape)
        u = torch.zeros((b, *shape), dtype=torch.float64, device=emu.device)
        v = torch.zeros_like(u)
        out = torch.empty((T, b, *shape), dtype=torch.float64, device=emu.device)
        for t in range(T):
            s, u, v = cuba_step(u, v, a[t], i_decay=qp.pop.i_decay, v_decay=qp.pop.v_decay,
                                bias=emu._b[name], vth=qp.v_th_mant)
            out[t] = s
        spikes[name] = out
    return v.to(torch.int64), {k: s.to(torch.uint8) for k, s in spikes.items()}


@torch.no_grad()
def run_steps(emu: GraphEmulator, x: torch.Tensor, steps: int | None = None
              ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Every step as on the chip: x [B, *in_shape] sent at steps 1..T, currents wait in delay
    buffers, population of depth D reset at step D + 1. Returns the readout voltage per step
    [steps, B, n] and all spikes per population [steps, B, *shape]."""
    q, T = emu.q, emu.q.timesteps
    steps = steps or q.latency_steps
    x = torch.as_tensor(x, device=emu.device).double()
    b = x.shape[0]
    dev = emu.device
    depth = max(s.syn.delay for s in q.synapses) + 2
    ring = {p.pop.name: torch.zeros((depth, b, *p.pop.shape), dtype=torch.float64, device=dev)
            for p in q.populations}
    u = {p.pop.name: torch.zeros((b, *p.pop.shape), dtype=torch.float64, device=dev)
         for p in q.populations}
    v = {k: torch.zeros_like(t) for k, t in u.items()}
    rec = {p.pop.name: torch.zeros((steps, b, *p.pop.shape), dtype=torch.uint8, device=dev)
           for p in q.populations}
    v_ro = torch.zeros((steps, b, *q.readout.pop.shape), dtype=torch.int64, device=dev)
    for i in range(steps):
        t = i + 1
        out = {"input": x if t <= T else torch.zeros_like(x)}
        for qp in q.populations:
            n = qp.pop.name
            if t == qp.pop.depth + 1:
                u[n] = torch.zeros_like(u[n])
                v[n] = torch.zeros_like(v[n])
            s, u[n], v[n] = cuba_step(u[n], v[n], ring[n][0], i_decay=qp.pop.i_decay,
                                      v_decay=qp.pop.v_decay, bias=emu._b[n], vth=qp.v_th_mant)
            rec[n][i] = s
            out[n] = s.double()
        v_ro[i] = v[q.readout.pop.name].to(torch.int64)
        for n in ring:  # this step's arrivals are consumed; shift the buffers
            ring[n] = torch.cat([ring[n][1:], torch.zeros_like(ring[n][:1])])
        for k, qs in enumerate(q.synapses):
            ring[qs.syn.dst][qs.syn.delay] += emu.synapse(k, out[qs.syn.src])
    return v_ro, rec


def valid_window(q: QuantGraph, rec: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Cut each population's T valid steps out of `run_steps` recordings."""
    d = {p.pop.name: p.pop.depth for p in q.populations}
    return {n: r[d[n]:d[n] + q.timesteps] for n, r in rec.items()}


def run_samples(emu: GraphEmulator, x_int: np.ndarray | torch.Tensor, batch_size: int = 256
                ) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Samples [N, *in_shape] or frames [N, T, *in_shape] -> (readout voltages [N, n], valid spikes
    {population: [T, N, ...]})."""
    x_int = torch.as_tensor(np.asarray(x_int))
    vs, sp = [], {}
    for i in range(0, len(x_int), batch_size):
        xb = x_int[i:i + batch_size]
        v, s = run_windowed(emu, xb)
        vs.append(v.cpu().numpy())
        for k, val in s.items():
            sp.setdefault(k, []).append(val.cpu().numpy())
    return np.concatenate(vs), {k: np.concatenate(v, axis=1) for k, v in sp.items()}

"""Bit-exact, batched PyTorch emulation of a netx network under Lava's fixed_pt models (CPU or GPU).

Per step t (1-based, as Lava counts), for each layer k in order: the neuron takes the synaptic
buffer computed at t-1 (every weight layer adds one step of delay), is reset to zero when
t % reset_interval == (reset_offset + 1 + k) % reset_interval (netx's LIFReset schedule), updates,
and then the synapse buffers W . s_{k-1}[t] for the next step.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from exporters.netx import NetxFile, NetxLayer, read_netx

U_MAX = 2**23
V_LIM = 2**23 - 1


def decay(x: torch.Tensor, d: int) -> torch.Tensor:
    """x * (4096 - d) / 4096 rounded toward zero (Lava: sign(y) * (|y| >> 12))."""
    return torch.div(x * (4096 - d), 4096, rounding_mode="trunc")


def cuba_step(u, v, a_in, *, i_decay: int, v_decay: int, bias, vth: int):
    """One Loihi CUBA step on int64 tensors -> (spikes bool, u, v); Lava PyLifModelBitAcc."""
    du = decay(u, i_decay) + (a_in << 6)
    wrapped = torch.where(du > U_MAX, du - 2 * U_MAX, du)
    u = torch.where(wrapped <= -U_MAX, du + 2 * U_MAX, wrapped)
    v = torch.clamp(decay(v, v_decay) + u + (bias << 6), -V_LIM, V_LIM)
    s = v > (vth << 6)
    v = torch.where(s, torch.zeros_like(v), v)
    return s, u, v


def signed_clamp(x: torch.Tensor, bits: int) -> torch.Tensor:
    """Wrap into a signed `bits`-bit range (Lava conv utils.signed_clamp)."""
    base = 1 << bits
    return torch.remainder(x + base // 2, base) - base // 2


@dataclass
class EmulatorResult:
    """Spikes of every neuron layer [steps, B, *shape] (uint8) and the last layer's voltage."""

    spikes: list[torch.Tensor]
    v_last: torch.Tensor  # [steps, B, n]


class Emulator:
    """Runs a parsed netx network on batches; `device` may be cpu or cuda."""

    def __init__(self, net: NetxFile | str | Path, *, input_message_bits: int | None = None,
                 reset_interval: int | None = None, reset_offset: int | None = None,
                 device: str | torch.device = "cpu") -> None:
        self.net = net if isinstance(net, NetxFile) else read_netx(net)
        info = self.net.info
        self.input_message_bits = info.get("input_message_bits", 0) \
            if input_message_bits is None else input_message_bits
        self.reset_interval = info.get("reset_interval") if reset_interval is None else reset_interval
        self.reset_offset = info.get("reset_offset", 0) if reset_offset is None else reset_offset
        self.device = torch.device(device)
        dev = self.device
        self._w = []
        for lay in self.net.layers:
            w = None if lay.weight is None else torch.as_tensor(lay.weight, device=dev)
            self._w.append((w.float() if lay.kind == "conv" else w.double()) if w is not None else None)
        self._b = [torch.as_tensor(lay.bias, dtype=torch.int64, device=dev) for lay in self.net.layers]

    def _synapse(self, k: int, lay: NetxLayer, s: torch.Tensor, graded: bool) -> torch.Tensor:
        x = s if graded else (s != 0)
        if lay.kind == "conv":
            y = F.conv2d(x.float(), self._w[k], stride=lay.stride, padding=lay.padding,
                         dilation=lay.dilation, groups=lay.groups)
            return signed_clamp(y.to(torch.int64), 24)
        x = x.flatten(1).double()
        a = (x @ self._w[k].T).to(torch.int64)
        return a << lay.weight_exp if lay.weight_exp > 0 else a >> (-lay.weight_exp)

    @torch.no_grad()
    def run(self, x: torch.Tensor, steps: int) -> EmulatorResult:
        """x: integer input [steps_in, B, *in_shape] (graded or 0/1); zero after steps_in."""
        x = torch.as_tensor(x, device=self.device).to(torch.int64)
        t_in, b = x.shape[:2]
        layers = self.net.layers
        zeros = lambda lay: torch.zeros((b, *lay.shape), dtype=torch.int64, device=self.device)  # noqa: E731
        u = [zeros(lay) for lay in layers]
        v = [zeros(lay) for lay in layers]
        buf = [zeros(lay) for lay in layers]
        rec = [torch.zeros((steps, b, *lay.shape), dtype=torch.uint8, device=self.device)
               for lay in layers]
        v_last = torch.zeros((steps, b, *layers[-1].shape), dtype=torch.int64, device=self.device)
        offsets = [self.reset_offset + 1 + k for k in range(len(layers))]
        zero_in = torch.zeros((b, *self.net.in_shape), dtype=torch.int64, device=self.device)
        for i in range(steps):
            t = i + 1
            prev = x[i] if i < t_in else zero_in
            graded = self.input_message_bits > 0
            for k, lay in enumerate(layers):
                if self.reset_interval and t % self.reset_interval == offsets[k] % self.reset_interval:
                    u[k] = torch.zeros_like(u[k])
                    v[k] = torch.zeros_like(v[k])
                a_in = buf[k] if lay.kind != "input" else torch.zeros_like(u[k])
                s, u[k], v[k] = cuba_step(u[k], v[k], a_in, i_decay=lay.i_decay,
                                          v_decay=lay.v_decay, bias=self._b[k], vth=lay.vth)
                if lay.kind != "input":
                    buf[k] = self._synapse(k, lay, prev, graded)
                rec[k][i] = s
                prev = s.to(torch.int64)
                graded = False
            v_last[i] = v[-1]
        return EmulatorResult(rec, v_last)


def valid_window(res_layer: torch.Tensor, k: int, timesteps: int) -> torch.Tensor:
    """Steps of layer k that belong to the sample (after its reset): [T, B, ...]."""
    start = k + 1  # 0-based index of step t = k + 2
    return res_layer[start:start + timesteps]


def run_samples(emu: Emulator, x_int: np.ndarray | torch.Tensor, timesteps: int,
                batch_size: int = 512) -> tuple[np.ndarray, list[np.ndarray]]:
    """Direct-encoded samples [N, *in_shape] -> (readout voltages [N, n], valid spikes per layer)."""
    x_int = torch.as_tensor(np.asarray(x_int))
    L = len(emu.net.layers)
    steps = timesteps + L
    vs, spikes = [], [[] for _ in range(L)]
    for i in range(0, len(x_int), batch_size):
        xb = x_int[i:i + batch_size]
        seq = xb.unsqueeze(0).expand(timesteps, *xb.shape)
        r = emu.run(seq, steps)
        vs.append(r.v_last[timesteps + L - 1].cpu().numpy())
        for k in range(L):
            spikes[k].append(valid_window(r.spikes[k], k, timesteps).cpu().numpy())
    return np.concatenate(vs), [np.concatenate(s, axis=1) for s in spikes]

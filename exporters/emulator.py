"""Bit-exact, batched PyTorch emulation of a netx network under Lava's fixed_pt models (CPU or GPU).

Per step t (1-based, as Lava counts), for each layer k in order: the neuron takes the synaptic
buffer computed at t-1 (every weight layer adds one step of delay), is reset to zero when
t % reset_interval == (reset_offset + 1 + k) % reset_interval (netx's LIFReset schedule), updates,
and then the synapse buffers W . s_{k-1}[t] for the next step (a netx `delay` d holds it d more
steps, as Lava's DelayDense does). An input-neuron layer (netx `input` with a neuron) takes the
input itself through netx's input transform, a_in = weight * x[t] + bias, in the same step.
A recurrent layer (netx dense_rec, lava-dl's RecurrentDense) also takes its own spikes of the step
before through its second Dense: a_in[t] = W s_{k-1}[t-1] + W_rec s_k[t-1] (each Dense shifted by
the shared weight exponent on its own; measured in Lava: recurrent spikes arrive one step later).

Delays run on a ring buffer per layer: one matmul per step over the (delay, neuron) pairs the
layer has (axonal delays: just W), scattered into the slots `head + d`; the old one-dense-matmul-
per-delay-value computation is kept as `delay_mode="per_delay"` (the reference in the tests).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from exporters.errors import SimulationError
from exporters.netx import NetxFile, NetxLayer, read_netx

U_MAX = 2**23
V_LIM = 2**23 - 1


def decay(x: torch.Tensor, d: int) -> torch.Tensor:
    """x * (4096 - d) / 4096 rounded toward zero (Lava: sign(y) * (|y| >> 12)).

    States are integers held in float64: every product stays below 2^53 and dividing by 4096 is
    exact in binary floating point, so trunc() reproduces the integer shift bit for bit.
    """
    if d == 0:
        return x
    if d == 4096:
        return torch.zeros_like(x)
    return torch.trunc(x * ((4096 - d) / 4096.0))


def cuba_step(u, v, a_in, *, i_decay: int, v_decay: int, bias, vth: int):
    """One Loihi CUBA step on integer-valued float64 tensors -> (spikes bool, u, v).

        u = wrap24(trunc(u * (4096 - iDecay) / 4096) + a_in * 64)
        v = clip(trunc(v * (4096 - vDecay) / 4096) + u + bias * 64, -(2^23 - 1), 2^23 - 1)
        s = v > vThMant * 64;  v = 0 where s             (Lava PyLifModelBitAcc)
    """
    du = decay(u, i_decay) + a_in * 64.0
    wrapped = torch.where(du > U_MAX, du - 2 * U_MAX, du)
    u = torch.where(wrapped <= -U_MAX, du + 2 * U_MAX, wrapped)
    v = torch.clamp(decay(v, v_decay) + u + bias * 64.0, -V_LIM, V_LIM)
    s = v > vth * 64.0
    v = v.masked_fill(s, 0.0)
    return s, u, v


def weight_shift(a: torch.Tensor, weight_exp: int) -> torch.Tensor:
    """Lava Dense's a_accum << weight_exp (>> rounds toward -inf for a negative exponent)."""
    return a * 2.0**weight_exp if weight_exp >= 0 else torch.floor(a * 2.0**weight_exp)


def dense_current(s: torch.Tensor, w: torch.Tensor, weight_exp: int) -> torch.Tensor:
    """One Dense synapse's output for spikes s [B, n_in] (0/1 or graded): shift(s @ W.T) [B, n]."""
    return weight_shift(s.flatten(1).double() @ w.T, weight_exp)


def signed_clamp(x: torch.Tensor, bits: int) -> torch.Tensor:
    """Wrap into a signed `bits`-bit range (Lava conv utils.signed_clamp)."""
    base = float(1 << bits)
    return torch.remainder(x + base / 2, base) - base / 2


def block_factor(lay: NetxLayer) -> int:
    """f > 1 when the conv equals sum-pool(f) then a conv with f-times smaller kernel (exact)."""
    w = lay.weight
    if w is None or lay.dilation != (1, 1) or lay.in_shape is None:
        return 1
    o, i, kh, kw = w.shape
    for f in (4, 3, 2):
        ok = (kh % f == 0 and kw % f == 0 and all(v % f == 0 for v in lay.stride + lay.padding)
              and lay.in_shape[1] % f == 0 and lay.in_shape[2] % f == 0)
        if ok:
            blocks = w.reshape(o, i, kh // f, f, kw // f, f)
            if np.array_equal(blocks, np.broadcast_to(blocks[:, :, :, :1, :, :1], blocks.shape)):
                return f
    return 1


@dataclass
class EmulatorResult:
    """Spikes of every neuron layer [steps, B, *shape] (uint8) and the last layer's voltage."""

    spikes: list[torch.Tensor]
    v_last: torch.Tensor  # [steps, B, n]


@dataclass
class DelayPlan:
    """A delayed dense layer as pairs p = (delay d_p, output neuron j_p): y_p = sum_i Wv[p, i] x_i
    lands d_p steps later on neuron j_p (Wv[p] = W[j_p] where the synapse delay is d_p, else 0)."""

    slots: int  # ring length: max delay + 1
    n: int  # output neurons
    delays: torch.Tensor  # [P] long
    neurons: torch.Tensor  # [P] long
    w: torch.Tensor  # [P, n_in] float64, dense or sparse CSR
    rows: list[torch.Tensor] | None = None  # per ring head h: ring rows ((h + d_p) % slots) * n + j_p

    def __post_init__(self) -> None:
        self.rows = [torch.remainder(self.delays + h, self.slots) * self.n + self.neurons
                     for h in range(self.slots)]


def delay_plan(weight: np.ndarray, delay: np.ndarray, device, sparse_below: float = 0.3) -> DelayPlan:
    """Group the synapses of a delayed dense layer by (delay, output neuron)."""
    n_out, _ = weight.shape
    if np.all(delay == delay[:, :1]):  # axonal delays (slayer's): one pair per neuron, W itself
        d, j, wv = delay[:, 0], np.arange(n_out), weight
    else:
        pairs = np.unique(np.stack([delay, np.broadcast_to(np.arange(n_out)[:, None],
                                                           delay.shape)], -1).reshape(-1, 2), axis=0)
        d, j = pairs[:, 0], pairs[:, 1]
        wv = np.where(delay[j] == d[:, None], weight[j], 0)
    w = torch.as_tensor(wv, device=device).double()
    if (wv != 0).mean() < sparse_below and w.numel() > 4096:
        import warnings

        with warnings.catch_warnings():  # torch calls its CSR support beta; we use only mm
            warnings.simplefilter("ignore", UserWarning)
            w = w.to_sparse_csr()
    return DelayPlan(int(delay.max()) + 1, n_out, torch.as_tensor(d, device=device).long(),
                     torch.as_tensor(j, device=device).long(), w)


class Emulator:
    """Runs a parsed netx network on batches; `device` may be cpu or cuda."""

    def __init__(self, net: NetxFile | str | Path, *, input_message_bits: int | None = None,
                 reset_interval: int | None = None, reset_offset: int | None = None,
                 device: str | torch.device = "cpu", delay_mode: str = "ring") -> None:
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
        self._b = [torch.as_tensor(lay.bias, device=dev).double() for lay in self.net.layers]
        self._w_rec = [None if lay.weight_rec is None else
                       torch.as_tensor(lay.weight_rec, device=dev).double() for lay in self.net.layers]
        self._delay_w = []  # per delayed layer: [(d, W_d)] for every delay value present
        for lay in self.net.layers:
            if lay.delay is None:
                self._delay_w.append(None)
                continue
            parts = [(int(d), torch.as_tensor(np.where(lay.delay == d, lay.weight, 0),
                                              device=dev).double())
                     for d in np.unique(lay.delay)]
            self._delay_w.append(parts)
        if delay_mode not in ("ring", "per_delay"):
            raise ValueError(f"delay_mode must be 'ring' or 'per_delay' (got {delay_mode!r})")
        self.delay_mode = delay_mode
        self._plans = [None if lay.delay is None else delay_plan(lay.weight, lay.delay, dev)
                       for lay in self.net.layers]
        self._pool = [block_factor(lay) if lay.kind == "conv" else 1 for lay in self.net.layers]
        for k, f in enumerate(self._pool):
            if f > 1:
                w = self._w[k]
                self._w[k] = w[:, :, ::f, ::f].contiguous()

    def _shift(self, a: torch.Tensor, lay: NetxLayer) -> torch.Tensor:
        return weight_shift(a, lay.weight_exp)

    def _delayed(self, k: int, lay: NetxLayer, s: torch.Tensor, graded: bool, ring: torch.Tensor):
        """DelayDense: the ring [D+1, B, n] moves one step; input with delay d lands in slot d."""
        x = (s if graded else (s != 0)).flatten(1).double()
        ring = torch.cat([ring[1:], torch.zeros_like(ring[:1])])
        for d, w in self._delay_w[k]:
            ring[d] += self._shift(x @ w.T, lay)
        return ring

    def _ring_add(self, k: int, lay: NetxLayer, s: torch.Tensor, graded: bool, ring: torch.Tensor,
                  head: int) -> None:
        """Add this step's delayed input: ring [slots * n, B], slot h holds what arrives h - head
        steps after the next step (head already moved past the slot just read)."""
        plan = self._plans[k]
        x = (s if graded else (s != 0)).flatten(1).double()
        y = self._shift(plan.w @ x.T, lay)  # [P, B] (dense or sparse CSR matmul)
        ring.index_add_(0, plan.rows[head], y)

    def _synapse(self, k: int, lay: NetxLayer, s: torch.Tensor, graded: bool) -> torch.Tensor:
        x = s if graded else (s != 0)
        if lay.kind == "conv":
            f = self._pool[k]
            x = x.float()
            if f > 1:  # kernel made of constant f x f blocks: sum-pool first, then a small conv
                x = F.avg_pool2d(x, f, f, divisor_override=1)
            y = F.conv2d(x, self._w[k], stride=(lay.stride[0] // f, lay.stride[1] // f),
                         padding=(lay.padding[0] // f, lay.padding[1] // f),
                         dilation=lay.dilation, groups=lay.groups)
            return signed_clamp(torch.trunc(y).double(), 24)
        return dense_current(x, self._w[k], lay.weight_exp)

    @torch.no_grad()
    def run(self, x: torch.Tensor, steps: int, t0: torch.Tensor | None = None) -> EmulatorResult:
        """x: integer input [steps_in, B, *in_shape] (graded or 0/1); zero after steps_in.

        t0 [B]: steps each row's run starts after on the global clock the reset schedule counts
        (samples run one after another in Lava; default 0 for every row).
        """
        x = torch.as_tensor(x, device=self.device).double()
        t_in, b = x.shape[:2]
        layers = self.net.layers
        dev = self.device

        def zeros(lay):
            return torch.zeros((b, *lay.shape), dtype=torch.float64, device=dev)

        u = [zeros(lay) for lay in layers]
        v = [zeros(lay) for lay in layers]
        ring_mode = self.delay_mode == "ring"
        buf = []
        for lay in layers:
            if lay.delay is None:
                buf.append(zeros(lay))
            elif ring_mode:
                buf.append(torch.zeros((self._plans[len(buf)].slots * lay.shape[0], b),
                                       dtype=torch.float64, device=dev))
            else:
                buf.append(torch.zeros((int(lay.delay.max()) + 1, b, *lay.shape),
                                       dtype=torch.float64, device=dev))
        heads = [0] * len(layers)
        rec_in = [None if w is None else zeros(lay) for w, lay in zip(self._w_rec, layers)]
        rec = [torch.zeros((steps, b, *lay.shape), dtype=torch.uint8, device=dev)
               for lay in layers]
        v_last = torch.zeros((steps, b, *layers[-1].shape), dtype=torch.int64, device=dev)
        offsets = [self.reset_offset + 1 + k for k in range(len(layers))]
        zero_in = torch.zeros((b, *self.net.in_shape), dtype=torch.float64, device=dev)
        t0 = None if t0 is None else torch.as_tensor(t0, device=dev).long()
        ri = self.reset_interval
        for i in range(steps):
            t = i + 1
            prev = x[i] if i < t_in else zero_in
            graded = self.input_message_bits > 0
            for k, lay in enumerate(layers):
                if ri:
                    if t0 is None:
                        if t % ri == offsets[k] % ri:
                            u[k] = torch.zeros_like(u[k])
                            v[k] = torch.zeros_like(v[k])
                    else:
                        keep = (torch.remainder(t0 + t, ri) != offsets[k] % ri).double()
                        keep = keep.view(b, *([1] * len(lay.shape)))
                        u[k], v[k] = u[k] * keep, v[k] * keep
                if lay.kind == "input":  # netx input transform, fed in the same step
                    a_in = prev * float(lay.in_weight) + float(lay.in_bias)
                elif lay.delay is None:
                    a_in = buf[k]
                elif ring_mode:
                    n = lay.shape[0]
                    h = heads[k]
                    a_in = buf[k][h * n:(h + 1) * n].T.clone()
                else:
                    a_in = buf[k][0]
                if rec_in[k] is not None:  # own spikes of step t-1 through the recurrent Dense
                    a_in = a_in + rec_in[k]
                s, u[k], v[k] = cuba_step(u[k], v[k], a_in, i_decay=lay.i_decay,
                                          v_decay=lay.v_decay, bias=self._b[k], vth=lay.vth)
                if lay.delay is not None:
                    if ring_mode:
                        n = lay.shape[0]
                        buf[k][heads[k] * n:(heads[k] + 1) * n] = 0.0
                        heads[k] = (heads[k] + 1) % self._plans[k].slots
                        self._ring_add(k, lay, prev, graded, buf[k], heads[k])
                    else:
                        buf[k] = self._delayed(k, lay, prev, graded, buf[k])
                elif lay.kind != "input":
                    buf[k] = self._synapse(k, lay, prev, graded)
                if rec_in[k] is not None:
                    rec_in[k] = dense_current(s, self._w_rec[k], lay.weight_exp)
                rec[k][i] = s
                prev = s.double()
                graded = False
            v_last[i] = v[-1].to(torch.int64)
        return EmulatorResult(rec, v_last)


def np_dense_current(s: np.ndarray, w_t: np.ndarray, weight_exp: int) -> np.ndarray:
    """`dense_current` in numpy: s [B, n_in] 0/1, w_t = W.T float64 [n_in, n] -> [B, n]."""
    a = s.astype(np.float64) @ w_t
    return a * 2.0**weight_exp if weight_exp >= 0 else np.floor(a * 2.0**weight_exp)


def _np_decay(x: np.ndarray, d: int) -> np.ndarray:
    """`decay` on numpy float64 integers (the same trunc, bit for bit)."""
    if d == 0:
        return x
    if d == 4096:
        return np.zeros_like(x)
    return np.trunc(x * ((4096 - d) / 4096.0))


def _np_decay_(x: np.ndarray, d: int) -> None:
    """`_np_decay` in place."""
    if d == 4096:
        x.fill(0.0)
    elif d:
        np.multiply(x, (4096 - d) / 4096.0, out=x)
        np.trunc(x, out=x)


@torch.no_grad()
def run_layerwise(emu: Emulator, x: torch.Tensor, steps: int,
                  t0: torch.Tensor | None = None) -> EmulatorResult:
    """`Emulator.run` computed layer by layer (same integers, any reset schedule and delays).

    Layer k's steps depend only on layer k-1's spike train (and, in a recurrent layer, on its own
    spikes of the step before), so each layer's feed-forward input for all steps is one batched
    matmul/conv (a delay d is a shift in time), and only the neuron update loops over time, in
    numpy, where small per-step operations cost a fraction of torch's dispatch; a recurrent
    layer adds its W_rec s[t-1] in that loop. CPU only; memory grows with steps * batch.
    """
    x = torch.as_tensor(x).double()
    t_in, b = x.shape[:2]
    prev = torch.zeros((steps, b, *emu.net.in_shape), dtype=torch.float64)
    prev[:min(t_in, steps)] = x[:steps]
    graded = emu.input_message_bits > 0
    ri = emu.reset_interval
    t_glob = np.arange(1, steps + 1)[:, None] + (np.zeros(b, np.int64) if t0 is None
                                                 else np.asarray(t0, np.int64))[None, :]
    rec, v_last = [], None
    for k, lay in enumerate(emu.net.layers):
        n_flat = int(np.prod(lay.shape))
        if lay.kind == "input":
            a = (prev * float(lay.in_weight) + float(lay.in_bias)).reshape(steps, b, n_flat)
        elif lay.delay is None:
            y = emu._synapse(k, lay, prev.flatten(0, 1), graded).reshape(steps, b, n_flat)
            a = torch.zeros_like(y)
            a[1:] = y[:-1]
        else:
            plan = emu._plans[k]
            xs = (prev if graded else (prev != 0)).flatten(0, 1).flatten(1).double()
            y = emu._shift(plan.w @ xs.T, lay).reshape(-1, steps, b)  # [P, steps, B]
            a = torch.zeros((steps, b, n_flat), dtype=torch.float64)
            for d in torch.unique(plan.delays).tolist():
                if 1 + d >= steps:
                    continue
                sel = (plan.delays == d).nonzero().flatten()
                a[1 + d:, :, plan.neurons[sel]] += y[sel, :steps - 1 - d].permute(1, 2, 0)
        a64 = a.numpy() * 64.0
        bias64 = emu._b[k].cpu().numpy().reshape(n_flat) * 64.0
        has_bias = bool(bias64.any())
        u = np.zeros((b, n_flat))
        v = np.zeros((b, n_flat))
        out = np.zeros((steps, b, n_flat), bool)
        vs = np.zeros((steps, b, n_flat)) if k == len(emu.net.layers) - 1 else None
        vth = lay.vth * 64.0
        phase = (emu.reset_offset + 1 + k) % ri if ri else None
        w_rec_t = None if lay.weight_rec is None else lay.weight_rec.T.astype(np.float64)
        for i in range(steps):
            if ri:
                hit = (t_glob[i] % ri) == phase
                if hit.any():
                    u[hit] = 0.0
                    v[hit] = 0.0
            _np_decay_(u, lay.i_decay)
            u += a64[i]
            if w_rec_t is not None and i:  # recurrent Dense: own spikes of the step before
                u += np_dense_current(out[i - 1], w_rec_t, lay.weight_exp) * 64.0
            if u.max(initial=0.0) > U_MAX or u.min(initial=0.0) <= -U_MAX:  # 24-bit wrap (rare)
                w = np.where(u > U_MAX, u - 2 * U_MAX, u)
                u = np.where(w <= -U_MAX, u + 2 * U_MAX, w)
            _np_decay_(v, lay.v_decay)
            v += u
            if has_bias:
                v += bias64
            np.minimum(v, V_LIM, out=v)
            np.maximum(v, -V_LIM, out=v)
            sp = np.greater(v, vth, out=out[i])
            v[sp] = 0.0
            if vs is not None:
                vs[i] = v
        out = out.astype(np.uint8)
        rec.append(torch.from_numpy(out.reshape(steps, b, *lay.shape)))
        if vs is not None:
            v_last = torch.from_numpy(vs.reshape(steps, b, *lay.shape).astype(np.int64))
        prev = torch.from_numpy(out.reshape(steps, b, *lay.shape)).double()
        graded = False
    return EmulatorResult(rec, v_last)


LAYERWISE_ELEMENTS = 8_000_000  # per batch: steps * samples * largest layer (~64 MB float64)


def run_streams(emu: Emulator, x: np.ndarray | torch.Tensor, period: int,
                batch_size: int = 256, layerwise: bool | None = None) -> EmulatorResult:
    """Samples x [N, S, *in_shape] (input at S steps each) run for `period` steps each, as Lava
    runs them one after another (sample i starts after i * period steps of the reset clock),
    every sample from a zero state: spikes [period, N, *shape] per layer, last-layer voltages.

    layerwise: `run_layerwise` in batches small enough for its memory, else `Emulator.run` step
    by step. Default: layerwise on CPU when those batches hold all samples or at least 32 (its
    numpy loop wins on few samples; torch's step loop on large batches, and on GPU)."""
    x = torch.as_tensor(np.asarray(x))
    widest = max(int(np.prod(lay.shape)) for lay in emu.net.layers)
    widest = max(widest, int(np.prod(emu.net.in_shape)))
    fit = max(1, min(batch_size, LAYERWISE_ELEMENTS // max(1, period * widest)))
    if layerwise is None:
        layerwise = emu.device.type == "cpu" and (fit >= len(x) or fit >= 32)
    if layerwise:
        batch_size = fit
    spikes, vs = [[] for _ in emu.net.layers], []
    for i in range(0, len(x), batch_size):
        xb = x[i:i + batch_size].transpose(0, 1)
        t0 = torch.arange(i, i + len(xb[0])) * period
        t0 = t0 if emu.reset_interval else None
        r = run_layerwise(emu, xb, period, t0) if layerwise else emu.run(xb, period, t0=t0)
        for k, s in enumerate(r.spikes):
            spikes[k].append(s.cpu())
        vs.append(r.v_last.cpu())
    return EmulatorResult([torch.cat(s, 1) for s in spikes], torch.cat(vs, 1))


def valid_window(res_layer: torch.Tensor, k: int, timesteps: int) -> torch.Tensor:
    """Steps of layer k that belong to the sample (after its reset): [T, B, ...]."""
    start = k + 1  # 0-based index of step t = k + 2
    return res_layer[start:start + timesteps]


@torch.no_grad()
def run_windowed(emu: Emulator, x: torch.Tensor, timesteps: int) -> EmulatorResult:
    """Only each layer's valid window, layer by layer (same integers as `Emulator.run`).

    Under the export's reset schedule (interval T + L, offset 1) layer k is zeroed right before
    its first valid input arrives, so its T valid steps depend only on the T valid outputs of
    layer k-1: synapses run once over all T*B inputs, and a static input (direct encoding) is
    convolved once. x: [B, *in_shape] (static) or [T, B, *in_shape].
    """
    x = torch.as_tensor(x, device=emu.device).double()
    static = x.dim() == len(emu.net.in_shape) + 1
    b = x.shape[0] if static else x.shape[1]
    spikes, v = [], None
    prev, graded = x, emu.input_message_bits > 0
    for k, lay in enumerate(emu.net.layers):
        if lay.kind == "input" or lay.weight_rec is not None:
            raise SimulationError("the windowed emulator needs a file without an input neuron or "
                                  "a recurrent layer (their windows depend on the steps before)")
        if static:
            a_seq = emu._synapse(k, lay, prev, graded).unsqueeze(0).expand(timesteps, b, *lay.shape)
        else:
            a_seq = emu._synapse(k, lay, prev.flatten(0, 1), graded).reshape(timesteps, b, *lay.shape)
        u = torch.zeros((b, *lay.shape), dtype=torch.float64, device=emu.device)
        v = torch.zeros_like(u)
        out = torch.empty((timesteps, b, *lay.shape), dtype=torch.float64, device=emu.device)
        for t in range(timesteps):
            s, u, v = cuba_step(u, v, a_seq[t], i_decay=lay.i_decay, v_decay=lay.v_decay,
                                bias=emu._b[k], vth=lay.vth)
            out[t] = s
        spikes.append(out)
        prev, static, graded = out, False, False
    return EmulatorResult([s.to(torch.uint8) for s in spikes], v.to(torch.int64).unsqueeze(0))


def run_samples(emu: Emulator, x_int: np.ndarray | torch.Tensor, timesteps: int,
                batch_size: int = 512, windowed: bool = True) -> tuple[np.ndarray, list[np.ndarray]]:
    """Direct-encoded samples [N, *in_shape] -> (readout voltages [N, n], valid spikes per layer).

    windowed: compute only the valid windows (needs the export's reset schedule); else simulate
    all T + L steps as Lava does and cut the windows out.
    """
    x_int = torch.as_tensor(np.asarray(x_int))
    L = len(emu.net.layers)
    sched = (emu.reset_interval == timesteps + L and emu.reset_offset == 1
             and all(lay.kind != "input" and lay.delay is None and lay.weight_rec is None
                     for lay in emu.net.layers))
    if windowed and not sched:
        windowed = False
    vs, spikes = [], [[] for _ in range(L)]
    for i in range(0, len(x_int), batch_size):
        xb = x_int[i:i + batch_size]
        if windowed:
            r = run_windowed(emu, xb, timesteps)
            vs.append(r.v_last[0].cpu().numpy())
            for k in range(L):
                spikes[k].append(r.spikes[k].cpu().numpy())
            continue
        seq = xb.unsqueeze(0).expand(timesteps, *xb.shape)
        r = emu.run(seq, timesteps + L)
        vs.append(r.v_last[timesteps + L - 1].cpu().numpy())
        for k in range(L):
            spikes[k].append(valid_window(r.spikes[k], k, timesteps).cpu().numpy())
    return np.concatenate(vs), [np.concatenate(s, axis=1) for s in spikes]

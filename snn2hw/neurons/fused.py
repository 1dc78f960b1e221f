"""Fused multi-step LIF/IF: one autograd node over all T steps, with a hand-written backward.

Same dynamics as functional.lif_step (h = leak * v + x; z = H(h - v_th); hard or soft reset),
so spikes are identical to the reference path; gradients equal autograd's through the reference.
The state is fp32 for bf16/fp16 inputs (autocast); spikes and gradients keep the input's dtype.
It saves only h (pre-reset membrane) and z for backward, writes every step's results in place
into those two buffers, and runs 3 small ops per step forward and 1 per step backward instead of
autograd's ~9 + ~12 nodes with their temporaries (measured on CPU: benchmarks/train_throughput.py).

Backward, with s_t = surrogate'(h_t - v_th), r_t = z_t (0 when the reset is detached):
    dv_t/dh_t = (1 - z_t) + (v_reset - h_t) * s_t * [attached]          (hard reset)
              = 1 - v_th * s_t * [attached]                              (soft reset)
    dL/dh_t   = dL/dz_t * s_t + leak * dL/dh_{t+1} * dv_t/dh_t,   dL/dx_t = dL/dh_t
"""

from __future__ import annotations

import torch

from snn2hw.neurons.layers import NeuronSpec
from snn2hw.neurons.surrogates import SURROGATE_GRADS


def state_dtype(dtype: torch.dtype) -> torch.dtype:
    """The membrane state's dtype: fp32 for half-precision inputs (bf16/fp16 autocast), else dtype."""
    return torch.float32 if dtype in (torch.bfloat16, torch.float16) else dtype


class _MultiStepLIF(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: torch.Tensor, spec: NeuronSpec) -> torch.Tensor:  # type: ignore[override]
        leak, v_th, v_reset = spec.effective_leak, spec.v_th, spec.v_reset
        h_all = torch.empty_like(x, dtype=state_dtype(x.dtype))
        z_all = torch.empty_like(x)
        v = None
        for t in range(x.shape[0]):
            h, z = h_all[t], z_all[t]  # views: results are written in place, no copies
            if v is None:
                h.copy_(x[t])
            else:
                torch.add(x[t], v, alpha=leak, out=h)
            torch.ge(h, v_th, out=z)  # same as H(h - v_th) for finite floats
            if spec.reset == "soft":
                v = h - z * v_th
            elif v_reset == 0.0:
                v = h - z * h  # exactly h or 0, as h * (1 - z) + z * v_reset
            else:
                v = torch.where(z.bool(), v_reset, h)
        ctx.save_for_backward(h_all, z_all)
        ctx.spec, ctx.in_dtype = spec, x.dtype
        return z_all

    @staticmethod
    def backward(ctx, grad_z: torch.Tensor):  # type: ignore[override]
        h_all, z_all = ctx.saved_tensors
        z_all = z_all.to(h_all.dtype)  # the state's dtype (a no-op unless the input is bf16/fp16)
        s: NeuronSpec = ctx.spec
        leak = s.effective_leak
        sg = SURROGATE_GRADS[s.surrogate](h_all - s.v_th, s.surrogate_width)
        # carry_t = leak * dv_t/dh_t, built before sg is reused in place
        if s.reset == "soft":
            carry = None if s.detach_reset else sg.mul(-s.v_th).add_(1).mul_(leak)
        elif s.detach_reset:
            carry = (1 - z_all).mul_(leak)
        else:
            carry = (s.v_reset - h_all).mul_(sg).add_(1).sub_(z_all).mul_(leak)
        grad_x = sg.mul_(grad_z)  # dL/dz_t * s_t, then accumulated backwards in place
        g = grad_x[-1]
        for t in range(h_all.shape[0] - 2, -1, -1):
            g = grad_x[t].add_(g, alpha=leak) if carry is None else grad_x[t].addcmul_(carry[t], g)
        return grad_x.to(ctx.in_dtype), None


def multistep_lif(x: torch.Tensor, spec: NeuronSpec) -> torch.Tensor:
    """Spikes [T, B, ...] of a lif/if neuron layer driven by currents x [T, B, ...]."""
    if spec.kind == "cuba":
        raise ValueError("the fused path covers kind 'lif' and 'if'; use the reference path for 'cuba'")
    return _MultiStepLIF.apply(x, spec)

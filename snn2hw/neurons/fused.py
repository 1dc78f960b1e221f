"""Fused multi-step LIF/IF: one autograd node over all T steps, with a hand-written backward.

Same dynamics as functional.lif_step (h = leak * v + x; z = H(h - v_th); hard or soft reset),
so spikes are identical to the reference path; gradients equal autograd's through the reference.
The state is fp32 for bf16/fp16 inputs (autocast); spikes and gradients keep the input's dtype.
It saves only h (pre-reset membrane) and the spikes (the output itself, 0./1. in the state's
dtype), writes every step's results in place into those two buffers, and runs 3 small ops per
step forward and 1 per step backward (plus ~8 over all steps) instead of autograd's ~9 + ~12 nodes
per step with their temporaries. No bool tensors and no where(): on CPU a comparison into a float
buffer is ~6x faster than into a bool one, and masked_fill / where(mask, scalar, scalar) are
slower than the float multiply-add that replaces them (benchmarks/train_throughput.py).

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


def _surrogate_grad(u: torch.Tensor, name: str, width: float) -> torch.Tensor:
    """surrogates.SURROGATE_GRADS[name](u, width), overwriting u where that saves temporaries."""
    if name == "triangle":  # (gamma - |u|)^+ / gamma^2, in place
        sg = u.abs_().neg_().add_(width).clamp_(min=0)
        return sg if width == 1.0 else sg.mul_(1.0 / (width * width))
    return SURROGATE_GRADS[name](u, width)


class _MultiStepLIF(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: torch.Tensor, spec: NeuronSpec) -> torch.Tensor:  # type: ignore[override]
        leak, v_th, v_reset = spec.effective_leak, spec.v_th, spec.v_reset
        T = x.shape[0]
        sd = state_dtype(x.dtype)
        h_all = torch.empty(x.shape, dtype=sd, device=x.device)
        z_all = torch.empty(x.shape, dtype=sd, device=x.device)  # spikes as 0./1. floats
        v = torch.empty(x.shape[1:], dtype=sd, device=x.device) if T > 1 else None
        for t in range(T):
            h, z = h_all[t], z_all[t]  # views: results are written in place, no copies
            if t == 0:
                h.copy_(x[0])
            else:
                torch.add(x[t], v, alpha=leak, out=h)
            torch.ge(h, v_th, out=z)  # same as H(h - v_th) for floats; a float out is cheaper
            if t == T - 1:  # than a bool one on CPU
                break  # the last step's reset is never read
            if spec.reset == "soft":
                torch.add(h, z, alpha=-v_th, out=v)  # h - v_th where spiking, else exactly h
            else:
                torch.addcmul(h, h, z, value=-1.0, out=v)  # h - h * z: exactly 0 or h
                if v_reset != 0.0:
                    v.add_(z, alpha=v_reset)  # = h * (1 - z) + z * v_reset exactly
        ctx.save_for_backward(h_all, z_all)
        ctx.spec, ctx.in_dtype = spec, x.dtype
        return z_all if z_all.dtype == x.dtype else z_all.to(x.dtype)

    @staticmethod
    def backward(ctx, grad_z: torch.Tensor):  # type: ignore[override]
        h_all, z_all = ctx.saved_tensors
        s: NeuronSpec = ctx.spec
        leak = s.effective_leak
        sg = _surrogate_grad(h_all - s.v_th, s.surrogate, s.surrogate_width)
        # carry_t * c = leak * dv_t/dh_t, built before sg is reused in place
        c = 1.0
        if s.reset == "soft":
            carry = None if s.detach_reset else torch.mul(sg, -s.v_th * leak).add_(leak)
        elif s.detach_reset:  # leak * (1 - z) = (z - 1) * -leak
            carry, c = torch.sub(z_all, 1.0), -leak
        else:  # leak * (1 - z) + leak * (v_reset - h) * s = (z + (h - v_reset) * s - 1) * -leak
            carry, c = torch.addcmul(z_all, h_all, sg), -leak
            if s.v_reset != 0.0:
                carry.add_(sg, alpha=-s.v_reset)
            carry.sub_(1.0)
        grad_x = sg.mul_(grad_z)  # dL/dz_t * s_t, then accumulated backwards in place
        g = grad_x[-1]
        for t in range(h_all.shape[0] - 2, -1, -1):
            g = grad_x[t].add_(g, alpha=leak) if carry is None else grad_x[t].addcmul_(carry[t], g, value=c)
        return grad_x if grad_x.dtype == ctx.in_dtype else grad_x.to(ctx.in_dtype), None


def multistep_lif(x: torch.Tensor, spec: NeuronSpec) -> torch.Tensor:
    """Spikes [T, B, ...] of a lif/if neuron layer driven by currents x [T, B, ...]."""
    if spec.kind == "cuba":
        raise ValueError("the fused path covers kind 'lif' and 'if'; use the reference path for 'cuba'")
    return _MultiStepLIF.apply(x, spec)

"""Fused multi-step LIF/IF: one autograd node over all T steps, with a hand-written backward.

Same dynamics as functional.lif_step (h = leak * v + x; z = H(h - v_th); hard or soft reset),
so spikes are identical to the reference path; gradients equal autograd's through the reference.
The state is fp32 for bf16/fp16 inputs (autocast); spikes and gradients keep the input's dtype.
It saves only h (pre-reset membrane) and the spikes as bools for backward, writes every step's
results in place into those two buffers, and runs 3 small ops per step forward and 1 per step
backward (plus ~8 over all steps) instead of autograd's ~9 + ~12 nodes per step with their
temporaries (measured on CPU: benchmarks/train_throughput.py).

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
        h_all = torch.empty(x.shape, dtype=state_dtype(x.dtype), device=x.device)
        m_all = torch.empty(x.shape, dtype=torch.bool, device=x.device)  # spikes, 1 byte each
        v = h_all[0]  # the state after each step's reset (set at t = 0, read from t = 1)
        for t in range(T):
            h, m = h_all[t], m_all[t]  # views: results are written in place, no copies
            if t == 0:
                h.copy_(x[0])
            else:
                torch.add(x[t], v, alpha=leak, out=h)
            torch.ge(h, v_th, out=m)  # same as H(h - v_th) for finite floats
            if t == T - 1:
                break  # the last step's reset is never read
            if spec.reset == "soft":
                v = torch.add(h, m, alpha=-v_th)  # h - v_th where spiking, else exactly h
            else:
                v = h.masked_fill(m, v_reset)  # = h * (1 - z) + z * v_reset exactly
        ctx.save_for_backward(h_all, m_all)
        ctx.spec, ctx.in_dtype = spec, x.dtype
        return m_all.to(x.dtype)

    @staticmethod
    def backward(ctx, grad_z: torch.Tensor):  # type: ignore[override]
        h_all, m_all = ctx.saved_tensors
        s: NeuronSpec = ctx.spec
        leak = s.effective_leak
        sg = _surrogate_grad(h_all - s.v_th, s.surrogate, s.surrogate_width)
        # carry_t = leak * dv_t/dh_t, built before sg is reused in place
        if s.reset == "soft":
            carry = None if s.detach_reset else torch.mul(sg, -s.v_th * leak).add_(leak)
        else:
            # leak * (1 - z) in the state's dtype (where() with scalars gives the default dtype)
            carry = (torch.where(m_all, 0.0, leak) if h_all.dtype == torch.get_default_dtype()
                     else torch.full_like(h_all, leak).masked_fill_(m_all, 0.0))
            if not s.detach_reset:  # + leak * (v_reset - h) * s
                carry.addcmul_(torch.rsub(h_all, s.v_reset), sg, value=leak)
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

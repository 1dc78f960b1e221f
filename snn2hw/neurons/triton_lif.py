"""Triton multi-step LIF/IF: one kernel launch forward and one backward over all T steps.

Same dynamics and gradients as neurons.fused (h = leak * v + x; z = H(h - v_th); hard or soft
reset, attached or detached; the four surrogates), one program per BLOCK neurons stepping through
T in registers. The membrane state is fp32 whatever the input dtype (fp32, bf16, fp16); spikes and
input gradients come back in the input dtype. Saved for backward: h (pre-reset membrane) in fp32
only (z is recomputed as h >= v_th), i.e. 4 bytes per neuron and step.

Exactness: for the presets (leak 0.5, 0.25, 1) leak * v is exact, so spikes equal the fused
path's bit for bit on any device; for other leaks a fused multiply-add on the GPU may move h by
one ulp. Gradients agree to float rounding (the surrogate constants are folded differently).

The kernels are built on first use (triton is imported lazily). On CPU they run only under
Triton's interpreter (TRITON_INTERPRET=1 set before triton is imported), which the tests use.
"""

from __future__ import annotations

import math
import os
from functools import lru_cache

import torch

from snn2hw.neurons.layers import NeuronSpec

SURROGATE_IDS = {"triangle": 0, "rectangle": 1, "superspike": 2, "atan": 3}
BLOCK = 1024


@lru_cache(maxsize=1)
def triton_available() -> bool:
    """True when triton imports (it is an optional, CUDA-side dependency)."""
    try:
        import triton  # noqa: F401
    except Exception:  # noqa: BLE001 - any import failure means: not available
        return False
    return True


def interpreter_on() -> bool:
    """Triton's CPU interpreter is requested (must be set before triton is first imported)."""
    return os.environ.get("TRITON_INTERPRET", "") == "1"


def supports(spec: NeuronSpec, x: torch.Tensor) -> bool:
    """The kernel covers kind lif/if, every reset/detach/surrogate choice, float inputs, on CUDA
    (or on CPU under the interpreter)."""
    return (spec.kind in ("lif", "if") and spec.surrogate in SURROGATE_IDS
            and x.dtype in (torch.float32, torch.bfloat16, torch.float16)
            and (x.is_cuda or (x.device.type == "cpu" and interpreter_on()))
            and triton_available())


@lru_cache(maxsize=1)
def _kernels():
    """(triton, forward kernel, backward kernel), built for the current TRITON_INTERPRET setting."""
    import importlib
    import sys

    name = "snn2hw.neurons._triton_kernels"
    mod = importlib.reload(sys.modules[name]) if name in sys.modules else importlib.import_module(name)
    return mod.triton, mod.lif_fwd, mod.lif_bwd


def _constants(spec: NeuronSpec) -> tuple[float, float]:
    w = spec.surrogate_width
    return {
        "triangle": (w, 1.0 / (w * w)),
        "rectangle": (w / 2, 1.0 / w),
        "superspike": (w, 0.0),
        "atan": (w / 2, math.pi / 2 * w),
    }[spec.surrogate]


def _dense(x: torch.Tensor) -> bool:
    """x covers its memory exactly once in some dimension order (contiguous, channels-last, ...)."""
    expected = 1
    dims = sorted(((st, sz) for sz, st in zip(x.shape, x.stride()) if sz != 1))
    for stride, size in dims:
        if stride != expected:
            return False
        expected *= size
    return True


def _layout(x: torch.Tensor) -> tuple[torch.Tensor, int, torch.Tensor, torch.Tensor]:
    """(x, step stride, h buffer, z buffer). The kernels walk memory: any dense layout in which the
    steps are outermost (contiguous, or a channels-last map split into [T, B]) is used as is, h and z
    taking x's strides; an input expanded over time (step stride 0, dense steps) is read without a
    copy; anything else is made contiguous first."""
    T, N = x.shape[0], x[0].numel()
    step_major = _dense(x) and (T == 1 or x.stride(0) == N)
    if not step_major and not (x.stride(0) == 0 and x[0].is_contiguous()):
        x = x.contiguous()
    if x.stride(0) == 0:
        h = torch.empty(x.shape, dtype=torch.float32, device=x.device)
        return x, 0, h, torch.empty(x.shape, dtype=x.dtype, device=x.device)
    h = torch.empty_like(x, dtype=torch.float32)  # preserves x's (dense) strides
    z = torch.empty_like(x)
    assert h.stride() == x.stride() == z.stride()
    return x, N, h, z


class _TritonLIF(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: torch.Tensor, spec: NeuronSpec) -> torch.Tensor:  # type: ignore[override]
        triton, fwd, _ = _kernels()
        x, stride_t, h, z = _layout(x)
        T, N = x.shape[0], x[0].numel()
        if N:
            fwd[(triton.cdiv(N, BLOCK),)](
                x, h, z, T, N, stride_t, float(spec.effective_leak), float(spec.v_th),
                float(spec.v_reset), SOFT=spec.reset == "soft", BLOCK=BLOCK, num_warps=4)
        ctx.save_for_backward(h)
        ctx.spec, ctx.in_dtype = spec, x.dtype
        return z

    @staticmethod
    def backward(ctx, grad_z: torch.Tensor):  # type: ignore[override]
        triton, _, bwd = _kernels()
        (h,) = ctx.saved_tensors
        s: NeuronSpec = ctx.spec
        if grad_z.stride() != h.stride():  # the kernel reads grad_z in h's memory order
            grad_z = torch.empty_like(h, dtype=grad_z.dtype).copy_(grad_z)
        T, N = h.shape[0], h[0].numel()
        grad_x = torch.empty_like(h, dtype=ctx.in_dtype)
        c0, c1 = _constants(s)
        if N:
            bwd[(triton.cdiv(N, BLOCK),)](
                grad_z, h, grad_x, T, N, (T - 1) * N, float(s.effective_leak), float(s.v_th),
                float(s.v_reset), float(c0), float(c1), SOFT=s.reset == "soft",
                DETACH=bool(s.detach_reset), SURROGATE=SURROGATE_IDS[s.surrogate], BLOCK=BLOCK,
                num_warps=4)
        return grad_x, None


def multistep_lif_triton(x: torch.Tensor, spec: NeuronSpec) -> torch.Tensor:
    """Spikes [T, B, ...] (dtype of x) of a lif/if layer driven by currents x [T, B, ...]."""
    if not supports(spec, x):
        raise ValueError(
            "the triton neuron backend covers lif/if neurons with float inputs on a CUDA device "
            f"(got kind {spec.kind!r}, {x.dtype} on {x.device}; triton "
            f"{'installed' if triton_available() else 'not installed'}); use --neuron-backend "
            "auto, which falls back to the fused path")
    return _TritonLIF.apply(x, spec)

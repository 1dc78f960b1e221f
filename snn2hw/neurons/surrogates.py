"""Heaviside spike functions with surrogate gradients.

Forward: z = H(x) with H(x) = 1 for x >= 0 else 0, where x = v - v_th.
Backward: dz/dx is replaced by a smooth or boxed surrogate; each is written once here.
"""

from __future__ import annotations

import math
from typing import Callable

import torch

SpikeFn = Callable[[torch.Tensor], torch.Tensor]


def heaviside(x: torch.Tensor) -> torch.Tensor:
    """H(x) = 1 where x >= 0 (spike at or above threshold), else 0; same dtype as x."""
    return (x >= 0).to(x.dtype)


def triangle_grad(x: torch.Tensor, gamma: float) -> torch.Tensor:
    """TET triangle: (1 / gamma^2) * max(0, gamma - |x|); gamma = 1 gives max(0, 1 - |x|)."""
    return (gamma - x.abs()).clamp(min=0) / (gamma * gamma)


def rectangle_grad(x: torch.Tensor, width: float) -> torch.Tensor:
    """Rectangular window: 1 / width where |x| < width / 2, else 0 (unit area)."""
    return (x.abs() < width / 2).to(x.dtype) / width


def superspike_grad(x: torch.Tensor, alpha: float) -> torch.Tensor:
    """SuperSpike (Zenke & Ganguli 2018): 1 / (alpha * |x| + 1)^2."""
    return 1.0 / (alpha * x.abs() + 1.0) ** 2


def atan_grad(x: torch.Tensor, alpha: float) -> torch.Tensor:
    """Arctan surrogate (Fang et al. 2021): (alpha / 2) / (1 + (pi / 2 * alpha * x)^2)."""
    return (alpha / 2) / (1 + (math.pi / 2 * alpha * x) ** 2)


SURROGATE_GRADS: dict[str, Callable[[torch.Tensor, float], torch.Tensor]] = {
    "triangle": triangle_grad,
    "rectangle": rectangle_grad,
    "superspike": superspike_grad,
    "atan": atan_grad,
}


class _Spike(torch.autograd.Function):
    """Heaviside forward, surrogate backward; `name` selects the surrogate."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, name: str, width: float) -> torch.Tensor:  # type: ignore[override]
        ctx.save_for_backward(x)
        ctx.name, ctx.width = name, width
        return heaviside(x)

    @staticmethod
    def backward(ctx, grad_out: torch.Tensor):  # type: ignore[override]
        (x,) = ctx.saved_tensors
        return grad_out * SURROGATE_GRADS[ctx.name](x, ctx.width), None, None


def spike_fn(name: str, width: float) -> SpikeFn:
    """Return z = spike(x) with the named surrogate; raises ValueError listing valid names."""
    if name not in SURROGATE_GRADS:
        raise ValueError(
            f"unknown surrogate {name!r}; choose one of {', '.join(sorted(SURROGATE_GRADS))}"
        )
    return lambda x: _Spike.apply(x, name, width)

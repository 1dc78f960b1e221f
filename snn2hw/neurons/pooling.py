"""Average pooling of small CPU feature maps as one matrix product (forward and backward).

PyTorch's CPU avg_pool2d (and its backward) is slow for the tiny maps of small students (8x8,
4x4): ~10x more time than the few adds it does. For k x k pooling with stride k, no padding,
k * k a power of two, maps of at most 64 pixels, [N, C, H, W] -> [N * C, H * W] @ P, where P
holds 1 / k^2 at (pixel, window) pairs, gives the same values: every product is exact (a power
of two scale), and on spike inputs (0/1, what the students pool) every sum is exact too, so the
result equals avg_pool2d bit for bit. Other inputs may differ in the last bit (summation order),
and a non-finite input spreads over its sample's channel (0 * inf) instead of its window.
"""

from __future__ import annotations

import torch
from torch import nn

MAX_PIXELS = 64
"""Largest H * W pooled by the matrix product (its cost grows with (H * W)^2 / k^2)."""

_MATRICES: dict[tuple, torch.Tensor] = {}


def pool_matrix(h: int, w: int, k: int, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """[h * w, (h // k) * (w // k)] with 1 / k^2 where a pixel lies in a window (cached)."""
    key = (h, w, k, dtype, device)
    p = _MATRICES.get(key)
    if p is None:
        rows = torch.arange(h * w, device=device)
        cols = (rows // w // k) * (w // k) + (rows % w) // k
        p = torch.zeros(h * w, (h // k) * (w // k), dtype=dtype, device=device)
        p[rows, cols] = 1.0 / (k * k)
        _MATRICES[key] = p
    return p


def _size(v) -> int | None:
    """An int from an int or a square pair, else None."""
    if isinstance(v, int):
        return v
    if isinstance(v, (tuple, list)) and len(v) == 2 and v[0] == v[1]:
        return int(v[0])
    return None


def fast_pool_kernel(layer: nn.Module, x: torch.Tensor) -> int | None:
    """k when avg_pool_mm(x, k) computes layer(x), else None (then run the layer itself)."""
    if type(layer) is not nn.AvgPool2d or x.device.type != "cpu" or x.dim() != 4:
        return None
    if x.dtype not in (torch.float32, torch.float64) or torch.is_autocast_enabled("cpu"):
        return None
    if layer._forward_hooks or layer._forward_pre_hooks:  # hooks expect the layer to run
        return None
    k, s = _size(layer.kernel_size), _size(layer.stride if layer.stride is not None else layer.kernel_size)
    h, w = x.shape[-2:]
    if (k is None or k != s or k not in (2, 4) or _size(layer.padding) != 0 or layer.ceil_mode
            or layer.divisor_override is not None or h % k or w % k or h * w > MAX_PIXELS):
        return None
    return k


class _AvgPoolMM(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: torch.Tensor, k: int) -> torch.Tensor:  # type: ignore[override]
        n, c, h, w = x.shape
        p = pool_matrix(h, w, k, x.dtype, x.device)
        ctx.p, ctx.shape = p, x.shape
        return x.reshape(n * c, h * w).mm(p).view(n, c, h // k, w // k)

    @staticmethod
    def backward(ctx, g: torch.Tensor):  # type: ignore[override]
        n, c, h, w = ctx.shape
        return g.reshape(n * c, -1).mm(ctx.p.t()).view(n, c, h, w), None


def avg_pool_mm(x: torch.Tensor, k: int) -> torch.Tensor:
    """avg_pool2d(x, k) for [N, C, H, W] CPU float maps that fast_pool_kernel accepted."""
    return _AvgPoolMM.apply(x, k)

"""One forward pass observed through temporary hooks, removed even when the forward fails."""

from __future__ import annotations

import torch
from torch import nn


@torch.no_grad()
def forward_observed(model: nn.Module, x: torch.Tensor, handles: list) -> None:
    """Run model(x) without gradients, then remove the given hook handles."""
    try:
        model(x)
    finally:
        for h in handles:
            h.remove()

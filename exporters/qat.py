"""Short quantization-aware fine-tune: train the float student through Loihi's weight grid (STE).

Each conv/linear weight is rounded to the grid of its Loihi layer, w = delta * round(w / delta)
with delta = 2 * k^2 * s_in / (lambda * g) (k: folded pooling size), clipped to the 8-bit range,
and biases to 1 / (lambda * g). The forward pass uses the rounded weights, the gradient updates
the float ones (straight-through). At the end the weights are left on the grid, so the export
that follows quantizes them without further error.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from exporters.errors import ExportError
from exporters.quantize import BIAS_MAX, BIAS_MIN, W_MAX, W_MIN, QuantizedNet


@dataclass
class Grid:
    """Rounding grid of one float module's weight and bias."""

    module: nn.Module
    w_step: float
    b_step: float

    def snap_weight(self, w: torch.Tensor) -> torch.Tensor:
        return torch.clamp(torch.round(w / self.w_step), W_MIN // 2, W_MAX // 2) * self.w_step

    def snap_bias(self, b: torch.Tensor) -> torch.Tensor:
        return torch.clamp(torch.round(b / self.b_step), BIAS_MIN, BIAS_MAX) * self.b_step


def grids(student: nn.Module, q: QuantizedNet) -> list[Grid]:
    """The rounding grid of every conv/linear module that became a Loihi layer."""
    from exporters.nir import _unwrap, flat_children

    body = flat_children(student.body)
    if body and isinstance(_unwrap(body[-1][1]), nn.Linear):
        raise ExportError(f"--qat-epochs cannot fine-tune layer {body[-1][0]!r}: a linear head "
                          "without a neuron is folded into the readout on export; use --qat-epochs 0")
    bns = [n for n, m in body if isinstance(_unwrap(m), (nn.BatchNorm1d, nn.BatchNorm2d))]
    if bns:  # BN is folded into the conv before it: the conv's own weights are not on the grid
        raise ExportError(f"--qat-epochs does not support folded BatchNorm (layer {bns[0]!r}); "
                          "drop BN or use --qat-epochs 0")
    out = []
    for lay in q.layers:
        fl = lay.float_layer
        mod = _unwrap(student.readout) if lay.name == "readout" else \
            _unwrap(student.body.get_submodule(lay.name))
        w = mod.weight
        k2 = float(fl.weight.size) / float(w.numel())  # pooling folded in: k^2 copies of w / k^2
        g = fl.gain
        out.append(Grid(mod, 2.0 * k2 * lay.in_scale / (lay.scale * g), 1.0 / (lay.scale * g)))
    return out


def finetune(student: nn.Module, q: QuantizedNet, train_set, *, epochs: int, lr: float = 2e-4,
             batch_size: int = 64, seed: int = 0) -> dict[str, float]:
    """Fine-tune `student` in place on `train_set` (cross-entropy) through the weight grid."""
    gs = grids(student, q)
    params = [p for g in gs for p in (g.module.weight, g.module.bias) if p is not None]
    opt = torch.optim.Adam(params, lr=lr)
    gen = torch.Generator().manual_seed(seed)
    loader = torch.utils.data.DataLoader(train_set, batch_size=batch_size, shuffle=True,
                                         generator=gen)
    student.train()
    losses = []
    for _ in range(epochs):
        for x, y in loader:
            shadow = [(g, g.module.weight.data.clone(), g.module.bias.data.clone()) for g in gs]
            for g, w, b in shadow:
                g.module.weight.data = g.snap_weight(w)
                g.module.bias.data = g.snap_bias(b)
            loss = F.cross_entropy(student(x), torch.as_tensor(y))
            opt.zero_grad()
            loss.backward()
            for g, w, b in shadow:  # straight-through: apply the gradient to the float weights
                g.module.weight.data = w
                g.module.bias.data = b
            opt.step()
            losses.append(loss.item())
    with torch.no_grad():
        for g in gs:
            g.module.weight.data = g.snap_weight(g.module.weight.data)
            g.module.bias.data = g.snap_bias(g.module.bias.data)
    student.eval()
    return {"qat_epochs": epochs, "qat_final_loss": float(np.mean(losses[-10:])) if losses else 0.0}

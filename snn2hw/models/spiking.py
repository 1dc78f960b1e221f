"""SpikingNet: a feed-forward spiking network over T time steps with a non-spiking readout."""

from __future__ import annotations

import torch
from torch import nn

from snn2hw.neurons import NeuronSpec, SpikingNeuron, TimeFolded


class SpikingNet(nn.Module):
    """body: TimeFolded layers and SpikingNeurons; readout: a TimeFolded linear layer.

    Static input [B, C, H, W] is fed at every time step (direct encoding); sequence input
    [B, T, C, H, W] (event frames) is used as is. Logits are the readout averaged over time.
    `feature_taps` names the body modules whose outputs feature-distillation methods read.
    """

    def __init__(
        self,
        body: nn.Sequential,
        readout: nn.Module,
        *,
        timesteps: int,
        in_shape: tuple[int, ...],
        feature_taps: tuple[str, ...] = (),
    ) -> None:
        super().__init__()
        self.body = body
        self.readout = TimeFolded(readout)
        self.timesteps = timesteps
        self.in_shape = tuple(in_shape)
        self.feature_taps = feature_taps

    def to_sequence(self, x: torch.Tensor) -> torch.Tensor:
        """[B, *in_shape] -> [T, B, *in_shape] (repeat); [B, T, *in_shape] -> [T, B, *in_shape]."""
        if tuple(x.shape[1:]) == self.in_shape:
            return x.unsqueeze(0).expand(self.timesteps, *x.shape)
        if x.dim() == len(self.in_shape) + 2 and tuple(x.shape[2:]) == self.in_shape:
            return x.transpose(0, 1)
        raise ValueError(
            f"input of shape {tuple(x.shape)} does not fit a network for inputs {self.in_shape} "
            f"(expected [B, {', '.join(map(str, self.in_shape))}] or [B, T, ...])"
        )

    def forward_sequence(self, x: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Readout per time step [T, B, classes] and the tapped features {name: [T, B, ...]}."""
        feats: dict[str, torch.Tensor] = {}
        layers = list(self.body.named_children())
        first = 0
        if self.training and tuple(x.shape[1:]) == self.in_shape:
            # Direct encoding repeats the image at every step, so the per-sample layers in front
            # of the first neuron (conv, pooling, ...) give the same result at every step: in
            # training they run once on [B, ...] and their output is repeated (a view, no copy).
            # Same values; the weight gradient is summed over steps before the conv's backward
            # instead of after. Evaluation (what profilers hook) keeps the plain T*B folding.
            while (first < len(layers) and _per_sample(layers[first][1])
                   and layers[first][0] not in self.feature_taps):
                x = layers[first][1].layer(x)
                first += 1
        h = x.unsqueeze(0).expand(self.timesteps, *x.shape) if first else self.to_sequence(x)
        for name, layer in layers[first:]:
            h = layer(h)
            if name in self.feature_taps:
                feats[name] = h
        return self.readout(h), feats

    def forward(self, x: torch.Tensor, with_features: bool = False):
        """Logits [B, classes] (readout averaged over T); with_features: forward_sequence's pair.

        The keyword lets callers that hold a DistributedDataParallel wrapper get features through
        the wrapper's forward, which is what synchronises gradients.
        """
        out, feats = self.forward_sequence(x)
        return (out, feats) if with_features else out.mean(0)


PER_SAMPLE_LAYERS = (nn.Conv2d, nn.Linear, nn.AvgPool2d, nn.MaxPool2d, nn.AdaptiveAvgPool2d,
                     nn.Flatten, nn.Identity)
"""Stateless layers whose output for a sample depends on that sample alone, deterministically
(not BatchNorm, which normalises over the batch, nor Dropout)."""


def _per_sample(m: nn.Module) -> bool:
    return isinstance(m, TimeFolded) and type(m.layer) in PER_SAMPLE_LAYERS


def conv_block(c_in: int, c_out: int, spec: NeuronSpec, *, bn: bool = False) -> list[nn.Module]:
    """3x3 conv (padding 1) [+ BN] + spiking neuron, each time-folded where stateless."""
    layers: list[nn.Module] = [TimeFolded(nn.Conv2d(c_in, c_out, 3, padding=1, bias=not bn))]
    if bn:
        layers.append(TimeFolded(nn.BatchNorm2d(c_out)))
    layers.append(SpikingNeuron(spec))
    return layers

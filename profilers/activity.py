"""Spike activity through forward hooks on SpikingNeuron layers (no change to model code).

Memory stays bounded however many samples pass: per layer only [T, *neuron_shape] counts are
accumulated (spike events and non-zero input currents), plus the spikes of one sample for a
raster plot.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn

from profilers.graph import short_name


@dataclass
class LayerActivity:
    """Accumulated activity of one neuron layer over `samples` samples."""

    name: str
    counts: torch.Tensor
    """[T, *shape] spike events summed over samples (float64, on the model's device)."""
    active: torch.Tensor
    """[T, *shape] count of non-zero input currents (neuron 'active' that step)."""
    samples: int = 0

    @property
    def neurons(self) -> int:
        return int(self.counts[0].numel())

    @property
    def timesteps(self) -> int:
        return int(self.counts.shape[0])

    def rate_per_step(self) -> list[float]:
        """Spikes / (neurons x samples) at each time step."""
        per = self.counts.flatten(1).sum(1) / max(self.neurons * self.samples, 1)
        return per.cpu().tolist()

    def rate(self) -> float:
        """Spikes / (neurons x T x samples)."""
        return float(self.counts.sum()) / max(self.neurons * self.timesteps * self.samples, 1)


@dataclass
class ActivityRecorder:
    """Context manager: hooks every SpikingNeuron of `model` and accumulates its activity.

    Spike events are outputs != 0 (binary or graded spikes). The first sample seen is kept as
    a raster ({layer: [T, neurons] bool}).
    """

    model: nn.Module
    synapses: dict[str, nn.Module] = field(default_factory=dict)
    """Optional conv/linear layers whose own input is also counted (non-zero values per position)."""
    layers: dict[str, LayerActivity] = field(default_factory=dict)
    raster: dict[str, torch.Tensor] = field(default_factory=dict)
    synapse_inputs: dict[str, torch.Tensor] = field(default_factory=dict)
    """{synapse: [*in_shape] non-zero input count summed over steps and samples}."""
    synapse_binary: dict[str, bool] = field(default_factory=dict)
    """{synapse: whether every input value seen was 0 or 1 (spikes) }."""
    _handles: list = field(default_factory=list)

    def __enter__(self) -> ActivityRecorder:
        from snn2hw.neurons import SpikingNeuron

        for name, m in self.model.named_modules():
            if isinstance(m, SpikingNeuron):
                self._handles.append(m.register_forward_hook(self._hook(short_name(name))))
        for name, m in self.synapses.items():
            self._handles.append(m.register_forward_pre_hook(self._syn_hook(name)))
        return self

    def _syn_hook(self, name: str):
        def pre(module: nn.Module, inputs: tuple) -> None:
            with torch.no_grad():
                x = inputs[0]  # [T*B, *shape] inside TimeFolded
                nz = (x != 0).double().sum(0)
                prev = self.synapse_inputs.get(name)
                self.synapse_inputs[name] = nz if prev is None else prev + nz
                binary = bool(((x == 0) | (x == 1)).all())
                self.synapse_binary[name] = self.synapse_binary.get(name, True) and binary

        return pre

    def __exit__(self, *exc) -> None:
        for h in self._handles:
            h.remove()
        self._handles.clear()

    def _hook(self, name: str):
        def hook(module: nn.Module, inputs: tuple, out: torch.Tensor) -> None:
            with torch.no_grad():
                spikes = (out != 0).double().sum(1)  # [T, *shape]
                active = (inputs[0] != 0).double().sum(1)
                rec = self.layers.get(name)
                if rec is None or rec.counts.shape != spikes.shape:
                    if rec is not None:
                        raise ValueError(
                            f"layer {name}: activity of shape {tuple(spikes.shape)} cannot be "
                            f"added to {tuple(rec.counts.shape)} (time steps changed?); use a "
                            "new recorder per number of time steps"
                        )
                    rec = self.layers[name] = LayerActivity(
                        name, torch.zeros_like(spikes), torch.zeros_like(active))
                rec.counts += spikes
                rec.active += active
                rec.samples += out.shape[1]
                if name not in self.raster:
                    self.raster[name] = (out[:, 0] != 0).flatten(1).cpu()

        return hook

    def total_rate(self) -> float:
        """All spikes / all neuron-steps, over every layer."""
        spikes = sum(float(r.counts.sum()) for r in self.layers.values())
        slots = sum(r.neurons * r.timesteps * r.samples for r in self.layers.values())
        return spikes / max(slots, 1)


def activity_from_spikes(spikes: dict[str, torch.Tensor]) -> dict[str, LayerActivity]:
    """Plain per-layer spike tensors {neuron layer: [T, B, *shape]} -> LayerActivity records.

    The adapter for activity recorded elsewhere (an emulator's or Lava's spikes): feed the
    result to profilers.profile.count_layers with the plans of the same student. Active-update
    counts are unknown there and left at zero (every update is then priced as active).
    """
    out = {}
    for name, s in spikes.items():
        if s.dim() < 3:
            raise ValueError(f"spikes of layer {name!r} must be [T, B, ...], got {tuple(s.shape)}")
        counts = (s != 0).double().sum(1)
        out[name] = LayerActivity(name, counts, torch.zeros_like(counts), int(s.shape[1]))
    return out

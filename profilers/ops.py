"""Operation counts: exact SynOps from spike counts, analog MACs, neuron updates, memory, ANN FLOPs.

Pure functions on tensors and dataclasses. The one model-shaped input is a LayerPlan (from
profilers.graph); spike counts come in as plain tensors [T, *neuron_shape] (summed over samples),
so counts from any source (PyTorch hooks, an emulator, Lava) are priced the same way.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from profilers.errors import ProfileError
from profilers.graph import LayerPlan
from profilers.hooks import forward_observed

FirstLayerPolicy = Literal["auto", "every-step", "once"]


# --------------------------------------------------------------------------- connectivity


def _structural(m: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """m with every weight set to 1 and no bias: output[o] = number of paths from inputs to o."""
    if isinstance(m, (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.Linear)):
        params = {"weight": torch.ones_like(m.weight, dtype=x.dtype, device=x.device)}
        if m.bias is not None:
            params["bias"] = torch.zeros_like(m.bias, dtype=x.dtype, device=x.device)
        return torch.func.functional_call(m, params, (x,))
    if isinstance(m, (nn.AvgPool2d, nn.AvgPool3d)):
        pool = F.avg_pool2d if isinstance(m, nn.AvgPool2d) else F.avg_pool3d
        return pool(x, m.kernel_size, m.stride, m.padding, m.ceil_mode, m.count_include_pad,
                    divisor_override=1)
    if isinstance(m, nn.AvgPool1d):
        k, s, p = m.kernel_size[0], m.stride[0], m.padding[0]
        y = F.avg_pool2d(x.unsqueeze(-2), (1, k), (1, s), (0, p), m.ceil_mode,
                         m.count_include_pad, divisor_override=1)
        return y.squeeze(-2)
    if isinstance(m, (nn.AdaptiveAvgPool1d, nn.AdaptiveAvgPool2d, nn.AdaptiveAvgPool3d)):
        dims = x.dim() - 2
        out = m.output_size if isinstance(m.output_size, tuple) else (m.output_size,) * dims
        ins = x.shape[2:]
        if any(o is not None and i % o for i, o in zip(ins, out)):
            raise ProfileError(
                f"adaptive average pooling from {tuple(ins)} to {out} has uneven windows; the "
                "profiler counts only windows that tile the input (use an input size divisible "
                "by the output size)"
            )
        k = tuple(i // (o or i) for i, o in zip(ins, out))
        return _structural({1: nn.AvgPool1d, 2: nn.AvgPool2d, 3: nn.AvgPool3d}[dims](k), x)
    if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d, nn.Identity, nn.Dropout,
                      nn.Dropout1d, nn.Dropout2d, nn.Dropout3d)):
        return x  # per-channel affine / identity in eval: folds into the next synapse
    if isinstance(m, nn.Flatten):
        return m(x)
    raise ProfileError(f"no connectivity rule for {type(m).__name__}; it cannot be profiled yet")


def fanout_map(chain: Sequence[nn.Module], in_shape: Sequence[int]) -> torch.Tensor:
    """Synapses reached from each input position through `chain` (pool/flatten/BN..., then the synapse).

    Computed as d(sum of the all-ones-weight chain)/d(input): for one conv this is, per input
    position, (output channels of its group) x (output positions whose receptive field holds it),
    so padding, stride, dilation, groups and borders are exact. Shape: in_shape (no batch).
    """
    x = torch.ones(1, *in_shape, dtype=torch.float64, requires_grad=True)
    y = x
    with torch.enable_grad():
        for m in chain:
            y = _structural(m, y)
        y.sum().backward()
    return x.grad[0].detach()


def synops(counts: torch.Tensor, fanout: torch.Tensor) -> torch.Tensor:
    """Exact SynOps per time step [T]: sum over positions of spikes(t, pos) * fanout(pos).

    counts: [T, *shape] spike events (summed over any number of samples); fanout: [*shape].
    """
    if tuple(counts.shape[1:]) != tuple(fanout.shape):
        raise ProfileError(
            f"spike counts of shape {tuple(counts.shape[1:])} do not match the consuming layer's "
            f"input shape {tuple(fanout.shape)}"
        )
    return (counts.double() * fanout.double().to(counts.device)).flatten(1).sum(1).cpu()


def rate_approx_synops(counts: torch.Tensor, dense_macs: float, neurons: int) -> torch.Tensor:
    """The common approximation firing rate x full-layer MACs, per time step [T] (off at borders)."""
    return counts.double().flatten(1).sum(1).cpu() / neurons * dense_macs


# --------------------------------------------------------------------------- per-layer counts


@dataclass
class LayerCounts:
    """Operations of one synaptic layer (+ the neurons it drives), per sample."""

    name: str
    source: str | None
    neuron: str | None
    synops: float = 0.0
    synops_per_step: list[float] | None = None
    macs: float = 0.0
    """Analog input (first layer): multiply-accumulates over real connections."""
    mac_policy: str | None = None
    connections: float = 0.0
    """Synapses per step if every input were active (= all-ones SynOps per step)."""
    neurons: int = 0
    neuron_updates: float = 0.0
    active_updates: float = 0.0
    """Updates of neurons whose input current was non-zero that step (Loihi's 'active')."""
    spikes: float = 0.0
    """Spikes emitted by this layer's neurons."""
    mem_reads: float = 0.0
    mem_writes: float = 0.0

    def to_dict(self) -> dict:
        return asdict(self)


def layer_counts(
    plan: LayerPlan,
    fanout: torch.Tensor,
    *,
    samples: int,
    timesteps: int,
    in_counts: torch.Tensor | None,
    out_counts: torch.Tensor | None,
    out_active: torch.Tensor | None,
    state_vars: int = 1,
    first_layer_policy: Literal["every-step", "once"] = "every-step",
) -> LayerCounts:
    """Per-sample counts of one layer from raw spike counts summed over `samples` samples.

    in_counts: [T, *in_shape] spikes arriving (None: analog input, counted as MACs);
    out_counts / out_active: [T, *neuron_shape] spikes and non-zero-input counts of the driven
    neurons (None for a readout). Memory model: a SynOp reads a weight and read-modify-writes
    the target's accumulator (2 reads, 1 write); a MAC reads a weight and an input (2 reads)
    and writes each output once per evaluation; a neuron update reads and writes each state
    variable once.
    """
    c = LayerCounts(plan.name, plan.source, plan.neuron)
    c.connections = float(fanout.sum())
    if in_counts is None:
        evaluations = 1 if first_layer_policy == "once" else timesteps
        c.macs = c.connections * evaluations
        c.mac_policy = first_layer_policy
        out_elems = _out_elems(plan, fanout.shape)
        c.mem_reads += 2 * c.macs
        c.mem_writes += out_elems * evaluations
    else:
        per_step = synops(in_counts, fanout) / samples
        c.synops_per_step = per_step.tolist()
        c.synops = float(per_step.sum())
        c.mem_reads += 2 * c.synops
        c.mem_writes += c.synops
    if out_counts is not None:
        c.neurons = int(out_counts[0].numel())
        c.neuron_updates = float(c.neurons * timesteps)
        c.spikes = float(out_counts.double().sum()) / samples
        known = out_active is not None and bool(out_active.any())
        c.active_updates = (float(out_active.double().sum()) / samples  # type: ignore[union-attr]
                            if known else c.neuron_updates)
        c.mem_reads += state_vars * c.neuron_updates
        c.mem_writes += state_vars * c.neuron_updates
    return c


def _out_elems(plan: LayerPlan, in_shape: Sequence[int]) -> int:
    x = torch.zeros(1, *in_shape, dtype=torch.float64)
    with torch.no_grad():
        for m in plan.chain:
            x = _structural(m, x)
    return int(x.numel())


def resolve_policy(policy: FirstLayerPolicy, static_input: bool) -> Literal["every-step", "once"]:
    """auto: once when the same input is fed at every step (direct encoding), else every step."""
    if policy == "auto":
        return "once" if static_input else "every-step"
    if policy not in ("every-step", "once"):
        raise ProfileError(
            f"unknown first-layer policy {policy!r}; choose auto, every-step or once "
            "(option --first-layer)"
        )
    return policy


# --------------------------------------------------------------------------- ANN side


@dataclass
class AnnLayer:
    """One conv/linear layer of an ANN, per sample."""

    name: str
    kind: str
    macs: float
    flops: float
    params: int
    outputs: int

    def to_dict(self) -> dict:
        return asdict(self)


def _leaf_weighted(model: nn.Module) -> dict[str, nn.Module]:
    return {n: m for n, m in model.named_modules() if isinstance(m, (nn.Conv1d, nn.Conv2d,
                                                                       nn.Conv3d, nn.Linear))}


def flop_counter_flops(model: nn.Module, x: torch.Tensor) -> dict[str, float]:
    """FLOPs per conv/linear module (dotted name) from torch.utils.flop_counter (FLOPs = 2 MACs)."""
    from torch.utils.flop_counter import FlopCounterMode

    mode = FlopCounterMode(display=False)
    with torch.no_grad(), mode:
        model(x)
    table = mode.get_flop_counts()
    root = type(model).__name__
    out: dict[str, float] = {}
    for name in _leaf_weighted(model):
        key = f"{root}.{name}"
        out[name] = float(sum(table.get(key, {}).values()))
    return out


def hook_macs(model: nn.Module, x: torch.Tensor) -> dict[str, tuple[float, int]]:
    """A second, independent counter: forward hooks + hand formulas -> (MACs, outputs) per layer.

    conv: outputs x (in_channels / groups) x prod(kernel); linear: outputs x in_features.
    """
    found: dict[str, tuple[float, int]] = {}
    handles = []
    for name, m in _leaf_weighted(model).items():
        def hook(mod, inp, out, name=name):
            if isinstance(mod, nn.Linear):
                per_out = mod.in_features
            else:
                per_out = (mod.in_channels // mod.groups) * int(torch.tensor(mod.kernel_size).prod())
            prev = found.get(name, (0.0, 0))
            found[name] = (prev[0] + out.numel() * per_out, prev[1] + out.numel())
        handles.append(m.register_forward_hook(hook))
    forward_observed(model, x, handles)
    return found


def ann_layers(model: nn.Module, x: torch.Tensor, *, per: int = 1) -> list[AnnLayer]:
    """Per-layer MACs/FLOPs (FlopCounterMode), parameters and outputs, divided by `per` (samples x steps)."""
    model.eval()
    flops = flop_counter_flops(model, x)
    hooks = hook_macs(model, x)
    out = []
    for name, m in _leaf_weighted(model).items():
        if name not in hooks:
            continue  # declared but not used in forward
        params = sum(p.numel() for p in m.parameters(recurse=False))
        out.append(AnnLayer(name, type(m).__name__, flops[name] / 2 / per, flops[name] / per,
                            params, hooks[name][1] // per))
    return out

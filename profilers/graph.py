"""Which synaptic layer consumes which neuron layer's spikes: a walk over a SpikingNet.

The walk turns `body` (+ `readout`) into a list of LayerPlans, one per synaptic layer (conv or
linear): its source (the neuron layer whose spikes it receives, or None for analog input), the
stateless layers between source and synapse (pooling, flatten, BN, dropout: folded into the
fan-out), and the neuron layer it drives (None for the readout).

Covered: nested nn.Sequential, TimeFolded wrappers, SpikingNeuron. Not covered: blocks that
branch (residual adds, concatenation); they raise ProfileError naming the block.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from torch import nn

from profilers.errors import ProfileError

SYNAPTIC = (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.Linear)
PASS_THROUGH = (
    nn.AvgPool1d, nn.AvgPool2d, nn.AvgPool3d, nn.AdaptiveAvgPool1d, nn.AdaptiveAvgPool2d,
    nn.AdaptiveAvgPool3d, nn.Flatten, nn.Identity, nn.Dropout, nn.Dropout1d, nn.Dropout2d,
    nn.Dropout3d, nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d,
)


@dataclass
class Stage:
    """One leaf of the walked model: its dotted name (as in named_modules) and module."""

    name: str
    module: nn.Module

    @property
    def is_neuron(self) -> bool:
        from snn2hw.neurons import SpikingNeuron

        return isinstance(self.module, SpikingNeuron)


@dataclass
class LayerPlan:
    """A synaptic layer with the stages that lead spikes to it and the neuron it feeds."""

    name: str
    """The synaptic layer's short name (e.g. conv2, readout)."""
    synapse: Stage
    source: str | None
    """Name of the neuron layer whose spikes arrive here; None: analog (non-spike) input."""
    pre: list[Stage] = field(default_factory=list)
    """Stateless layers between source and synapse (their connectivity is folded in)."""
    neuron: str | None = None
    """The neuron layer this synapse drives; None for a non-spiking readout."""
    input_of: str | None = None
    """For an identity shortcut (no module in the model): the plan whose input it shares."""

    @property
    def chain(self) -> list[nn.Module]:
        return [s.module for s in self.pre] + [self.synapse.module]


def _leaves(module: nn.Module, prefix: str) -> list[Stage]:
    """Flatten nested Sequentials and unwrap TimeFolded into an ordered list of stages."""
    from snn2hw.neurons import SpikingNeuron, TimeFolded

    if isinstance(module, nn.Sequential):
        out: list[Stage] = []
        for child_name, child in module.named_children():
            out += _leaves(child, f"{prefix}.{child_name}" if prefix else child_name)
        return out
    if isinstance(module, TimeFolded):
        return _leaves(module.layer, f"{prefix}.layer")
    from exporters.nir_graph import _block_fields

    if isinstance(module, SpikingNeuron) or _block_fields(module) is not None \
            or isinstance(module, SYNAPTIC + PASS_THROUGH):
        return [Stage(prefix, module)]
    raise ProfileError(
        f"layer {prefix!r} ({type(module).__name__}) is not one the profiler can walk: it counts "
        "feed-forward nn.Sequential students made of conv/linear, average pooling, BN, flatten, "
        "dropout and SpikingNeuron layers. Branching blocks (residual adds, concatenation) and "
        "max pooling are not covered yet; profile a sequential student instead."
    )


def short_name(dotted: str) -> str:
    """body.conv1.layer -> conv1; readout.layer -> readout."""
    parts = [p for p in dotted.split(".") if p not in ("body", "layer")]
    return ".".join(parts) or dotted


def walk(model: nn.Module) -> list[LayerPlan]:
    """LayerPlans of a SpikingNet-like model (attributes `body` and `readout`), in order."""
    body = getattr(model, "body", None)
    if not isinstance(body, nn.Sequential) or not hasattr(model, "readout"):
        raise ProfileError(
            f"{type(model).__name__} is not a SpikingNet (needs an nn.Sequential `body` and a "
            "`readout`); the profiler counts spiking students built by snn2hw.models"
        )
    stages = _leaves(body, "body") + _leaves(model.readout, "readout")
    plans: list[LayerPlan] = []
    source: str | None = None
    pending: list[Stage] = []
    current: LayerPlan | None = None
    from exporters.nir_graph import _block_fields

    for st in stages:
        fields = _block_fields(st.module)
        if fields is not None:
            if current is not None:
                raise ProfileError(f"block {short_name(st.name)!r} follows a synaptic layer with no "
                                   "neuron in between; the profiler cannot walk it")
            plans += _block_plans(st, source, pending)
            source, pending = short_name(f"{st.name}.{fields[1]}"), []
        elif st.is_neuron:
            if current is None:
                raise ProfileError(
                    f"neuron layer {short_name(st.name)!r} receives no synaptic layer since the "
                    "previous neuron layer; the profiler needs conv/linear between neuron layers"
                )
            current.neuron = short_name(st.name)
            source, pending, current = short_name(st.name), [], None
        elif isinstance(st.module, SYNAPTIC):
            if current is not None:  # synapse after synapse: the second one sees analog values
                source, pending = None, []
            current = LayerPlan(short_name(st.name), st, source, pending)
            plans.append(current)
            pending = []
        elif current is None:
            pending.append(st)
        # stateless layers after a synapse and before its neuron (BN) do not change fan-out
    if not plans:
        raise ProfileError("the model has no conv or linear layer to profile")
    return plans


def _block_plans(st: Stage, source: str | None, pending: list[Stage]) -> list[LayerPlan]:
    """A residual block: conv1 -> sn1, conv2 -> sn2 and the 1x1-conv shortcut -> sn2.

    The shortcut plan drives no neuron of its own (sn2 is counted once, with conv2); its SynOps
    are the block input's spikes times the shortcut's fan-out. An identity shortcut is a plan
    too (an nn.Identity synapse, fan-out 1): each input spike is one synaptic event into sn2, as
    the Loihi export's one-to-one identity synapse delivers it.
    """
    from exporters.nir_graph import _block_fields
    from snn2hw.neurons import SpikingNeuron

    blk, p = st.module, st.name
    a1, a2, sc_attr = _block_fields(blk)
    for a in (a1, a2):
        if not isinstance(getattr(blk, a), SpikingNeuron):
            raise ProfileError(f"layer {short_name(f'{p}.{a}')!r} ({type(getattr(blk, a)).__name__}) "
                               "is not a spiking neuron: SynOps and energy count spikes; replace "
                               "it with a SpikingNeuron (resnet19-ckdsnn: use resnet19-tet)")
    sn1, sn2 = short_name(f"{p}.{a1}"), short_name(f"{p}.{a2}")
    conv = lambda m, n: Stage(f"{p}.{n}.layer", m.layer)
    plans = [LayerPlan(short_name(f"{p}.conv1"), conv(blk.conv1, "conv1"), source, list(pending), sn1),
             LayerPlan(short_name(f"{p}.conv2"), conv(blk.conv2, "conv2"), sn1, [], sn2)]
    sc_mod = getattr(blk, sc_attr, None)
    sc = list(sc_mod.named_children()) if sc_mod is not None else []
    if sc:
        pre = list(pending)
        k = 0
        if isinstance(sc[0][1].layer, nn.AvgPool2d):  # ResNet-D: avg-pool before the 1x1 conv
            pre.append(Stage(f"{p}.{sc_attr}.{sc[0][0]}.layer", sc[0][1].layer))
            k = 1
        plans.append(LayerPlan(short_name(f"{p}.{sc_attr}"),
                               Stage(f"{p}.{sc_attr}.{sc[k][0]}.layer", sc[k][1].layer),
                               source, pre, None))
    else:
        plans.append(LayerPlan(short_name(f"{p}.{sc_attr}"), Stage(f"{p}.{sc_attr}", nn.Identity()),
                               source, list(pending), None, input_of=plans[0].name))
    return plans

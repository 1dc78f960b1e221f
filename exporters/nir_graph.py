"""Residual students <-> NIR as a graph (not a chain): blocks become fan-out / fan-in edges.

A SpikingBasicBlock `p` with input node `src` becomes
    src -> p.conv1 (BN1 folded) -> p.sn1 -> p.conv2 (BN2 folded) -> p.sn2
    src -> p.shortcut (1x1 conv, BN folded)                    -> p.sn2   (projection shortcut)
    src -----------------------------------------------------> p.sn2     (identity shortcut)
Several edges into one node sum their inputs (NIR semantics), so p.sn2 receives
bn2(conv2(.)) + shortcut(x) exactly as the block computes it. Adaptive global average pooling
to 1x1 is written as nir.AvgPool2d with kernel = stride = the feature map size. Neuron mapping,
metadata and the readout convention are those of exporters/nir.py; metadata["format"] is
"snn2hw-nir-graph-1". `graph_to_student` rebuilds a float network that runs the graph.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import torch
from torch import nn

from exporters.errors import ExportError
from exporters.nir import (
    _np,
    _spec_from_node,
    _unwrap,
    fold_bn,
    fold_trailing_linear,
    neuron_node,
    unsupported_message,
)
from snn2hw.models.resnet import SpikingBasicBlock
from snn2hw.models.spiking import SpikingNet
from snn2hw.neurons import SpikingNeuron, TimeFolded

FORMAT = "snn2hw-nir-graph-1"


def _block_fields(blk: nn.Module) -> tuple[str, str, str] | None:
    """(first activation, last activation, shortcut) attribute names of a residual block, or None.

    SpikingBasicBlock (snn2hw.models.resnet), ResNetDBlock (CKDSNN, avg-pool + 1x1-conv shortcut)
    and TETBlock (TET / SASTC) all compute act2(bn2(conv2(act1(bn1(conv1 x)))) + shortcut(x)).
    """
    from snn2hw.models.paper_resnets import ResNetDBlock, TETBlock

    if isinstance(blk, SpikingBasicBlock):
        return "sn1", "sn2", "shortcut"
    if isinstance(blk, ResNetDBlock):
        return "spike1", "spike2", "downsample"
    if isinstance(blk, TETBlock):
        return "act1", "act2", "downsample"
    return None


def is_graph_student(model: nn.Module) -> bool:
    """True when the student holds residual blocks (needs the graph export, not the chain)."""
    return any(_block_fields(m) is not None for m in model.modules())


class _Builder:
    """Accumulates NIR nodes and edges while walking a student; tracks the current shape."""

    def __init__(self, in_shape: tuple[int, ...]) -> None:
        import nir

        self.nodes: dict[str, Any] = {"input": nir.Input(input_type=np.array(in_shape))}
        self.edges: list[tuple[str, str]] = []
        self.neurons: dict[str, dict] = {}
        self.dt: float | None = None

    def add(self, name: str, node, srcs: list[str]) -> str:
        if name in self.nodes:
            raise ExportError(f"duplicate node name {name!r} in the student")
        self.nodes[name] = node
        self.edges += [(s, name) for s in srcs]
        return name

    def synapse(self, name: str, lin: nn.Module, bn: nn.Module | None, shape: tuple[int, ...]):
        """A conv/linear (+ folded BN) node; returns (node, output shape)."""
        import nir

        if bn is not None:
            w, b = fold_bn(lin, bn)
        else:
            w = _np(lin.weight)
            b = _np(lin.bias) if lin.bias is not None else np.zeros(w.shape[0], np.float32)
        if isinstance(lin, nn.Conv2d):
            if lin.padding_mode != "zeros" or isinstance(lin.padding, str):
                raise ExportError(f"layer {name!r}: use integer zero padding for export")
            node = nir.Conv2d(
                input_shape=np.array(shape[1:]), weight=w, stride=np.array(lin.stride),
                padding=np.array(lin.padding), dilation=np.array(lin.dilation),
                groups=lin.groups, bias=b,
            )
        else:
            node = nir.Affine(weight=w, bias=b)
        with torch.no_grad():
            out = lin(torch.zeros(1, *shape))
        return node, tuple(out.shape[1:])

    def neuron(self, name: str, mod: SpikingNeuron, shape: tuple[int, ...], srcs: list[str]) -> str:
        self.neurons[name] = mod.spec.to_dict()
        self.dt = mod.spec.dt if self.dt is None else self.dt
        return self.add(name, neuron_node(mod.spec, shape, name), srcs)


def _pool_node(name: str, mod: nn.Module, shape: tuple[int, ...]):
    import nir

    if isinstance(mod, nn.AdaptiveAvgPool2d):
        osz = np.broadcast_to(np.array(mod.output_size, dtype=object), (2,))
        if any(o not in (1, None) for o in osz) or len(shape) != 3:
            raise ExportError(f"layer {name!r}: only global adaptive average pooling (output 1) "
                              "can be exported; use AdaptiveAvgPool2d(1) or AvgPool2d(k)")
        k = np.array(shape[1:])
        return nir.AvgPool2d(kernel_size=k, stride=k.copy(), padding=np.zeros(2, dtype=int)), \
            (shape[0], 1, 1)
    if mod.padding not in (0, (0, 0)) or mod.ceil_mode:
        raise ExportError(f"layer {name!r}: average pooling with padding/ceil_mode cannot be "
                          "lowered; use AvgPool2d(k) without padding")
    k = np.broadcast_to(np.array(mod.kernel_size), (2,)).copy()
    s = np.broadcast_to(np.array(mod.stride or mod.kernel_size), (2,)).copy()
    with torch.no_grad():
        out = mod(torch.zeros(1, *shape))
    return nir.AvgPool2d(kernel_size=k, stride=s, padding=np.zeros(2, dtype=int)), \
        tuple(out.shape[1:])


def _walk(b: _Builder, prefix: str, mods: list[tuple[str, nn.Module]], src: str,
          shape: tuple[int, ...]) -> tuple[str, tuple[int, ...]]:
    """Emit nodes for a sequence of modules fed by node `src`; returns the last node and shape."""
    import nir

    i = 0
    while i < len(mods):
        local, mod = mods[i]
        name = f"{prefix}{local}"
        inner = _unwrap(mod)
        nxt = _unwrap(mods[i + 1][1]) if i + 1 < len(mods) else None
        if _block_fields(inner) is not None:
            src, shape = _block(b, name, inner, src, shape)
        elif isinstance(inner, nn.Sequential):
            src, shape = _walk(b, f"{name}.", list(inner.named_children()), src, shape)
        elif isinstance(inner, (nn.Conv2d, nn.Linear)):
            bn = nxt if isinstance(nxt, (nn.BatchNorm2d, nn.BatchNorm1d)) else None
            node, shape = b.synapse(name, inner, bn, shape)
            src = b.add(name, node, [src])
            i += bn is not None
        elif isinstance(inner, SpikingNeuron):
            src = b.neuron(name, inner, shape, [src])
        elif isinstance(inner, (nn.AvgPool2d, nn.AdaptiveAvgPool2d)):
            node, out = _pool_node(name, inner, shape)
            if out != shape:  # pooling a 1x1 map is the identity: no node
                src, shape = b.add(name, node, [src]), out
        elif isinstance(inner, nn.Flatten):
            src = b.add(name, nir.Flatten(input_type={"input": np.array(shape)}, start_dim=0,
                                          end_dim=-1), [src])
            shape = (int(np.prod(shape)),)
        else:
            raise ExportError(unsupported_message(name, inner))
        i += 1
    return src, shape


def _activation(p: str, attr: str, mod: nn.Module) -> SpikingNeuron:
    """A block's activation; an analog one (ReLU) is refused by name with the fix."""
    if not isinstance(mod, SpikingNeuron):
        raise ExportError(unsupported_message(f"{p}.{attr}", mod))
    return mod


def _block(b: _Builder, p: str, blk: nn.Module, src: str, shape: tuple[int, ...]):
    """One residual block: main path conv1-act1-conv2 and the shortcut both end in p.act2.

    The shortcut is empty (identity), conv-BN (1x1, strided) or avgpool-conv-BN (ResNet-D)."""
    a1, a2, sc_attr = _block_fields(blk)
    sn1 = _activation(p, a1, getattr(blk, a1))
    sn2 = _activation(p, a2, getattr(blk, a2))
    n1, s1 = b.synapse(f"{p}.conv1", _unwrap(blk.conv1), _unwrap(blk.bn1), shape)
    b.add(f"{p}.conv1", n1, [src])
    b.neuron(f"{p}.{a1}", sn1, s1, [f"{p}.conv1"])
    n2, s2 = b.synapse(f"{p}.conv2", _unwrap(blk.conv2), _unwrap(blk.bn2), s1)
    b.add(f"{p}.conv2", n2, [f"{p}.{a1}"])
    sc_mod = getattr(blk, sc_attr, None)
    sc = list(sc_mod.named_children()) if sc_mod is not None else []
    if sc:
        mods = [_unwrap(m) for _, m in sc]
        pool = mods[0] if len(mods) == 3 and isinstance(mods[0], nn.AvgPool2d) else None
        conv_bn = mods[1:] if pool is not None else mods
        if len(conv_bn) != 2 or not isinstance(conv_bn[0], nn.Conv2d) \
                or not isinstance(conv_bn[1], nn.BatchNorm2d):
            raise ExportError(f"block {p!r}: the shortcut must be [avg-pool,] conv, BN (or empty) "
                              f"to be exported; got {[type(m).__name__ for m in mods]}")
        s_src, s_shape = src, shape
        if pool is not None:
            pname = f"{p}.{sc_attr}.{sc[0][0]}"
            pnode, s_shape = _pool_node(pname, pool, shape)
            s_src = b.add(pname, pnode, [src])
        sname = f"{p}.{sc_attr}"
        ns, ss = b.synapse(sname, conv_bn[0], conv_bn[1], s_shape)
        if ss != s2:
            raise ExportError(f"block {p!r}: shortcut output {ss} does not match main path {s2}")
        b.add(sname, ns, [s_src])
        srcs = [f"{p}.conv2", sname]
    else:
        if shape != s2:
            raise ExportError(f"block {p!r}: identity shortcut of shape {shape} does not match {s2}")
        srcs = [f"{p}.conv2", src]
    b.neuron(f"{p}.{a2}", sn2, s2, srcs)
    return f"{p}.{a2}", s2


def student_to_nir_graph(model: SpikingNet):
    """A (residual) SpikingNet as a nir.NIRGraph with fan-out/fan-in edges (float parameters)."""
    import nir

    if not isinstance(model, SpikingNet):
        raise ExportError(f"only SpikingNet students can be exported, got {type(model).__name__}; "
                          "build the student from snn2hw.models")
    model = model.eval()
    b = _Builder(tuple(model.in_shape))
    last, shape = _walk(b, "", list(model.body.named_children()), "input", tuple(model.in_shape))
    ro = _unwrap(model.readout)
    if not isinstance(ro, nn.Linear):
        raise ExportError(unsupported_message("readout", ro))
    node, _ = b.synapse("readout", ro, None, shape)
    if isinstance(b.nodes[last], nir.Affine):  # fc head without a neuron: fold into the readout
        fc = b.nodes.pop(last)
        w, bias = fold_trailing_linear(node.weight, node.bias, fc.weight, fc.bias)
        node = nir.Affine(weight=w, bias=bias)
        (prev,) = [a for a, c in b.edges if c == last]
        b.edges = [(a, c) for a, c in b.edges if c != last]
        last = prev
    b.add("readout", node, [last])
    b.add("output", nir.Output(output_type=np.array([ro.out_features])), ["readout"])
    meta = {
        "format": FORMAT, "dt": float(b.dt or 1e-3), "timesteps": int(model.timesteps),
        "in_shape": list(model.in_shape), "readout": "mean_over_time",
        "feature_taps": list(model.feature_taps), "neurons": json.dumps(b.neurons),
    }
    return nir.NIRGraph(nodes=b.nodes, edges=b.edges, metadata=meta)


def topo_order(graph) -> list[str]:
    """Node names in an order where every node follows all its predecessors (error on cycles)."""
    preds = predecessors(graph)
    order, seen, onstack = [], set(), set()

    def visit(n: str) -> None:
        if n in seen:
            return
        if n in onstack:
            raise ExportError(f"the NIR graph has a cycle through {n!r}; only feed-forward graphs "
                              "(no recurrence) can be lowered")
        onstack.add(n)
        for p in preds.get(n, []):
            visit(p)
        onstack.discard(n)
        seen.add(n)
        order.append(n)

    for n in graph.nodes:
        visit(n)
    return order


def predecessors(graph) -> dict[str, list[str]]:
    """node -> its source nodes, in edge order."""
    out: dict[str, list[str]] = {n: [] for n in graph.nodes}
    for a, c in graph.edges:
        if a not in graph.nodes or c not in graph.nodes:
            raise ExportError(f"NIR edge {a!r} -> {c!r} names a node the graph does not have")
        out[c].append(a)
    return out


class GraphSpikingNet(nn.Module):
    """A float network that runs a NIR graph over [T, B, ...]; inputs of a node are summed.

    Same calling convention as SpikingNet: static [B, *in_shape] (repeated T times) or
    [B, T, *in_shape]; logits = the readout averaged over time.
    """

    def __init__(self, layers: dict[str, nn.Module], preds: dict[str, list[str]], order: list[str],
                 readout: str, timesteps: int, in_shape: tuple[int, ...]) -> None:
        super().__init__()
        self.names = list(layers)
        self.layers = nn.ModuleList(layers.values())
        self.preds = preds
        self.order = order
        self.readout_name = readout
        self.timesteps = timesteps
        self.in_shape = tuple(in_shape)

    def to_sequence(self, x: torch.Tensor) -> torch.Tensor:
        return SpikingNet.to_sequence(self, x)  # type: ignore[arg-type]

    def forward_sequence(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """Every node's output over time {name: [T, B, ...]}."""
        mods = dict(zip(self.names, self.layers))
        vals: dict[str, torch.Tensor] = {"input": self.to_sequence(x)}
        for n in self.order:
            if n == "input":
                continue
            ins = [vals[p] for p in self.preds[n]]
            h = ins[0]
            for extra in ins[1:]:
                h = h + extra
            vals[n] = mods[n](h) if n in mods else h
        return vals

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_sequence(x)[self.readout_name].mean(0)


def graph_to_student(graph) -> GraphSpikingNet:
    """Rebuild a runnable float network from a NIR graph (written by `student_to_nir_graph`)."""
    import nir

    meta = dict(graph.metadata or {})
    dt = float(meta.get("dt", 1e-3))
    extra = json.loads(meta["neurons"]) if isinstance(meta.get("neurons"), str) else {}
    preds = predecessors(graph)
    order = topo_order(graph)
    inputs = [n for n, v in graph.nodes.items() if isinstance(v, nir.Input)]
    outputs = [n for n, v in graph.nodes.items() if isinstance(v, nir.Output)]
    if inputs != ["input"] or len(outputs) != 1:
        raise ExportError("the NIR graph must have one Input node named 'input' and one Output node")
    in_shape = tuple(int(v) for v in np.ravel(graph.nodes["input"].input_type["input"]))
    if len(preds[outputs[0]]) != 1:
        raise ExportError("the Output node must have exactly one source (the readout Affine)")
    readout = preds[outputs[0]][0]
    layers: dict[str, nn.Module] = {}
    for name in order:
        node = graph.nodes[name]
        if isinstance(node, (nir.Input, nir.Output)):
            continue
        if isinstance(node, nir.Conv2d):
            w = torch.tensor(np.asarray(node.weight), dtype=torch.float32)
            conv = nn.Conv2d(w.shape[1] * int(node.groups), w.shape[0], tuple(w.shape[2:]),
                             stride=tuple(np.broadcast_to(node.stride, 2).tolist()),
                             padding=tuple(np.broadcast_to(node.padding, 2).tolist()),
                             dilation=tuple(np.broadcast_to(node.dilation, 2).tolist()),
                             groups=int(node.groups))
            conv.weight.data.copy_(w)
            conv.bias.data.copy_(torch.tensor(np.asarray(node.bias), dtype=torch.float32))
            layers[name] = TimeFolded(conv)
        elif isinstance(node, (nir.Affine, nir.Linear)):
            w = torch.tensor(np.asarray(node.weight), dtype=torch.float32)
            lin = nn.Linear(w.shape[1], w.shape[0])
            lin.weight.data.copy_(w)
            bias = getattr(node, "bias", None)
            lin.bias.data.copy_(torch.tensor(np.asarray(bias), dtype=torch.float32)
                                if bias is not None else torch.zeros(w.shape[0]))
            layers[name] = TimeFolded(lin)
        elif isinstance(node, (nir.IF, nir.LIF, nir.CubaLIF)):
            layers[name] = SpikingNeuron(_spec_from_node(node, dt, extra.get(name)))
        elif isinstance(node, nir.AvgPool2d):
            layers[name] = TimeFolded(nn.AvgPool2d(tuple(np.ravel(node.kernel_size).tolist()),
                                                   tuple(np.ravel(node.stride).tolist())))
        elif isinstance(node, nir.Flatten):
            layers[name] = TimeFolded(nn.Flatten())
        else:
            raise ExportError(f"NIR node {name!r} ({type(node).__name__}) has no PyTorch mapping here")
    return GraphSpikingNet(layers, preds, order, readout, int(meta.get("timesteps", 4)), in_shape)

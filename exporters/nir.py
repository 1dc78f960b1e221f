"""Student <-> NIR graph: our own mapping (float parameters, no batch dimension, time constants in s).

Neuron mapping (Euler step dt, NIR equations as in nir 1.0.8):
- leak-factor LIF  h = leak*v + x   ->  nir.LIF(tau = dt/(1-leak), r = 1/(1-leak), v_leak = 0)
- IF               h = v + x        ->  nir.IF(r = 1/dt)
- Norse CUBA LIF                    ->  nir.CubaLIF(tau_syn = 1/tau_syn_inv, tau_mem = 1/tau_mem_inv,
                                        r = 1, w_in = 1/(dt*tau_syn_inv))  (Norse's current jump)
The readout (linear, averaged over T) is the last Affine before the Output node; graph metadata
holds dt, timesteps, readout = "mean_over_time" and the neuron details NIR cannot carry.
"""

from __future__ import annotations

import json
from itertools import pairwise
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from exporters.errors import ExportError
from snn2hw.models.spiking import SpikingNet
from snn2hw.neurons import NeuronSpec, SpikingNeuron, TimeFolded

FORMAT = "snn2hw-nir-1"


def _np(t: torch.Tensor) -> np.ndarray:
    return t.detach().cpu().numpy().astype(np.float32)


def fold_bn(lin: nn.Module, bn: nn.BatchNorm2d | nn.BatchNorm1d) -> tuple[np.ndarray, np.ndarray]:
    """Weights and bias of `lin` followed by eval-mode BN, folded into one affine map."""
    scale = bn.weight.detach() / torch.sqrt(bn.running_var + bn.eps)
    w = lin.weight.detach() * scale.reshape(-1, *([1] * (lin.weight.dim() - 1)))
    b = lin.bias.detach() if lin.bias is not None else torch.zeros_like(bn.running_mean)
    b = (b - bn.running_mean) * scale + bn.bias.detach()
    return _np(w), _np(b)


def neuron_node(spec: NeuronSpec, shape: tuple[int, ...], name: str):
    """One SpikingNeuron as a NIR neuron node over `shape` (no batch dim)."""
    import nir

    if spec.reset != "hard":
        raise ExportError(
            f"layer {name!r}: soft reset (reset by subtraction) has no NIR/Loihi equivalent here; "
            "train the student with reset='hard' (v_reset=0)"
        )
    full = lambda v: np.full(shape, v, dtype=np.float32)
    if spec.kind == "if" or (spec.kind == "lif" and spec.leak == 1.0):
        return nir.IF(r=full(1.0 / spec.dt), v_threshold=full(spec.v_th), v_reset=full(spec.v_reset))
    if spec.kind == "lif":
        if not 0.0 <= spec.leak < 1.0:
            raise ExportError(f"layer {name!r}: leak {spec.leak} must be in [0, 1] for export")
        return nir.LIF(
            tau=full(spec.dt / (1.0 - spec.leak)), r=full(1.0 / (1.0 - spec.leak)),
            v_leak=full(0.0), v_threshold=full(spec.v_th), v_reset=full(spec.v_reset),
        )
    return nir.CubaLIF(
        tau_syn=full(1.0 / spec.tau_syn_inv), tau_mem=full(1.0 / spec.tau_mem_inv), r=full(1.0),
        v_leak=full(0.0), v_threshold=full(spec.v_th), v_reset=full(spec.v_reset),
        w_in=full(1.0 / (spec.dt * spec.tau_syn_inv)),
    )


def _unwrap(m: nn.Module) -> nn.Module:
    return m.layer if isinstance(m, TimeFolded) else m


def student_to_nir(model: SpikingNet):
    """The student as a sequential nir.NIRGraph (float parameters, shapes without batch dim)."""
    import nir

    if not isinstance(model, SpikingNet):
        raise ExportError(
            f"only SpikingNet students can be exported, got {type(model).__name__}; build the "
            "student from snn2hw.models"
        )
    model = model.eval()
    shape = tuple(model.in_shape)
    nodes: dict[str, Any] = {"input": nir.Input(input_type=np.array(shape))}
    order = ["input"]
    neurons: dict[str, dict] = {}
    dt = None
    children = flat_children(model.body)
    x = torch.zeros(1, *shape)
    i = 0
    while i < len(children):
        name, mod = children[i]
        inner = _unwrap(mod)
        nxt = _unwrap(children[i + 1][1]) if i + 1 < len(children) else None
        if isinstance(inner, (nn.Conv2d, nn.Linear)):
            if isinstance(nxt, (nn.BatchNorm2d, nn.BatchNorm1d)):
                w, b = fold_bn(inner, nxt)
                i += 1
            else:
                w = _np(inner.weight)
                b = _np(inner.bias) if inner.bias is not None else np.zeros(w.shape[0], np.float32)
            if isinstance(inner, nn.Conv2d):
                if inner.padding_mode != "zeros" or isinstance(inner.padding, str):
                    raise ExportError(f"layer {name!r}: use integer zero padding for export")
                node = nir.Conv2d(
                    input_shape=np.array(shape[1:]), weight=w, stride=np.array(inner.stride),
                    padding=np.array(inner.padding), dilation=np.array(inner.dilation),
                    groups=inner.groups, bias=b,
                )
            else:
                node = nir.Affine(weight=w, bias=b)
        elif isinstance(inner, SpikingNeuron):
            node = neuron_node(inner.spec, shape, name)
            neurons[name] = inner.spec.to_dict()
            dt = inner.spec.dt if dt is None else dt
        elif isinstance(inner, nn.AdaptiveAvgPool2d):
            k = global_pool_kernel(name, inner, shape)
            if k == (1, 1):  # pooling a 1x1 map: the identity, no node
                i += 1
                continue
            node = nir.AvgPool2d(kernel_size=np.array(k), stride=np.array(k),
                                 padding=np.zeros(2, dtype=int))
        elif isinstance(inner, nn.AvgPool2d):
            if inner.padding not in (0, (0, 0)) or inner.ceil_mode:
                raise ExportError(f"layer {name!r}: average pooling with padding/ceil_mode cannot be "
                                  "lowered; use AvgPool2d(k) without padding")
            k = np.broadcast_to(np.array(inner.kernel_size), (2,)).copy()
            s = np.broadcast_to(np.array(inner.stride or inner.kernel_size), (2,)).copy()
            node = nir.AvgPool2d(kernel_size=k, stride=s, padding=np.zeros(2, dtype=int))
        elif isinstance(inner, nn.Flatten):
            node = nir.Flatten(input_type={"input": np.array(shape)}, start_dim=0, end_dim=-1)
        else:
            raise ExportError(unsupported_message(name, inner))
        with torch.no_grad():
            x = inner(x) if not isinstance(inner, SpikingNeuron) else x
        shape = tuple(x.shape[1:])
        nodes[name] = node
        order.append(name)
        i += 1
    ro = _unwrap(model.readout)
    if not isinstance(ro, nn.Linear):
        raise ExportError(unsupported_message("readout", ro))
    w_ro = _np(ro.weight)
    b_ro = _np(ro.bias) if ro.bias is not None else np.zeros(ro.out_features, np.float32)
    if isinstance(nodes[order[-1]], nir.Affine):  # fc head without a neuron: fold into the readout
        last = nodes.pop(order.pop())
        w_ro, b_ro = fold_trailing_linear(w_ro, b_ro, last.weight, last.bias)
    nodes["readout"] = nir.Affine(weight=w_ro, bias=b_ro)
    nodes["output"] = nir.Output(output_type=np.array([ro.out_features]))
    order += ["readout", "output"]
    edges = list(pairwise(order))
    meta = {
        "format": FORMAT, "dt": float(dt or 1e-3), "timesteps": int(model.timesteps),
        "in_shape": list(model.in_shape), "readout": "mean_over_time",
        "feature_taps": list(model.feature_taps), "neurons": json.dumps(neurons),
    }
    return nir.NIRGraph(nodes=nodes, edges=edges, metadata=meta)


def flat_children(seq: nn.Module, prefix: str = "") -> list[tuple[str, nn.Module]]:
    """The modules of a body with nested nn.Sequential stages inlined (dotted names: stage1.conv0)."""
    out: list[tuple[str, nn.Module]] = []
    for name, mod in seq.named_children():
        if type(mod) is nn.Sequential:
            out += flat_children(mod, f"{prefix}{name}.")
        else:
            out.append((f"{prefix}{name}", mod))
    return out


def global_pool_kernel(name: str, mod: nn.AdaptiveAvgPool2d, shape: tuple[int, ...]) -> tuple[int, int]:
    """The AvgPool2d kernel (= stride) that global adaptive average pooling of `shape` amounts to."""
    osz = np.broadcast_to(np.array(mod.output_size, dtype=object), (2,))
    if any(o not in (1, None) for o in osz) or len(shape) != 3:
        raise ExportError(f"layer {name!r}: only global adaptive average pooling (output 1) "
                          "can be exported; use AdaptiveAvgPool2d(1) or AvgPool2d(k)")
    return int(shape[1]), int(shape[2])


def fold_trailing_linear(w_ro: np.ndarray, b_ro: np.ndarray, w: np.ndarray, b: np.ndarray
                         ) -> tuple[np.ndarray, np.ndarray]:
    """readout(fc(x)) with no neuron between them is one linear map: (W_ro W, W_ro b + b_ro)."""
    w64, b64 = np.asarray(w, np.float64), np.asarray(b, np.float64)
    wr = np.asarray(w_ro, np.float64)
    return (wr @ w64).astype(np.float32), (wr @ b64 + np.asarray(b_ro, np.float64)).astype(np.float32)


def unsupported_message(name: str, mod: nn.Module) -> str:
    """Why a layer cannot go to Loihi/netx and what to use instead."""
    kind = type(mod).__name__
    hint = {
        "MaxPool2d": ("Loihi has no max pooling: replace max pooling with nn.AvgPool2d of the "
                      "same kernel (lowered to a strided convolution) and distill again; every "
                      "student architecture in snn2hw.models already pools by averaging"),
        "BatchNorm2d": "put BN directly after a conv/linear layer so it can be folded, or drop it",
        "BatchNorm1d": "put BN directly after a linear layer so it can be folded, or drop it",
        "ReLU": ("Loihi neurons spike: an analog ReLU activation has no on-chip equivalent; "
                 "replace it with a SpikingNeuron (for resnet19-ckdsnn, whose last block ends in "
                 "a ReLU as in the CKDSNN code, distill --student-arch resnet19-tet: the same "
                 "3-3-2 ResNet-19 with a spiking last block) and distill again"),
    }.get(kind, "Loihi/netx runs only feed-forward chains of conv, linear, average pooling, "
          "flatten and spiking neurons: no residual adds, concatenation or other layers; rewrite "
          "the student without it")
    return f"layer {name!r} ({kind}) cannot be exported to NIR/Loihi: {hint}"


def chain(graph) -> list[tuple[str, Any]]:
    """The graph's nodes in order from Input to Output; error if it is not a simple chain."""
    import nir

    succ: dict[str, list[str]] = {}
    pred: dict[str, int] = {}
    for a, b in graph.edges:
        succ.setdefault(a, []).append(b)
        pred[b] = pred.get(b, 0) + 1
    starts = [n for n, v in graph.nodes.items() if isinstance(v, nir.Input)]
    if len(starts) != 1:
        raise ExportError(f"the NIR graph must have exactly one Input node, found {len(starts)}")
    out, cur = [], starts[0]
    while True:
        out.append((cur, graph.nodes[cur]))
        nxt = succ.get(cur, [])
        if not nxt:
            break
        if len(nxt) > 1 or pred.get(nxt[0], 0) > 1:
            raise ExportError(
                f"node {cur!r} branches or merges (residual add / concat); Loihi/netx needs a "
                "feed-forward chain, rewrite the network without skip connections"
            )
        cur = nxt[0]
    return out


def _spec_from_node(node, dt: float, extra: dict | None) -> NeuronSpec:
    """NeuronSpec of a neuron node written by snn2hw itself (gain 1, no v_leak; nir_graph.py)."""
    import nir

    base = dict(extra or {})
    v_th = float(np.ravel(node.v_threshold)[0])
    v_reset = float(np.ravel(node.v_reset)[0]) if node.v_reset is not None else 0.0
    if isinstance(node, nir.IF):
        base.update(kind="if", leak=1.0)
    elif isinstance(node, nir.LIF):
        base.update(kind="lif", leak=float(1.0 - dt / np.ravel(node.tau)[0]))
    elif isinstance(node, nir.CubaLIF):
        base.update(kind="cuba", tau_syn_inv=float(1.0 / np.ravel(node.tau_syn)[0]),
                    tau_mem_inv=float(1.0 / np.ravel(node.tau_mem)[0]))
    base.update(v_th=v_th, v_reset=v_reset, dt=dt, reset="hard")
    fields = set(NeuronSpec.__dataclass_fields__)
    return NeuronSpec(**{k: v for k, v in base.items() if k in fields})


def neuron_from_node(name: str, node, dt: float, extra: dict | None) -> tuple[NeuronSpec, float, Any]:
    """A NeuronSpec for a NIR neuron node at step dt, plus the input gain and the constant drive
    (a * v_leak) that NIR's equations add and snn2hw's neurons lack: both are folded into the
    synapse before the neuron. Parameters outside what the neuron can hold are an ExportError."""
    import nir

    from exporters.nir_import import _rate, uniform

    base = dict(extra or {})
    v_th = uniform(name, node, "v_threshold")
    v_reset = uniform(name, node, "v_reset", default=0.0)
    drive: Any = 0.0
    if isinstance(node, nir.IF):
        base.update(kind="if", leak=1.0)
        gain = dt * uniform(name, node, "r")
    elif isinstance(node, nir.LIF):
        a = _rate(name, node, "tau", dt, "euler")
        base.update(kind="lif", leak=float(1.0 - a))
        gain = a * uniform(name, node, "r")
        drive = a * np.asarray(node.v_leak, np.float64)
    else:  # CubaLIF: snn2hw's cuba neuron is Norse's current jump (w_in a_s r = 1)
        a_s = _rate(name, node, "tau_syn", dt, "euler")
        a_m = _rate(name, node, "tau_mem", dt, "euler")
        if np.any(np.asarray(node.v_leak)):
            raise ExportError(f"NIR node {name!r} (CubaLIF): v_leak != 0 cannot be held by snn2hw's "
                              "current-based neuron; use v_leak = 0")
        base.update(kind="cuba", tau_syn_inv=float(a_s / dt), tau_mem_inv=float(a_m / dt))
        gain = a_s * uniform(name, node, "w_in", default=1.0) * uniform(name, node, "r")
    base.update(v_th=v_th, v_reset=v_reset, dt=dt, reset="hard")
    fields = set(NeuronSpec.__dataclass_fields__)
    return NeuronSpec(**{k: v for k, v in base.items() if k in fields}), float(gain), drive


def _fold_gain(body: nn.Sequential, name: str, gain: float, drive) -> None:
    """Scale the synapse right before neuron `name` by gain and add the leak drive to its bias."""
    if gain == 1.0 and not np.any(drive):
        return
    mods = list(body.named_children())
    last = _unwrap(mods[-1][1]) if mods else None
    if not isinstance(last, (nn.Conv2d, nn.Linear)):
        raise ExportError(f"NIR node {name!r}: its input gain (r, dt/tau) {gain:.6g} or v_leak can "
                          "only be folded into a Conv2d/Affine node right before it")
    with torch.no_grad():
        last.weight.mul_(gain)
        d = torch.as_tensor(np.asarray(drive, np.float64), dtype=torch.float32)
        if isinstance(last, nn.Conv2d) and d.dim() == 3:
            if not torch.allclose(d, d[:, :1, :1].expand_as(d)):
                raise ExportError(f"NIR node {name!r}: v_leak differs within a channel; a conv "
                                  "bias is per channel")
            d = d[:, 0, 0]
        last.bias.mul_(gain).add_(d.expand_as(last.bias) if d.numel() in (1, last.bias.numel())
                                  and d.dim() <= 1 else d.reshape(last.bias.shape))


def nir_to_student(graph, dt: float | None = None) -> SpikingNet:
    """Rebuild a runnable SpikingNet from a sequential NIR graph, with NIR's equations at step dt.

    dt: the graph's snn2hw metadata dt, else this argument (neither: an ExportError naming the
    fix). r, v_leak and w_in are folded into the synapse before each neuron; a leak dt/tau outside
    (0, 1] is refused. The readout is a last Affine directly before the Output; a graph that ends
    in a spiking layer keeps its order and reads out the spike rate (readout = identity).
    Spikes fire at v >= v_th (snn2hw's neurons) where NIR says v > v_th: equal unless a voltage
    lands exactly on the threshold.
    """
    import nir

    from exporters.nir_import import graph_dt

    meta = dict(graph.metadata or {})
    dt = graph_dt(graph, dt)
    extra = json.loads(meta["neurons"]) if isinstance(meta.get("neurons"), str) else {}
    nodes = chain(graph)
    in_shape = tuple(int(v) for v in np.ravel(nodes[0][1].input_type["input"]))
    body = nn.Sequential()
    readout_name = nodes[-2][0] if len(nodes) > 2 and isinstance(nodes[-2][1], (nir.Affine, nir.Linear)) \
        and isinstance(nodes[-1][1], nir.Output) else None
    readout: nn.Module = nn.Identity()
    for name, node in nodes[1:]:
        if isinstance(node, nir.Output):
            continue
        if isinstance(node, nir.Conv2d):
            w = torch.tensor(np.asarray(node.weight), dtype=torch.float32)
            conv = nn.Conv2d(w.shape[1] * int(node.groups), w.shape[0], tuple(w.shape[2:]),
                             stride=tuple(np.broadcast_to(node.stride, 2).tolist()),
                             padding=tuple(np.broadcast_to(node.padding, 2).tolist()),
                             dilation=tuple(np.broadcast_to(node.dilation, 2).tolist()),
                             groups=int(node.groups))
            conv.weight.data.copy_(w)
            b = np.zeros(w.shape[0]) if node.bias is None else np.asarray(node.bias)
            conv.bias.data.copy_(torch.tensor(b, dtype=torch.float32))
            body.add_module(name.replace(".", "_"), TimeFolded(conv))
        elif isinstance(node, (nir.Affine, nir.Linear)):
            w = torch.tensor(np.asarray(node.weight), dtype=torch.float32)
            lin = nn.Linear(w.shape[1], w.shape[0])
            lin.weight.data.copy_(w)
            b = getattr(node, "bias", None)
            lin.bias.data.copy_(torch.tensor(np.asarray(b), dtype=torch.float32) if b is not None
                                else torch.zeros(w.shape[0]))
            if name == readout_name:
                readout = lin
            else:
                body.add_module(name.replace(".", "_"), TimeFolded(lin))
        elif isinstance(node, (nir.IF, nir.LIF, nir.CubaLIF)):
            spec, gain, drive = neuron_from_node(name, node, dt, extra.get(name))
            _fold_gain(body, name, gain, drive)
            body.add_module(name.replace(".", "_"), SpikingNeuron(spec))
        elif isinstance(node, (nir.AvgPool2d, nir.SumPool2d)):
            body.add_module(name.replace(".", "_"), TimeFolded(nn.AvgPool2d(
                tuple(np.broadcast_to(np.ravel(node.kernel_size), 2).tolist()),
                tuple(np.broadcast_to(np.ravel(node.stride), 2).tolist()),
                tuple(np.broadcast_to(np.ravel(node.padding), 2).tolist()),
                divisor_override=1 if isinstance(node, nir.SumPool2d) else None)))
        elif isinstance(node, nir.Flatten):
            body.add_module(name.replace(".", "_"), TimeFolded(nn.Flatten()))
        else:
            raise ExportError(f"NIR node {name!r} ({type(node).__name__}) has no PyTorch mapping "
                              "here (the float interpreter exporters.nir_sim runs every NIR node)")
    names = dict(body.named_children())
    taps = tuple(t.decode() if isinstance(t, bytes) else str(t) for t in meta.get("feature_taps", []))
    taps = tuple(t for t in taps if t in names)
    return SpikingNet(body, readout, timesteps=int(meta.get("timesteps", 4)), in_shape=in_shape,
                      feature_taps=taps)


def write_nir(path: Path, graph) -> None:
    """nir.write to a temp file, then rename (atomic)."""
    import nir

    from snn2hw.fileio import atomic_write_with

    atomic_write_with(path, lambda tmp: nir.write(str(tmp), graph), what="NIR file")


def read_nir(path: Path):
    """nir.read with a clear error for a missing or corrupt file."""
    import nir

    try:
        return nir.read(str(path))
    except Exception as e:  # noqa: BLE001 - h5py/nir raise many types
        from exporters.errors import SimulationError

        raise SimulationError(f"cannot read NIR file {path}: {e}; re-run `snn2hw export`") from None

"""Float reference interpreter of a NIR graph at step dt: NIR's equations, one explicit step per dt.

Per step t every node is evaluated in topological order (edges carry no delay, as in the peer
libraries' feed-forward runs); a node's input is the sum of its sources' outputs (fan-in sums).
Neurons, with a = dt/tau ("euler") or a = 1 - exp(-dt/tau) ("exact", zero-order hold: sinabs):

    LIF      v <- v + a (v_leak - v) + a r x          spike z = v > v_threshold, then v <- v_reset
    IF       v <- v + dt r x                          (same spike and reset)
    LI       v <- v + a (v_leak - v) + a r x          output v (no spike)
    Integrator v <- v + dt r x                        output v
    CubaLIF  I <- I + a_s (w_in x - I);  v <- v + a_m (v_leak - v) + a_m r I   (the new I), spike
    CubaLI   the same without spike, output v
    Threshold z = x > threshold;  Scale x * scale;  Affine W x + b;  Linear W x;  Conv2d, Conv1d,
    AvgPool2d, SumPool2d, Flatten (dims without the batch dim), Input, Output (identity).

Everything runs in float64 on a leading batch dim; `simulate` returns every node's output per step.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from exporters.errors import ExportError

NEURONS = ("LIF", "IF", "LI", "Integrator", "CubaLIF", "CubaLI")
STATELESS = ("Affine", "Linear", "Conv1d", "Conv2d", "AvgPool2d", "SumPool2d", "Flatten", "Scale",
             "Threshold", "Input", "Output")
DISCRETIZATIONS = ("euler", "exact")


def topo_order(graph) -> list[str]:
    """Node names in an order where every edge goes forward; a cycle is an error naming a node."""
    preds = {n: [] for n in graph.nodes}
    succ = {n: [] for n in graph.nodes}
    for a, b in graph.edges:
        for n in (a, b):
            if n not in graph.nodes:
                raise ExportError(f"NIR edge {a!r} -> {b!r} names a node {n!r} the graph lacks; "
                                  "the file is damaged, export it again")
        preds[b].append(a)
        succ[a].append(b)
    indeg = {n: len(p) for n, p in preds.items()}
    ready = sorted(n for n, d in indeg.items() if d == 0)
    out: list[str] = []
    while ready:
        n = ready.pop(0)
        out.append(n)
        for m in succ[n]:
            indeg[m] -= 1
            if indeg[m] == 0:
                ready.append(m)
    if len(out) != len(graph.nodes):
        stuck = sorted(n for n in graph.nodes if n not in out)
        raise ExportError(f"the NIR graph has a cycle (recurrent connection) through node "
                          f"{stuck[0]!r}; recurrent graphs are not supported, unroll or remove it")
    return out


def predecessors(graph) -> dict[str, list[str]]:
    """Sources of every node (in edge order)."""
    p: dict[str, list[str]] = {n: [] for n in graph.nodes}
    for a, b in graph.edges:
        p[b].append(a)
    return p


def _t(v) -> torch.Tensor:
    return torch.as_tensor(np.asarray(v, dtype=np.float64))


def _pair(v) -> tuple[int, int]:
    a = np.asarray(v).ravel()
    a = np.broadcast_to(a, (2,)) if a.size in (1, 2) else a
    return int(a[0]), int(a[1])


def decay_rate(tau, dt: float, discretization: str) -> torch.Tensor:
    """Per-step fraction a of the way to the target: dt/tau (Euler) or 1 - exp(-dt/tau) (exact)."""
    tau = _t(tau)
    return dt / tau if discretization == "euler" else 1.0 - torch.exp(-dt / tau)


def kind(node) -> str:
    """The NIR class name of a node."""
    return type(node).__name__


def _flatten(x: torch.Tensor, node) -> torch.Tensor:
    nd = x.dim() - 1
    s = int(node.start_dim) % nd + 1
    e = int(node.end_dim) % nd + 1
    return x.flatten(s, e)


def stateless(node, x: torch.Tensor) -> torch.Tensor:
    """Output of a node without state for input x [B, ...]."""
    k = kind(node)
    if k in ("Input", "Output"):
        return x
    if k == "Affine":
        return x @ _t(node.weight).T + _t(node.bias)
    if k == "Linear":
        return x @ _t(node.weight).T
    if k == "Scale":
        return x * _t(node.scale)
    if k == "Threshold":
        return (x > _t(node.threshold)).double()
    if k == "Flatten":
        return _flatten(x, node)
    if k in ("Conv2d", "Conv1d"):
        conv = F.conv2d if k == "Conv2d" else F.conv1d
        pad = node.padding
        if isinstance(pad, str):
            raise ExportError(f"NIR conv padding {pad!r} is not supported; use integer padding")
        pad = _pair(pad) if k == "Conv2d" else int(np.ravel(pad)[0])
        stride = _pair(node.stride) if k == "Conv2d" else int(np.ravel(node.stride)[0])
        dil = _pair(node.dilation) if k == "Conv2d" else int(np.ravel(node.dilation)[0])
        b = None if node.bias is None else _t(node.bias)
        return conv(x, _t(node.weight), b, stride=stride, padding=pad, dilation=dil,
                    groups=int(node.groups))
    if k in ("AvgPool2d", "SumPool2d"):
        kk, s, p = _pair(node.kernel_size), _pair(node.stride), _pair(node.padding)
        y = F.avg_pool2d(x, kk, s, p, count_include_pad=True)
        return y * (kk[0] * kk[1]) if k == "SumPool2d" else y
    raise ExportError(f"NIR node type {k} has no float interpretation here")


def neuron_step(node, x: torch.Tensor, state: dict[str, torch.Tensor], dt: float,
                discretization: str) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """One dt step of a neuron node: (output, new state). State holds 'v' (and 'i' for Cuba)."""
    k = kind(node)
    v = state["v"]
    if k in ("IF", "Integrator"):
        v = v + dt * _t(node.r) * x
    elif k in ("LIF", "LI"):
        a = decay_rate(node.tau, dt, discretization)
        v = v + a * (_t(node.v_leak) - v) + a * _t(node.r) * x
    else:  # CubaLIF, CubaLI
        a_s = decay_rate(node.tau_syn, dt, discretization)
        a_m = decay_rate(node.tau_mem, dt, discretization)
        i = state["i"] + a_s * (_t(node.w_in) * x - state["i"])
        v = v + a_m * (_t(node.v_leak) - v) + a_m * _t(node.r) * i
        state = {**state, "i": i}
    if k in ("LI", "Integrator", "CubaLI"):
        return v, {**state, "v": v}
    z = v > _t(node.v_threshold)
    reset = _t(node.v_reset) if getattr(node, "v_reset", None) is not None else torch.zeros(())
    return z.double(), {**state, "v": torch.where(z, reset.expand_as(v), v), "v_pre": v}


@dataclass
class SimResult:
    """Every node's output per step [T, B, ...] and the neurons' voltages (before reset)."""

    outputs: dict[str, torch.Tensor]
    voltages: dict[str, torch.Tensor]
    output_node: str

    @property
    def output(self) -> torch.Tensor:
        return self.outputs[self.output_node]


def output_node(graph) -> str:
    """The single Output node's name (error if there is not exactly one)."""
    outs = [n for n, v in graph.nodes.items() if kind(v) == "Output"]
    if len(outs) != 1:
        raise ExportError(f"the NIR graph must have exactly one Output node, found {len(outs)}")
    return outs[0]


def input_node(graph) -> str:
    """The single Input node's name (error if there is not exactly one)."""
    ins = [n for n, v in graph.nodes.items() if kind(v) == "Input"]
    if len(ins) != 1:
        raise ExportError(f"the NIR graph must have exactly one Input node, found {len(ins)}")
    return ins[0]


@torch.no_grad()
def simulate(graph, x: Any, dt: float, *, discretization: str = "euler") -> SimResult:
    """Run the graph on input x [T, B, *in_shape] at step dt; all states start at 0."""
    if discretization not in DISCRETIZATIONS:
        raise ExportError(f"unknown discretization {discretization!r}; use euler or exact")
    order = topo_order(graph)
    preds = predecessors(graph)
    src, dst = input_node(graph), output_node(graph)
    x = torch.as_tensor(np.array(x, dtype=np.float64))
    steps = x.shape[0]
    state: dict[str, dict] = {}
    rec: dict[str, list] = {n: [] for n in order}
    vrec: dict[str, list] = {}
    for t in range(steps):
        out: dict[str, torch.Tensor] = {}
        for n in order:
            node = graph.nodes[n]
            if n == src:
                inp = x[t]
            else:
                if not preds[n]:
                    raise ExportError(f"NIR node {n!r} has no input edge; the graph is damaged")
                inp = out[preds[n][0]]
                for p in preds[n][1:]:
                    inp = inp + out[p]
            k = kind(node)
            if k in NEURONS:
                st = state.get(n) or {"v": torch.zeros_like(inp), "i": torch.zeros_like(inp)}
                y, state[n] = neuron_step(node, inp, st, dt, discretization)
                vrec.setdefault(n, []).append(state[n].get("v_pre", state[n]["v"]))
            elif k in STATELESS:
                y = stateless(node, inp)
            else:
                raise ExportError(f"NIR node {n!r} ({k}) has no float interpretation here "
                                  f"(supported: {', '.join(NEURONS + STATELESS)})")
            out[n] = y
            rec[n].append(y)
    return SimResult({n: torch.stack(r) for n, r in rec.items()},
                     {n: torch.stack(r) for n, r in vrec.items()}, dst)

"""NIR graph (residual students) -> Loihi populations and synapses in fixed point.

Lowering: every neuron node is a population; every Conv2d/Affine node a synapse from the
population it reads (average pooling and flatten in between folded into it, as in
exporters/quantize.py) to the population it feeds; a direct neuron -> neuron edge (identity
shortcut) becomes an identity synapse (1x1 conv with weight 1 per channel). The last Affine
before the Output is the readout population of non-spiking integrators.

Timing: every synapse costs one step, so a population's depth is 1 + the deepest source;
a synapse from a shallower source waits `delay = depth(dst) - depth(src) - 1` extra steps
(synaptic delay), which aligns the branches of a residual block: input of step t reaches a
population of depth D at step t + D from every branch.

Fixed point: one scale lambda per population, shared by all synapses that feed it (their
currents add on the same neuron, so they must be in the same units):
    w_int = 2*round(lambda*g*W / (2*s_in)),  bias = round(lambda*g*sum of branch biases),
    vThMant = round(lambda*v_th); lambda is the largest value meeting every synapse's weight range,
    the summed bias, the summed worst-case input (< 2^17) and the threshold (or readout voltage).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from exporters.errors import ExportError
from exporters.quantize import (
    A_IN_MAX,
    BIAS_MAX,
    BIAS_MIN,
    DECAY_ONE,
    READOUT_V_MAX,
    VTH_MAX,
    W_MAX,
    W_MIN,
    _fuse_pool_conv,
    _fuse_pool_dense,
    _limit,
    _pair,
    _rel,
    neuron_params,
)

FORMAT = "snn2hw-loihi-graph-1"


@dataclass
class Synapse:
    """One synapse layer (float before quantization, int after): src population -> dst population."""

    name: str
    src: str
    dst: str
    kind: str  # "conv" | "dense"
    weight: np.ndarray
    bias: np.ndarray
    in_shape: tuple[int, ...]
    out_shape: tuple[int, ...]
    stride: tuple[int, int] = (1, 1)
    padding: tuple[int, int] = (0, 0)
    dilation: tuple[int, int] = (1, 1)
    groups: int = 1
    flatten_before: bool = False
    sources: list[str] = field(default_factory=list)
    delay: int = 0
    identity: bool = False


@dataclass
class Population:
    """One neuron population (CUBA on Loihi); depth = steps from the input to its first input."""

    name: str
    shape: tuple[int, ...]
    neuron: str  # "input" | "lif" | "if" | "cuba" | "readout"
    v_th: float = 0.0
    gain: float = 1.0
    i_decay: int = DECAY_ONE
    v_decay: int = 0
    depth: int = 0


@dataclass
class QuantPopulation:
    """A population in Loihi integers: bias per channel, threshold, decays, its shared scale."""

    pop: Population
    bias: np.ndarray  # int, per channel (first dim of shape)
    v_th_mant: int
    scale: float
    limited_by: str
    bias_rel_error: float
    threshold_rel_error: float


@dataclass
class QuantSynapse:
    """A synapse in Loihi integers (weights even, in [-256, 254]) and what rounding cost."""

    syn: Synapse
    weight: np.ndarray  # int64
    in_scale: float
    clipped_fraction: float
    weight_rel_error: float


@dataclass
class QuantGraph:
    """A whole graph network in Loihi fixed point (what the graph artefact file holds)."""

    populations: list[QuantPopulation]  # topological order, without the input
    synapses: list[QuantSynapse]
    in_shape: tuple[int, ...]
    timesteps: int
    input_scale: float
    input_max: int
    input_message_bits: int
    num_classes: int
    readout_kind: str = "voltage"  # "voltage": non-spiking last population; "spikes": spiking one

    @property
    def readout(self) -> QuantPopulation:
        return self.populations[-1]

    @property
    def latency_steps(self) -> int:
        """Steps from the first input to the last readout update: T + depth of the readout."""
        return self.timesteps + self.readout.pop.depth

    def incoming(self, pop: str) -> list[QuantSynapse]:
        return [s for s in self.synapses if s.syn.dst == pop]

    def report(self) -> dict[str, Any]:
        """quantization.json for a graph: per population and per edge."""
        pops = []
        for qp in self.populations:
            p, ins = qp.pop, self.incoming(qp.pop.name)
            pops.append({
                "name": p.name, "neuron": p.neuron, "shape": list(p.shape), "depth": p.depth,
                "neurons": int(np.prod(p.shape)), "scale": qp.scale, "scale_limited_by": qp.limited_by,
                "v_th_float": p.v_th, "v_th_mant": qp.v_th_mant, "gain": p.gain,
                "i_decay": p.i_decay, "v_decay": p.v_decay,
                "bias_range_used": [int(qp.bias.min()), int(qp.bias.max())],
                "bias_rel_error": qp.bias_rel_error, "threshold_rel_error": qp.threshold_rel_error,
                "fan_in_synapses": [s.syn.name for s in ins],
                "fan_in_max": int(sum(_fan_in(s) for s in ins)),
                "synapses": int(sum(_wired(s) for s in ins)),
            })
        edges = [{
            "name": s.syn.name, "src": s.syn.src, "dst": s.syn.dst, "kind": s.syn.kind,
            "nir_nodes": s.syn.sources, "identity": s.syn.identity,
            "in_shape": list(s.syn.in_shape), "out_shape": list(s.syn.out_shape),
            "stride": list(s.syn.stride), "padding": list(s.syn.padding),
            "synaptic_delay_steps": 1 + s.syn.delay, "extra_delay_steps": s.syn.delay,
            "input_scale": s.in_scale, "weight_range_allowed": [W_MIN, W_MAX],
            "weight_range_used": [int(s.weight.min()), int(s.weight.max())],
            "clipped_fraction": s.clipped_fraction, "weight_rel_rms_error": s.weight_rel_error,
        } for s in self.synapses]
        return {
            "format": FORMAT, "target": "loihi (CUBA fixed point, graph of populations)",
            "timesteps": self.timesteps, "input_encoding": "graded spikes (direct encoding)",
            "input_scale": self.input_scale, "input_max": self.input_max,
            "input_message_bits": self.input_message_bits, "latency_steps": self.latency_steps,
            "readout": ("voltage of non-spiking integrators after T valid steps; logits = v / (64 * "
                        "scale * T)") if self.readout_kind == "voltage" else
                       "spikes of the last (spiking) population, counted over its T valid steps",
            "readout_kind": self.readout_kind,
            "populations": pops, "edges": edges,
        }


def _fan_in(s: QuantSynapse) -> int:
    w = s.weight
    return int(np.count_nonzero(w.reshape(w.shape[0], -1), axis=1).max()) if w.size else 0


def _wired(s: QuantSynapse) -> int:
    """Non-zero connections actually wired (conv: kernel non-zeros times output positions)."""
    w = s.weight
    if s.syn.kind == "conv":
        return int(np.count_nonzero(w) * s.syn.out_shape[1] * s.syn.out_shape[2])
    return int(np.count_nonzero(w))


def _identity(src: Population, dst: str) -> Synapse:
    c = src.shape[0]
    if len(src.shape) == 3:
        w = np.eye(c)[:, :, None, None]
        return Synapse(f"{dst}<-{src.name}", src.name, dst, "conv", w, np.zeros(c), src.shape,
                       src.shape, identity=True)
    return Synapse(f"{dst}<-{src.name}", src.name, dst, "dense", np.eye(c), np.zeros(c),
                   src.shape, src.shape, identity=True)


def lower_graph(graph) -> tuple[list[Population], list[Synapse]]:
    """Populations (input first, topological order) and synapses with their alignment delays."""
    import nir
    import torch

    from exporters.nir_graph import predecessors, topo_order

    dt = float((graph.metadata or {}).get("dt", 1e-3))
    preds = predecessors(graph)
    succ: dict[str, int] = {}
    for a, _ in graph.edges:
        succ[a] = succ.get(a, 0) + 1
    pops: dict[str, Population] = {}
    syns: list[Synapse] = []
    # value of a node: ("pop", population, pool (name, k) | None, flatten) or ("syn", Synapse)
    val: dict[str, tuple] = {}
    for name in topo_order(graph):
        node = graph.nodes[name]
        ps = preds[name]
        if isinstance(node, nir.Input):
            shape = tuple(int(v) for v in np.ravel(node.input_type["input"]))
            pops[name] = Population(name, shape, "input")
            val[name] = ("pop", pops[name], None, False)
            continue
        if isinstance(node, (nir.IF, nir.LIF, nir.CubaLIF, nir.Output)):
            readout = isinstance(node, nir.Output)
            pname = "readout" if readout else name
            ins = []
            for p in ps:
                v = val[p]
                if v[0] == "syn":
                    if v[1].dst:
                        raise ExportError(f"synapse {p!r} feeds two populations; give each its own layer")
                    ins.append(v[1])
                elif v[2] is None and not v[3] and not readout:
                    ins.append(_identity(v[1], pname))
                    syns.append(ins[-1])
                else:
                    raise ExportError(f"node {name!r} is fed by {p!r} through pooling/flatten "
                                      "without a conv/linear layer; Loihi neurons are driven by synapses")
            if not ins:
                raise ExportError(f"neuron {name!r} has no conv/linear layer before it")
            shapes = {s.out_shape for s in ins}
            if len(shapes) != 1:
                raise ExportError(f"the inputs of {name!r} have different shapes {sorted(shapes)}")
            shape = ins[0].out_shape
            if readout:
                if len(ins) != 1 or ins[0].kind != "dense":
                    raise ExportError("the network must end with one linear readout before its Output")
                pop = Population(pname, shape, "readout")
            else:
                p = neuron_params(node, dt)
                pop = Population(pname, shape, p["neuron"], p["v_th"], p["gain"], p["i_decay"],
                                 p["v_decay"])
            pop.depth = 1 + max(pops[s.src].depth for s in ins)
            for s in ins:
                s.dst = pname
                s.delay = pop.depth - pops[s.src].depth - 1
            pops[pname] = pop
            val[name] = ("pop", pop, None, False)
            continue
        if len(ps) != 1:
            raise ExportError(f"node {name!r} ({type(node).__name__}) has {len(ps)} inputs; only "
                              "neurons may sum several branches (put a neuron after the sum)")
        v = val[ps[0]]
        if v[0] != "pop":
            raise ExportError(f"layer {ps[0]!r} is followed by {name!r} ({type(node).__name__}) "
                              "instead of a spiking neuron; Loihi needs a neuron after every "
                              "conv/linear layer except the readout")
        _, src, pool, flat = v
        shape = src.shape if pool is None else (src.shape[0], src.shape[1] // pool[1],
                                                 src.shape[2] // pool[1])
        if isinstance(node, nir.AvgPool2d):
            k, s = _pair(node.kernel_size), _pair(node.stride)
            if k[0] != k[1] or s != k or pool is not None or flat or len(shape) != 3 \
                    or shape[1] % k[0] or shape[2] % k[0]:
                raise ExportError(f"average pooling {name!r} (kernel {k}, stride {s}) on input "
                                  f"{shape} cannot be lowered; use square non-overlapping "
                                  "AvgPool2d(k) on sizes divisible by k")
            val[name] = ("pop", src, (name, k[0]), False)
            continue
        if isinstance(node, nir.Flatten):
            val[name] = ("pop", src, pool, True)
            continue
        if succ.get(name, 0) != 1:
            raise ExportError(f"layer {name!r} must feed exactly one neuron population")
        srcs = [name] if pool is None else [pool[0], name]
        if isinstance(node, nir.Conv2d):
            if flat:
                raise ExportError(f"conv {name!r} after flatten cannot be lowered")
            w = np.asarray(node.weight, dtype=np.float64)
            stride, padding, dil = _pair(node.stride), _pair(node.padding), _pair(node.dilation)
            if pool is not None:
                w, stride, padding = _fuse_pool_conv(pool[1], w, stride, padding, dil)
            out = torch.nn.functional.conv2d(torch.zeros(1, *src.shape), torch.zeros(*w.shape),
                                             stride=stride, padding=padding, dilation=dil,
                                             groups=int(node.groups))
            syn = Synapse(name, src.name, "", "conv", w, np.asarray(node.bias, np.float64),
                          src.shape, tuple(out.shape[1:]), stride, padding, dil,
                          int(node.groups), sources=srcs)
        elif isinstance(node, (nir.Affine, nir.Linear)):
            w = np.asarray(node.weight, dtype=np.float64)
            b = getattr(node, "bias", None)
            b = np.zeros(w.shape[0]) if b is None else np.asarray(b, np.float64)
            if pool is not None:
                if not flat:
                    raise ExportError(f"average pooling {pool[0]!r} must be followed by flatten "
                                      "before a linear layer")
                w = _fuse_pool_dense(pool[1], w, src.shape)
            if int(np.prod(src.shape)) != w.shape[1]:
                raise ExportError(f"layer {name!r} expects {w.shape[1]} inputs, gets {src.shape}")
            syn = Synapse(name, src.name, "", "dense", w, b, src.shape, (w.shape[0],),
                          flatten_before=len(src.shape) > 1, sources=srcs)
        else:
            raise ExportError(f"NIR node {name!r} ({type(node).__name__}) is not supported on Loihi "
                              "(supported: conv, linear, flatten, average pooling, IF/LIF/CUBA "
                              "neurons, sums of branches into a neuron)")
        syns.append(syn)
        val[name] = ("syn", syn)
    if "readout" not in pops:
        raise ExportError("the network must end with a linear readout layer before its Output")
    order = [p for p in pops.values() if p.name != "readout"] + [pops["readout"]]
    return order, syns


def _row_abs_sum(w: np.ndarray) -> np.ndarray:
    return np.abs(w).reshape(w.shape[0], -1).sum(1)


def quantize_graph(graph, *, input_scale: float = 16.0, input_max: float = 1.0) -> QuantGraph:
    """Lower and quantize a NIR graph; input x is sent as round(x * input_scale)."""
    meta = graph.metadata or {}
    pops, syns = lower_graph(graph)
    return quantize_lowered(pops, syns, int(meta.get("timesteps", 4)), input_scale=input_scale,
                            input_max=input_max)


def quantize_lowered(pops: list[Population], syns: list[Synapse], T: int, *,
                     input_scale: float = 16.0, input_max: float = 1.0,
                     readout_kind: str = "voltage") -> QuantGraph:
    """Fixed point of lowered populations (input first, the last is the readout) and synapses.

    Shared by snn2hw's residual students (lower_graph) and foreign NIR graphs
    (exporters/nir_import_graph.py); a spiking last population gives readout_kind "spikes"."""
    in_int_max = int(np.ceil(input_max * input_scale))
    bits = max(1, int(np.ceil(np.log2(in_int_max + 1))))
    qpops: list[QuantPopulation] = []
    qsyns: list[QuantSynapse] = []
    for pop in pops[1:]:
        ins = [s for s in syns if s.dst == pop.name]
        g = pop.gain
        s_in = {id(s): (input_scale if s.src == "input" else 1.0) for s in ins}
        x_max = {id(s): (in_int_max if s.src == "input" else 1.0) for s in ins}
        wmax = [float(np.abs(s.weight).max()) for s in ins]
        if max(wmax) == 0.0:
            raise ExportError(f"population {pop.name!r} gets only all-zero weights: it cannot carry "
                              "any signal; retrain the student or remove the layer")
        cands = {f"weights of {s.name}": _limit(254.0 * s_in[id(s)], g * m)
                 for s, m in zip(ins, wmax)}
        b_tot = sum(s.bias for s in ins)
        bmax = float(np.abs(b_tot).max()) if b_tot.size else 0.0
        cands["bias"] = _limit(BIAS_MAX, g * bmax)
        rs = float(sum(_row_abs_sum(s.weight) * x_max[id(s)] / s_in[id(s)] for s in ins).max())
        cands["accumulator"] = _limit(A_IN_MAX, g * rs * 1.01)
        if pop.neuron == "readout":
            cands["readout_voltage"] = _limit(READOUT_V_MAX, 64.0 * T * g * (rs + bmax) * 1.01)
        elif pop.v_th > 0:
            cands["threshold"] = VTH_MAX / pop.v_th
        else:
            raise ExportError(f"population {pop.name!r}: threshold {pop.v_th} must be > 0 on Loihi")
        key = min(cands, key=cands.get)
        lam = cands[key]
        if not np.isfinite(lam):
            raise ExportError(f"population {pop.name!r}: weights too small to scale into Loihi's "
                              "8-bit range; retrain the student or remove the layer")
        for s in ins:
            target = lam * g * s.weight / s_in[id(s)]
            w = 2.0 * np.round(target / 2.0)
            clipped = float(np.mean((w < W_MIN) | (w > W_MAX)))
            w = np.clip(w, W_MIN, W_MAX).astype(np.int64)
            qsyns.append(QuantSynapse(s, w, s_in[id(s)], clipped, _rel(w - target, target)))
        bt = lam * g * b_tot
        b = np.clip(np.round(bt), BIAS_MIN, BIAS_MAX).astype(np.int64)
        if pop.neuron == "readout":
            vth, th_err = VTH_MAX, 0.0
        else:
            vth = int(np.clip(np.round(lam * pop.v_th), 1, VTH_MAX))
            th_err = abs(vth - lam * pop.v_th) / (lam * pop.v_th)
        qpops.append(QuantPopulation(pop, b, vth, float(lam), key,
                                     _rel(b - bt, bt) if np.any(bt) else 0.0, float(th_err)))
    order = {p.pop.name: i for i, p in enumerate(qpops)}
    qsyns.sort(key=lambda s: order[s.syn.dst])
    return QuantGraph(qpops, qsyns, pops[0].shape, T, float(input_scale), in_int_max, bits,
                      int(np.prod(pops[-1].shape)), readout_kind)

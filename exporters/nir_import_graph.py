"""Foreign NIR DAGs (residual skips: fan-in sums, fan-out branches) -> the graph format (model.graph.h5).

The same NIR equations as the chain import (exporters/nir_import.py: neuron_mapping, the conv and
linear layer builders, the leak drive, every refusal), lowered to the populations and synapses of
exporters/quantize_graph.py and quantized there (quantize_lowered, one scale per population):
  - every neuron node (LIF, IF, CubaLIF, Threshold; a last LI/Integrator/CubaLI) is a population;
  - Conv2d/Affine/Linear (pooling, Flatten before it and a Scale after it folded in, as for
    chains) is a synapse from the population it reads to the neuron it feeds; a linear node fed
    by several populations (NIR sums its inputs) is one synapse per source, the bias on the first;
  - an edge population -> neuron (identity skip) is an identity synapse; a neuron fed by several
    edges sums them (Loihi sums the currents of all synapses into one population);
  - a synapse output feeding two neurons is one synapse per neuron;
  - the readout is the node before Output: a spiking population ("spikes", scores = spike
    counts), a non-spiking LI/Integrator/CubaLI, or an Affine -> Output integrator ("voltage").
NIR edges carry no delay; quantize_graph's branch delays align every path (input of step t reaches
a population of depth D at step t + D from every branch), so each population's T valid steps are
the float interpreter's T steps. A cycle is refused by nir_sim.topo_order, naming a node in it.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np

from exporters.errors import ExportError
from exporters.nir_import import (
    READOUTS,
    SPIKING,
    ImportOptions,
    _conv_layer,
    _dense_layer,
    _leak_bias,
    fold_scale,
    graph_dt,
    in_shape_of,
    neuron_mapping,
)
from exporters.nir_sim import DISCRETIZATIONS, kind, predecessors, topo_order
from exporters.quantize import DECAY_ONE
from exporters.quantize_graph import Population, QuantGraph, Synapse, _identity, quantize_lowered

INPUT = "input"  # the input population's name (quantize_graph and the Lava builder expect it)
NEURON_KIND = {"LIF": "lif", "IF": "if", "CubaLIF": "cuba", "Threshold": "threshold"}


def is_chain(graph) -> bool:
    """Whether every node has at most one input and one output edge (netx can hold it)."""
    ins: dict[str, int] = {}
    outs: dict[str, int] = {}
    for a, b in graph.edges:
        outs[a] = outs.get(a, 0) + 1
        ins[b] = ins.get(b, 0) + 1
    return max([*ins.values(), 0]) <= 1 and max([*outs.values(), 0]) <= 1


@dataclass
class _Term:
    """A population's spikes on their way to a synapse, through pooling and/or Flatten."""

    src: str
    shape: tuple[int, ...]  # after pooling
    pool: tuple[str, int, float] | None = None
    flatten: bool = False
    nodes: list[str] = field(default_factory=list)


def _synapse(name: str, node, term: _Term, with_bias: bool, tag: str) -> Synapse:
    """One synapse of a Conv2d/Affine/Linear node reading `term` (chain builders, then re-homed)."""
    k = kind(node)
    lay = _conv_layer(name, node, term.shape, term.pool) if k == "Conv2d" else \
        _dense_layer(name, node, term.shape, term.pool, term.flatten)
    return Synapse(tag, term.src, "", lay.kind, lay.weight,
                   lay.bias if with_bias else np.zeros_like(lay.bias), lay.in_shape, lay.out_shape,
                   lay.stride, lay.padding, lay.dilation, lay.groups, lay.flatten_before,
                   [*term.nodes, *lay.sources])


def lower_foreign_graph(graph, dt: float, discretization: str = "euler"
                        ) -> tuple[list[Population], list[Synapse], str]:
    """A NIR DAG -> (populations, input first, readout last; synapses; readout 'spikes'|'voltage')."""
    if discretization not in DISCRETIZATIONS:
        raise ExportError(f"unknown --discretization {discretization!r}; use euler or exact")
    order = topo_order(graph)  # refuses cycles, naming a node
    preds = predecessors(graph)
    succ: dict[str, list[str]] = {n: [] for n in graph.nodes}
    for a, b in graph.edges:
        succ[a].append(b)
    inputs = [n for n in order if kind(graph.nodes[n]) == "Input"]
    outputs = [n for n in order if kind(graph.nodes[n]) == "Output"]
    if len(inputs) != 1 or len(outputs) != 1:
        raise ExportError(f"the NIR graph must have one Input and one Output node (it has "
                          f"Input {', '.join(inputs) or 'none'} and Output "
                          f"{', '.join(outputs) or 'none'}; nir adds an Output to a node that "
                          "feeds nothing, a dead branch); several inputs or outputs cannot be "
                          "lowered to Loihi here: remove the extra branch")
    if INPUT in graph.nodes and kind(graph.nodes[INPUT]) != "Input":
        raise ExportError(f"NIR node {INPUT!r} ({kind(graph.nodes[INPUT])}) has the name snn2hw "
                          "gives the input population; rename the node")
    pops: dict[str, Population] = {}
    syns: list[Synapse] = []
    uses: dict[str, int] = {}
    # a node's value: terms (spikes of populations, maybe pooled/flattened) or synapse prototypes
    val: dict[str, list] = {}
    readout_pop: Population | None = None
    readout = "spikes"
    for name in order:
        node = graph.nodes[name]
        k = kind(node)
        items = [it for p in preds[name] for it in val[p]]
        terms = [it for it in items if isinstance(it, _Term)]
        protos = [it for it in items if isinstance(it, Synapse)]
        if k == "Input":
            shape = in_shape_of(node)
            pops[INPUT] = Population(INPUT, shape, "input")
            val[name] = [_Term(INPUT, shape)]
            continue
        if not items:
            raise ExportError(f"NIR node {name!r} ({k}) has no input edge; every node must be "
                              "reached from the Input node")
        if k == "Output":
            if len(preds[name]) != 1:
                raise ExportError(f"the Output node {name!r} sums {len(preds[name])} inputs "
                                  f"({', '.join(preds[name])}); put a readout layer before it")
            if protos:  # Affine/Linear -> Output: a non-spiking integrator readout
                if len(protos) != 1 or terms:
                    raise ExportError(f"NIR node {preds[name][0]!r} before Output reads several "
                                      "sources; end the network with one readout layer")
                s = _take(protos[0], name, uses)
                readout_pop = Population(name, s.out_shape, "readout", 0.0, 1.0, DECAY_ONE, 0)
                _attach(readout_pop, [s], pops, syns)
                readout = "voltage"
            else:
                t = terms[0]
                if t.pool is not None or t.flatten or t.src == INPUT:
                    raise ExportError(f"NIR node(s) {', '.join(t.nodes) or t.src!r} before Output "
                                      "have no conv/linear layer and neuron to run on; end the "
                                      "network with a neuron or linear readout")
                readout_pop = pops[t.src]
            continue
        if k in SPIKING or k in READOUTS:
            if k in READOUTS and [kind(graph.nodes[m]) for m in succ[name]] != ["Output"]:
                raise ExportError(f"NIR node {name!r} ({k}) is a non-spiking neuron in the middle "
                                  "of the network; Loihi layers pass spikes, so only the last layer "
                                  "(right before Output) may be non-spiking")
            ins = [_take(s, name, uses) for s in protos]
            for t in terms:
                if t.pool is not None or t.flatten:
                    raise ExportError(f"NIR node {name!r} ({k}) is fed by {t.nodes[-1]!r} through "
                                      "pooling/flatten without a conv/linear layer; Loihi neurons "
                                      "are driven by synapses")
                ins.append(_identity(pops[t.src], name))
            shapes = {s.out_shape for s in ins}
            if len(shapes) != 1:
                raise ExportError(f"the inputs of NIR node {name!r} ({k}) have different shapes "
                                  f"{sorted(shapes)}; NIR sums them, so they must agree")
            p = neuron_mapping(name, node, dt, discretization)
            if p["a_syn"] < 1.0 and any(np.any(s.bias) for s in ins):
                raise ExportError(
                    f"a bias feeds the current-based neuron {name!r} ({', '.join(s.name for s in ins)}):"
                    " Loihi adds its bias to the voltage, not to the decaying current, so this "
                    "cannot be mapped exactly; use synapses without bias before CubaLIF")
            drive = SimpleNamespace(kind=ins[0].kind, out_shape=ins[0].out_shape, bias=ins[0].bias,
                                    gain=p["gain"])
            ins[0].bias = _leak_bias(drive, p["v_leak_drive"], name)
            pop = Population(name, ins[0].out_shape, NEURON_KIND.get(k, "readout"),
                             float(p.get("v_th", 0.0)), float(p["gain"]), p["i_decay"], p["v_decay"])
            _attach(pop, ins, pops, syns)
            if k in READOUTS:
                readout = "voltage"
            val[name] = [_Term(name, pop.shape)]
            continue
        if k == "Scale":
            if terms:
                raise ExportError(f"NIR node {name!r} (Scale) must follow a Conv2d/Affine/Linear "
                                  "node to be folded into its weights")
            out = []
            for s in protos:
                s = copy.deepcopy(s)
                fold_scale(name, node, s)
                out.append(s)
            val[name] = out
            continue
        if protos:
            raise ExportError(f"NIR node {protos[0].sources[-1]!r} is followed by {name!r} ({k}) "
                              "instead of a neuron; Loihi needs a neuron after every "
                              "Conv2d/Affine/Linear node except a last one before Output")
        if k in ("AvgPool2d", "SumPool2d"):
            from exporters.quantize import _pair

            out = []
            for t in terms:
                kk, st = _pair(node.kernel_size), _pair(node.stride)
                sh = t.shape
                if kk[0] != kk[1] or st != kk or t.pool is not None or t.flatten or len(sh) != 3 \
                        or sh[1] % kk[0] or sh[2] % kk[0] or any(_pair(node.padding)):
                    raise ExportError(
                        f"pooling node {name!r} ({k}, kernel {kk}, stride {st}) on input {sh} "
                        "cannot be lowered; use square non-overlapping pooling without padding on "
                        "sizes divisible by the kernel")
                out.append(_Term(t.src, (sh[0], sh[1] // kk[0], sh[2] // kk[0]),
                                 (name, kk[0], float(kk[0] * kk[1]) if k == "SumPool2d" else 1.0),
                                 False, [*t.nodes, name]))
            val[name] = out
            continue
        if k == "Flatten":
            val[name] = [_Term(t.src, t.shape, t.pool, True, [*t.nodes, name]) for t in terms]
            continue
        if k in ("Conv2d", "Affine", "Linear"):
            if len({t.src for t in terms}) != len(terms):
                raise ExportError(f"NIR node {name!r} ({k}) reads population "
                                  f"{terms[0].src!r} through two paths; give each its own layer")
            val[name] = [_synapse(name, node, t, i == 0, name if len(terms) == 1 else
                                  f"{name}[{t.src}]") for i, t in enumerate(terms)]
            continue
        raise ExportError(
            f"NIR node {name!r} ({k}) cannot be mapped to Loihi (mappable: Conv2d, Affine, Linear, "
            "AvgPool2d, SumPool2d, Flatten, Scale, LIF, IF, CubaLIF, Threshold, and a last LI, "
            "Integrator or CubaLI, with fan-in sums and branches); remove or replace it")
    if readout_pop is None or readout_pop.name == INPUT:
        raise ExportError("the NIR graph has no neuron or linear readout before its Output node")
    used = {s.src for s in syns}
    if readout_pop.name in used:
        raise ExportError(f"NIR node {readout_pop.name!r} feeds the Output node and other layers; "
                          "Loihi reads the last population out, so give the Output its own layer")
    for p in pops.values():
        if p is not readout_pop and p.name not in used:
            raise ExportError(f"NIR node {p.name!r} does not lead to the Output node (a dead "
                              "branch); remove it")
    rest = [p for p in pops.values() if p is not readout_pop]
    return [*rest, readout_pop], syns, readout


def _take(proto: Synapse, consumer: str, uses: dict[str, int]) -> Synapse:
    """A copy of a synapse prototype for one consumer (a conv output feeding two neurons is two)."""
    n = uses.get(proto.name, 0)
    uses[proto.name] = n + 1
    s = copy.deepcopy(proto)
    if n:
        s.name = f"{proto.name}->{consumer}"
    return s


def _attach(pop: Population, ins: list[Synapse], pops: dict[str, Population],
            syns: list[Synapse]) -> None:
    """Wire synapses into `pop`: depth 1 + deepest source, alignment delays for shallower ones."""
    pop.depth = 1 + max(pops[s.src].depth for s in ins)
    for s in ins:
        s.dst = pop.name
        s.delay = pop.depth - pops[s.src].depth - 1
        syns.append(s)
    pops[pop.name] = pop


def quantize_foreign_graph(graph, opts: ImportOptions) -> tuple[QuantGraph, str, float]:
    """Lower and quantize a foreign NIR DAG into the graph format: (graph net, readout, dt)."""
    dt = graph_dt(graph, opts.dt)
    pops, syns, readout = lower_foreign_graph(graph, dt, opts.discretization)
    q = quantize_lowered(pops, syns, opts.timesteps, input_scale=float(opts.input_scale),
                         input_max=float(opts.input_max), readout_kind=readout)
    return q, readout, dt


def write_foreign_graph(graph, nir_path: str | Path, out_dir: Path, opts: ImportOptions
                        ) -> dict[str, Any]:
    """model.graph.h5, quantization.json (source nir-import), resources.json, summary.md."""
    from exporters.graph_file import GRAPH_FILE, write_graph
    from exporters.nir_import import SOURCE
    from exporters.resources import load_target
    from exporters.resources_graph import graph_markdown, graph_resources
    from snn2hw.runs import atomic_write_text

    q, readout, dt = quantize_foreign_graph(graph, opts)
    write_graph(out_dir / GRAPH_FILE, q)
    rep = q.report()
    rep.update(source=SOURCE, nir_file=str(Path(nir_path).resolve()), dt=dt,
               fix_norse=opts.fix_norse, discretization=opts.discretization,
               readout_kind=readout, format_file=GRAPH_FILE,
               graph_metadata={k: str(v) for k, v in dict(graph.metadata or {}).items()})
    atomic_write_text(out_dir / "quantization.json", json.dumps(rep, indent=2))
    reps = [graph_resources(q, load_target(n)) for n in ("loihi1", "loihi2_assumed")]
    atomic_write_text(out_dir / "resources.json", json.dumps(reps, indent=2))
    head = (f"# Imported NIR graph {Path(nir_path).name} (branching: graph format)\n\n"
            f"dt {dt:g} s ({opts.discretization}), T = {q.timesteps}, readout: {readout}, "
            f"{len(q.populations)} populations, {len(q.synapses)} synapses, latency "
            f"{q.latency_steps} steps\n\n")
    atomic_write_text(out_dir / "summary.md", head + graph_markdown(reps, q))
    return {"dt": dt, "readout": readout, "latency_steps": q.latency_steps,
            "populations": len(q.populations), "synapse_layers": len(q.synapses),
            "neurons": reps[0]["neurons"], "synapses": reps[0]["synapses"],
            "cores_loihi1": reps[0]["cores"], "relay_neurons": reps[0]["relay_neurons"],
            "file": GRAPH_FILE}

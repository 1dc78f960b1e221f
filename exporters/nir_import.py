"""NIR graphs written by any tool (snnTorch, SpikingJelly, sinabs, Norse, snn2hw) -> Loihi layers.

Reads the graph with NIR's equations exactly (see exporters/nir_sim.py for the float reference),
at a step dt that must be known: snn2hw's metadata `dt`, or `--dt`. Nothing is guessed: a missing
dt, an unmappable node, or a parameter Loihi cannot hold (a leak dt/tau outside (0, 1], a reset
value other than 0, per-neuron time constants or thresholds within one layer, a bias into a
current-based synapse) is an ExportError naming the node and the fix.

Lowering of a chain Input -> ... -> Output (Loihi CUBA neuron, per step, a = dt/tau or
1 - exp(-dt/tau) with --discretization exact):
    synapse (Conv2d | Affine | Linear, pooling and Flatten folded in as for snn2hw's own students,
    SumPool2d = AvgPool2d * k^2, a Scale right after it folded into its weights) followed by
    LIF      vDecay = 4096 a,  gain a r,        bias += a v_leak / gain
    IF       vDecay = 0,       gain dt r
    CubaLIF  iDecay = 4096 a_s, vDecay = 4096 a_m, gain a_m r a_s w_in (no affine bias unless a_s = 1)
    Threshold  iDecay = vDecay = 4096 (no memory: z = x > threshold), gain 1
    LI / Integrator / CubaLI as the last node: a non-spiking readout (voltage), with its decay
    nothing (Affine -> Output): a non-spiking integrator readout (voltage = sum over time)
Edges that fan in sum (NIR); a graph with branches or fan-in sums goes to the graph format
(exporters/nir_import_graph.py, model.graph.h5) with the same node mappings and refusals.
Fixed point: exporters/quantize.py (choose_scale, quantize_layer), netx: exporters/netx.py.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from exporters.errors import ExportError
from exporters.nir_sim import DISCRETIZATIONS, decay_rate, kind, topo_order
from exporters.quantize import DECAY_ONE, LoihiLayer, QuantizedNet, choose_scale, quantize_layer

SOURCE = "nir-import"
SPIKING = ("LIF", "IF", "CubaLIF", "Threshold")
READOUTS = ("LI", "Integrator", "CubaLI")
DT_HINT = ("give the step the writing library assumes with --dt SECONDS (snnTorch 1.0: 1e-4, "
           "SpikingJelly 2.0: its export dt, default 1e-4; sinabs 3.1: 1; Norse 1.1: dt**2, e.g. "
           "1e-6 for its default dt 1e-3, because it writes tau = dt * tau_mem; see docs/nir_peers.md)")


@dataclass
class ImportOptions:
    """How to read a foreign NIR graph: its step, discretization, T and input encoding."""

    dt: float | None = None
    discretization: str = "euler"
    timesteps: int = 10
    input_scale: float = 1.0  # integer input levels per unit (1: binary spikes)
    input_max: float = 1.0
    fix_norse: bool = False  # undo Norse 1.1's to_nir bugs (tau = dt * tau_true, w_in missing)


def graph_dt(graph, dt: float | None) -> float:
    """The step: --dt if given, else snn2hw's metadata; neither is an error naming the fix."""
    meta = dict(graph.metadata or {})
    if dt is not None:
        if not (isinstance(dt, (int, float)) and np.isfinite(dt) and dt > 0):
            raise ExportError(f"--dt must be a positive number of seconds (got {dt!r})")
        return float(dt)
    if "dt" in meta:
        try:
            v = float(np.ravel(meta["dt"])[0])
        except (TypeError, ValueError, IndexError):
            v = float("nan")
        if np.isfinite(v) and v > 0:
            return v
        raise ExportError(f"the NIR graph's metadata dt {meta['dt']!r} is not a positive number; "
                          + DT_HINT)
    raise ExportError("the NIR graph does not say its time step dt (no snn2hw metadata) and NIR's "
                      "time constants mean nothing without it; " + DT_HINT)


def _vals(node_name: str, node, attr: str) -> np.ndarray:
    v = getattr(node, attr, None)
    if v is None:
        raise ExportError(f"NIR node {node_name!r} ({kind(node)}) has no {attr!r}; the file is "
                          "incomplete, export it again")
    a = np.asarray(v, dtype=np.float64)
    if not np.all(np.isfinite(a)):
        raise ExportError(f"NIR node {node_name!r}: {attr} holds non-finite values")
    return a


def uniform(node_name: str, node, attr: str, default: float | None = None) -> float:
    """One value for the whole layer (Loihi's decays and threshold are per layer)."""
    if default is not None and getattr(node, attr, None) is None:
        return default
    a = _vals(node_name, node, attr).ravel()
    if a.size == 0:
        raise ExportError(f"NIR node {node_name!r}: {attr} is empty")
    if not np.allclose(a, a[0], rtol=1e-6, atol=0.0):
        raise ExportError(
            f"NIR node {node_name!r} ({kind(node)}): {attr} differs between neurons "
            f"({a.min():.6g} .. {a.max():.6g}); Loihi holds one {attr} per layer, so use one "
            "value per layer or split the layer")
    return float(a[0])


def _rate(name: str, node, attr: str, dt: float, disc: str) -> float:
    tau = uniform(name, node, attr)
    if tau <= 0:
        raise ExportError(f"NIR node {name!r} ({kind(node)}): {attr} = {tau:.6g} must be > 0")
    a = float(decay_rate(tau, dt, disc))
    if not 0.0 < a <= 1.0:
        raise ExportError(
            f"NIR node {name!r} ({kind(node)}): {attr} = {tau:.6g} s at dt = {dt:.6g} s gives a "
            f"per-step leak dt/{attr} = {a:.6g}, outside (0, 1] (Loihi's decay is 0..4096/4096: "
            f"{attr} must be >= dt); the dt is probably wrong: " + DT_HINT)
    return a


def _decay_int(a: float) -> int:
    return int(np.clip(round(DECAY_ONE * a), 0, DECAY_ONE))


def _no_reset(name: str, node) -> None:
    if getattr(node, "v_reset", None) is not None and not np.allclose(_vals(name, node, "v_reset"), 0):
        raise ExportError(f"NIR node {name!r} ({kind(node)}): v_reset = "
                          f"{np.ravel(node.v_reset)[0]:.6g}; Loihi resets the voltage to 0 after a "
                          "spike, so only v_reset = 0 can be mapped")


def neuron_mapping(name: str, node, dt: float, disc: str) -> dict[str, Any]:
    """Loihi decays, gain (input -> voltage per step), threshold and leak drive of a neuron node."""
    k = kind(node)
    p: dict[str, Any] = {"i_decay": DECAY_ONE, "v_decay": 0, "v_leak_drive": 0.0, "a_syn": 1.0}
    if k in ("IF", "Integrator"):
        p["gain"] = dt * uniform(name, node, "r")
    elif k in ("LIF", "LI"):
        a = _rate(name, node, "tau", dt, disc)
        p.update(gain=a * uniform(name, node, "r"), v_decay=_decay_int(a), a_mem=a)
        p["v_leak_drive"] = a * _vals(name, node, "v_leak")
    elif k in ("CubaLIF", "CubaLI"):
        a_s = _rate(name, node, "tau_syn", dt, disc)
        a_m = _rate(name, node, "tau_mem", dt, disc)
        w_in = uniform(name, node, "w_in", default=1.0)
        p.update(gain=a_m * uniform(name, node, "r") * a_s * w_in, i_decay=_decay_int(a_s),
                 v_decay=_decay_int(a_m), a_syn=a_s, a_mem=a_m)
        p["v_leak_drive"] = a_m * _vals(name, node, "v_leak")
    elif k == "Threshold":
        p.update(gain=1.0, v_decay=DECAY_ONE, v_th=uniform(name, node, "threshold"))
        return p
    else:
        raise ExportError(f"NIR node {name!r} ({k}) is not a neuron Loihi can run")
    if p["gain"] == 0:
        raise ExportError(f"NIR node {name!r} ({k}): r = 0 (or w_in = 0) lets no input through; "
                          "such a layer cannot carry a signal")
    if k in SPIKING:
        _no_reset(name, node)
        p["v_th"] = uniform(name, node, "v_threshold")
    return p


def linear_chain(graph) -> list[tuple[str, Any]]:
    """Nodes from Input to Output in order; a branch or merge is an error naming the node."""
    order = topo_order(graph)
    succ: dict[str, list[str]] = {n: [] for n in graph.nodes}
    preds: dict[str, list[str]] = {n: [] for n in graph.nodes}
    for a, b in graph.edges:
        succ[a].append(b)
        preds[b].append(a)
    for n in order:
        if len(preds[n]) > 1:
            raise ExportError(
                f"NIR node {n!r} ({kind(graph.nodes[n])}) sums {len(preds[n])} inputs "
                f"({', '.join(preds[n])}); Loihi/netx runs a chain of layers, so a graph with "
                "merging branches cannot be lowered to netx here (the float interpreter and "
                "`simulate` of snn2hw's own residual exports handle graphs)")
        if len(succ[n]) > 1:
            raise ExportError(f"NIR node {n!r} ({kind(graph.nodes[n])}) feeds {len(succ[n])} "
                              "nodes (a branch); Loihi/netx runs a chain of layers only")
    ins = [n for n in order if kind(graph.nodes[n]) == "Input"]
    if len(ins) != 1 or order[0] != ins[0] or kind(graph.nodes[order[-1]]) != "Output":
        raise ExportError("the NIR graph must be one chain from its Input node to its Output node")
    return [(n, graph.nodes[n]) for n in order]


def in_shape_of(node) -> tuple[int, ...]:
    """The Input node's shape (without batch dim)."""
    it = node.input_type
    v = it.get("input", next(iter(it.values()))) if isinstance(it, dict) else it
    return tuple(int(s) for s in np.ravel(v))


def _conv_layer(name: str, node, shape, pool) -> LoihiLayer:
    import torch

    from exporters.quantize import _fuse_pool_conv, _pair

    if isinstance(node.padding, str):
        raise ExportError(f"NIR node {name!r} (Conv2d): padding {node.padding!r}; use integers")
    w = np.asarray(node.weight, dtype=np.float64)
    stride, padding, dil = _pair(node.stride), _pair(node.padding), _pair(node.dilation)
    in_shape, srcs = shape, [name]
    if pool is not None:
        w, stride, padding = _fuse_pool_conv(pool[1], w, stride, padding, dil)
        w = w * pool[2]
        in_shape = (shape[0], shape[1] * pool[1], shape[2] * pool[1])
        srcs = [pool[0], name]
    if len(in_shape) != 3 or in_shape[0] != w.shape[1] * int(node.groups):
        raise ExportError(f"NIR node {name!r} (Conv2d) expects {w.shape[1] * int(node.groups)} "
                          f"input channels, gets shape {in_shape}")
    out = torch.nn.functional.conv2d(torch.zeros(1, *in_shape), torch.zeros(*w.shape),
                                     stride=stride, padding=padding, dilation=dil,
                                     groups=int(node.groups))
    b = np.zeros(w.shape[0]) if node.bias is None else np.asarray(node.bias, np.float64).ravel()
    return LoihiLayer(name, "conv", w, b, in_shape, tuple(out.shape[1:]), "", 0.0, 1.0,
                      DECAY_ONE, 0, stride, padding, dil, int(node.groups), False, srcs)


def _dense_layer(name: str, node, shape, pool, flatten: bool) -> LoihiLayer:
    from exporters.quantize import _fuse_pool_dense

    w = np.asarray(node.weight, dtype=np.float64)
    b = np.asarray(getattr(node, "bias", None) if kind(node) == "Affine" else np.zeros(w.shape[0]),
                   np.float64).ravel()
    in_shape, srcs = shape, [name]
    if pool is not None:
        if not flatten:
            raise ExportError(f"pooling node {pool[0]!r} must be followed by Flatten before the "
                              f"linear node {name!r}")
        fine = (shape[0], shape[1] * pool[1], shape[2] * pool[1])
        w = _fuse_pool_dense(pool[1], w, fine) * pool[2]
        in_shape, srcs = fine, [pool[0], name]
    if len(in_shape) > 1 and not flatten:
        raise ExportError(f"NIR node {name!r} ({kind(node)}) gets a {in_shape} input without a "
                          "Flatten node before it; add Flatten")
    if int(np.prod(in_shape)) != w.shape[1]:
        raise ExportError(f"NIR node {name!r} ({kind(node)}) expects {w.shape[1]} inputs, gets "
                          f"shape {in_shape}")
    return LoihiLayer(name, "dense", w, b, in_shape, (w.shape[0],), "", 0.0, 1.0, DECAY_ONE, 0,
                      flatten_before=flatten and len(in_shape) > 1, sources=srcs)


def _leak_bias(lay: LoihiLayer, drive, name: str) -> np.ndarray:
    """The layer's float bias plus the neuron's constant leak drive a*v_leak (in input units)."""
    d = np.asarray(drive, dtype=np.float64)
    if not np.any(d):
        return lay.bias
    if lay.kind == "conv":
        d = np.broadcast_to(d, lay.out_shape).reshape(lay.out_shape[0], -1)
        if not np.allclose(d, d[:, :1]):
            raise ExportError(f"NIR node {name!r}: v_leak differs within a channel; Loihi conv "
                              "layers hold one bias per channel")
        d = d[:, 0]
    else:
        d = np.broadcast_to(d.ravel() if d.size > 1 else d, lay.out_shape)
    return lay.bias + d / lay.gain


def fold_scale(name: str, node, syn) -> None:
    """Fold a NIR Scale node into the weights and bias of the synapse before it (in place): one
    factor per output neuron for dense, one per layer for conv (else a named error)."""
    sc = np.asarray(node.scale, np.float64).ravel()
    if sc.size > 1 and not np.allclose(sc, sc[0]) and syn.kind == "conv":
        raise ExportError(f"NIR node {name!r} (Scale): per-neuron scales after a conv "
                          "cannot be folded; use one scale per layer")
    sc = sc if (sc.size > 1 and syn.kind == "dense") else sc[:1]
    syn.weight = syn.weight * sc.reshape(-1, *([1] * (syn.weight.ndim - 1)))
    syn.bias = syn.bias * sc
    syn.sources.append(name)


def lower_foreign(graph, dt: float, discretization: str = "euler") -> tuple[list[LoihiLayer], str]:
    """A NIR chain -> Loihi layers, and the readout: 'spikes' (last layer spiking) or 'voltage'."""
    if discretization not in DISCRETIZATIONS:
        raise ExportError(f"unknown --discretization {discretization!r}; use euler or exact")
    nodes = linear_chain(graph)
    shape = in_shape_of(nodes[0][1])
    layers: list[LoihiLayer] = []
    pool: tuple[str, int, float] | None = None
    flatten = False
    pending: LoihiLayer | None = None
    readout = "spikes"
    for idx, (name, node) in enumerate(nodes[1:], start=1):
        k = kind(node)
        last = idx == len(nodes) - 2  # the node right before Output
        if k in SPIKING or k in READOUTS:
            if pending is None:
                raise ExportError(f"NIR node {name!r} ({k}) has no Conv2d/Affine/Linear node right "
                                  "before it; a Loihi neuron layer is driven by a synapse layer")
            if k in READOUTS and not last:
                raise ExportError(f"NIR node {name!r} ({k}) is a non-spiking neuron in the middle of "
                                  "the network; Loihi layers pass spikes, so only the last layer "
                                  "may be non-spiking")
            p = neuron_mapping(name, node, dt, discretization)
            if p["a_syn"] < 1.0 and np.any(pending.bias):
                raise ExportError(
                    f"the bias of {pending.name!r} feeds the current-based neuron {name!r}: Loihi "
                    "adds its bias to the voltage, not to the decaying current, so this cannot be "
                    "mapped exactly; use a synapse without bias before CubaLIF")
            pending.gain = p["gain"]
            pending.i_decay, pending.v_decay = p["i_decay"], p["v_decay"]
            pending.neuron = {"LIF": "lif", "IF": "if", "CubaLIF": "cuba", "Threshold": "threshold"
                              }.get(k, "readout")
            pending.v_th = p.get("v_th", 0.0)
            pending.bias = _leak_bias(pending, p["v_leak_drive"], name)
            pending.sources.append(name)
            layers.append(pending)
            if k in READOUTS:
                readout = "voltage"
            pending = None
            continue
        if k == "Scale":
            if pending is None:
                raise ExportError(f"NIR node {name!r} (Scale) must follow a Conv2d/Affine/Linear "
                                  "node to be folded into its weights")
            fold_scale(name, node, pending)
            continue
        if pending is not None:
            if k == "Output":
                pending.neuron, pending.gain = "readout", 1.0
                pending.i_decay, pending.v_decay = DECAY_ONE, 0
                layers.append(pending)
                readout = "voltage"
                pending = None
                continue
            raise ExportError(f"NIR node {pending.sources[0]!r} is followed by {name!r} ({k}) "
                              "instead of a neuron; Loihi needs a neuron after every "
                              "Conv2d/Affine/Linear node except a last one before Output")
        if k in ("AvgPool2d", "SumPool2d"):
            from exporters.quantize import _pair

            kk, s = _pair(node.kernel_size), _pair(node.stride)
            if kk[0] != kk[1] or s != kk or pool is not None or len(shape) != 3 \
                    or shape[1] % kk[0] or shape[2] % kk[0] or any(_pair(node.padding)):
                raise ExportError(
                    f"pooling node {name!r} ({k}, kernel {kk}, stride {s}) on input {shape} cannot "
                    "be lowered; use square non-overlapping pooling without padding on sizes "
                    "divisible by the kernel")
            pool = (name, kk[0], float(kk[0] * kk[1]) if k == "SumPool2d" else 1.0)
            shape = (shape[0], shape[1] // kk[0], shape[2] // kk[0])
            continue
        if k == "Flatten":
            flatten = True
            continue
        if k == "Conv2d":
            pending = _conv_layer(name, node, shape, pool)
            pool = None
            shape = pending.out_shape
            continue
        if k in ("Affine", "Linear"):
            pending = _dense_layer(name, node, shape, pool, flatten)
            pool, flatten = None, False
            shape = pending.out_shape
            continue
        if k == "Output":
            if pool is not None:
                raise ExportError(f"pooling node {pool[0]!r} at the end has no layer to fold into")
            continue
        raise ExportError(
            f"NIR node {name!r} ({k}) cannot be mapped to Loihi/netx (mappable: Conv2d, Affine, "
            "Linear, AvgPool2d, SumPool2d, Flatten, Scale, LIF, IF, CubaLIF, Threshold, and a last "
            "LI, Integrator or CubaLI); remove or replace it")
    if not layers:
        raise ExportError("the NIR graph has no Conv2d/Affine/Linear layer to run on Loihi")
    return layers, readout


def quantize_foreign(graph, opts: ImportOptions) -> tuple[QuantizedNet, str, float]:
    """Lower and quantize a foreign NIR graph with snn2hw's fixed point: (net, readout, dt)."""
    dt = graph_dt(graph, opts.dt)
    layers, readout = lower_foreign(graph, dt, opts.discretization)
    in_int_max = int(np.ceil(opts.input_max * opts.input_scale))
    binary = opts.input_scale == 1.0 and opts.input_max == 1.0
    bits = 0 if binary else max(1, int(np.ceil(np.log2(in_int_max + 1))))
    out = []
    for i, lay in enumerate(layers):
        s_in = opts.input_scale if i == 0 else 1.0
        x_max = in_int_max if i == 0 else 1.0
        try:
            scale, why = choose_scale(lay, s_in, x_max, opts.timesteps)
            out.append(quantize_layer(lay, scale, s_in, why))
        except ExportError as e:
            raise ExportError(f"NIR node {lay.sources[-1]!r}: {e}") from None
    q = QuantizedNet(out, in_shape_of(linear_chain(graph)[0][1]), opts.timesteps,
                     float(opts.input_scale), in_int_max, bits, int(np.prod(layers[-1].out_shape)))
    return q, readout, dt


def read_foreign(path: str | Path):
    """nir.read with a clear error for a missing or unreadable file."""
    import nir

    p = Path(path)
    if not p.is_file():
        raise ExportError(f"NIR file {p} does not exist; give the path of a .nir file")
    try:
        return nir.read(str(p))
    except Exception as e:  # noqa: BLE001 - h5py/nir raise many types
        raise ExportError(f"cannot read NIR file {p} ({type(e).__name__}: {e}); give a file "
                          "written by nir.write") from None


def export_foreign(nir_path: str | Path, out_dir: Path, opts: ImportOptions) -> dict[str, Any]:
    """Write model.nir (the original), model.net (a chain) or model.graph.h5 (a DAG),
    quantization.json, resources.json and summary.md into out_dir."""
    from exporters.netx import write_netx
    from exporters.resources import load_target, resources
    from snn2hw.fileio import atomic_write_bytes
    from snn2hw.runs import atomic_write_text

    if opts.timesteps < 1:
        raise ExportError(f"--timesteps must be >= 1 (got {opts.timesteps})")
    if not (np.isfinite(opts.input_scale) and opts.input_scale > 0):
        raise ExportError(f"--input-scale must be > 0 (got {opts.input_scale})")
    from exporters.nir_import_graph import is_chain, write_foreign_graph

    graph = read_foreign(nir_path)
    if opts.fix_norse:
        if opts.dt is None:
            raise ExportError("--fix-norse needs --dt: the dt given to Norse's to_nir "
                              "(default 1e-3)")
        graph = fix_norse(graph, opts.dt)
    if not is_chain(graph):  # branches or fan-in sums: the graph format (model.graph.h5)
        summary = write_foreign_graph(graph, nir_path, out_dir, opts)
    else:
        q, readout, dt = quantize_foreign(graph, opts)
    if opts.fix_norse:
        from exporters.nir import write_nir

        write_nir(out_dir / "model.nir", graph)  # the corrected graph (simulate's float reference)
    else:
        atomic_write_bytes(out_dir / "model.nir", Path(nir_path).read_bytes(), what="NIR file")
    if not is_chain(graph):
        return summary
    write_netx(out_dir / "model.net", q, readout=readout)
    rep = q.report()
    rep.update(source=SOURCE, nir_file=str(Path(nir_path).resolve()), dt=dt,
               fix_norse=opts.fix_norse,
               discretization=opts.discretization, readout_kind=readout,
               graph_metadata={k: str(v) for k, v in dict(graph.metadata or {}).items()})
    atomic_write_text(out_dir / "quantization.json", json.dumps(rep, indent=2))
    reps = [resources(q, load_target(n)) for n in ("loihi1", "loihi2_assumed")]
    atomic_write_text(out_dir / "resources.json", json.dumps(reps, indent=2))
    lines = [f"# Imported NIR graph {Path(nir_path).name}", "",
             f"dt {dt:g} s ({opts.discretization}), T = {q.timesteps}, readout: {readout}, "
             f"{len(q.layers)} Loihi layers, latency {q.latency_steps} steps", "",
             "| layer | NIR nodes | neuron | iDecay | vDecay | vThMant | scale limited by |",
             "|---|---|---|---|---|---|---|"]
    for lay in q.layers:
        fl = lay.float_layer
        lines.append(f"| {lay.name} | {', '.join(fl.sources)} | {fl.neuron} | {lay.i_decay} | "
                     f"{lay.v_decay} | {lay.v_th_mant} | {lay.limited_by} |")
    atomic_write_text(out_dir / "summary.md", "\n".join(lines) + "\n")
    return {"dt": dt, "readout": readout, "latency_steps": q.latency_steps,
            "neurons": reps[0]["neurons"], "synapses": reps[0]["synapses"],
            "cores_loihi1": reps[0]["cores"], "file": "model.net"}


def is_imported(q: dict) -> bool:
    """Whether a quantization.json record comes from an imported NIR graph (no run folder)."""
    return isinstance(q, dict) and q.get("source") == SOURCE



def fix_norse(graph, dt: float):
    """A graph written by Norse 1.1's `to_nir(model, dt=dt)` with its two bugs undone.

    Norse writes tau = dt / tau_inv (= dt * tau) instead of 1 / tau_inv, and leaves CubaLIF's
    w_in at 1 although its current jumps by the input (w_in = tau_syn / dt in NIR's equation).
    Returns the graph with tau / dt and w_in = tau_syn / dt, to be read at Norse's own dt.
    """
    import copy

    g = copy.deepcopy(graph)
    for node in g.nodes.values():
        k = kind(node)
        for attr in ("tau", "tau_syn", "tau_mem"):
            if k in ("LIF", "LI", "CubaLIF", "CubaLI") and getattr(node, attr, None) is not None:
                setattr(node, attr, np.asarray(getattr(node, attr), np.float64) / dt)
        if k in ("CubaLIF", "CubaLI"):
            node.w_in = np.asarray(node.tau_syn, np.float64) / dt
    g.metadata = {**dict(g.metadata or {}), "dt": float(dt), "fixed": "norse-1.1 to_nir"}
    return g


def retime(graph, new_dt: float):
    """The same discrete dynamics expressed at another nominal step (for peers that assume a dt).

    Every time constant is multiplied by new_dt/dt and IF/Integrator r divided by it, so that
    dt/tau and dt*r per step (all NIR's Euler step uses) stay the same; metadata dt becomes new_dt.
    """
    import copy

    dt = graph_dt(graph, None)
    if not (np.isfinite(new_dt) and new_dt > 0):
        raise ExportError(f"--nir-dt must be a positive number of seconds (got {new_dt!r})")
    f = new_dt / dt
    g = copy.deepcopy(graph)
    for node in g.nodes.values():
        k = kind(node)
        for attr in ("tau", "tau_syn", "tau_mem"):
            if k in ("LIF", "LI", "CubaLIF", "CubaLI") and getattr(node, attr, None) is not None:
                setattr(node, attr, np.asarray(getattr(node, attr), np.float64) * f)
        if k in ("IF", "Integrator"):
            node.r = np.asarray(node.r, np.float64) / f
    g.metadata = {**dict(g.metadata or {}), "dt": float(new_dt)}
    return g

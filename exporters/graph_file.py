"""The graph artefact (model.graph.h5): a quantized residual network for our emulator and Lava.

HDF5 layout (format "snn2hw-loihi-graph-1", every integer exactly as the chip uses it):
  /            attrs: format, timesteps, in_shape, input_scale, input_max, input_message_bits,
                      num_classes, readout ("voltage": the last population is a non-spiking
                      integrator, scores are its voltage; "spikes": it is a spiking population,
                      scores are its spike counts; files without it are "voltage")
  /populations/<k>   (k = 000, 001, ... in topological order; the last is the readout)
               attrs: name, neuron (lif/if/cuba/readout), shape, depth, i_decay, v_decay,
                      v_th_mant, scale
               data:  bias  int32 [shape[0]]  (per channel / per neuron of a 1-d population)
  /synapses/<k>      attrs: name, src ("input" or a population name), dst, kind (conv/dense),
                      in_shape, out_shape, stride, padding, dilation, groups, flatten_before,
                      delay (extra steps beyond the one every synapse costs), identity
               data:  weight int16 (conv [O, I, kh, kw], dense [O, I]), even, in [-256, 254]
Populations with depth D receive the sample's first input at step D + 1 (1-based steps, input at
step 1..T); one sample needs T + depth(readout) steps. Written atomically (temp file + rename).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from exporters.errors import SimulationError
from exporters.quantize_graph import (
    FORMAT,
    Population,
    QuantGraph,
    QuantPopulation,
    QuantSynapse,
    Synapse,
)

GRAPH_FILE = "model.graph.h5"


def write_graph(path: Path, q: QuantGraph) -> None:
    """Write the artefact to a temp file next to `path`, then rename it into place."""
    import h5py

    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    with h5py.File(tmp, "w") as f:
        f.attrs.update(format=FORMAT, timesteps=q.timesteps, in_shape=list(q.in_shape),
                       input_scale=q.input_scale, input_max=q.input_max,
                       input_message_bits=q.input_message_bits, num_classes=q.num_classes,
                       readout=q.readout_kind)
        g = f.create_group("populations")
        for k, qp in enumerate(q.populations):
            p = qp.pop
            h = g.create_group(f"{k:03d}")
            h.attrs.update(name=p.name, neuron=p.neuron, shape=list(p.shape), depth=p.depth,
                           i_decay=p.i_decay, v_decay=p.v_decay, v_th_mant=qp.v_th_mant,
                           scale=qp.scale, v_th=p.v_th, gain=p.gain)
            h.create_dataset("bias", data=qp.bias.astype(np.int32))
        g = f.create_group("synapses")
        for k, qs in enumerate(q.synapses):
            s = qs.syn
            h = g.create_group(f"{k:03d}")
            h.attrs.update(name=s.name, src=s.src, dst=s.dst, kind=s.kind,
                           in_shape=list(s.in_shape), out_shape=list(s.out_shape),
                           stride=list(s.stride), padding=list(s.padding),
                           dilation=list(s.dilation), groups=s.groups,
                           flatten_before=s.flatten_before, delay=s.delay, identity=s.identity,
                           in_scale=qs.in_scale)
            h.create_dataset("weight", data=qs.weight.astype(np.int16), compression="gzip")
    tmp.replace(path)


def _t(v) -> tuple[int, ...]:
    return tuple(int(x) for x in np.ravel(v))


def read_graph(path: str | Path) -> QuantGraph:
    """Load an artefact written by `write_graph` (clear error when missing or corrupt)."""
    import h5py

    try:
        with h5py.File(path, "r") as f:
            if f.attrs.get("format") != FORMAT:
                raise SimulationError(f"{path} is not a {FORMAT} file (format "
                                      f"{f.attrs.get('format')!r}); re-run `snn2hw export`")
            pops, syns = [], []
            for k in sorted(f["populations"]):
                h = f["populations"][k]
                a = h.attrs
                p = Population(str(a["name"]), _t(a["shape"]), str(a["neuron"]), float(a["v_th"]),
                               float(a["gain"]), int(a["i_decay"]), int(a["v_decay"]),
                               int(a["depth"]))
                pops.append(QuantPopulation(p, h["bias"][()].astype(np.int64), int(a["v_th_mant"]),
                                            float(a["scale"]), "", 0.0, 0.0))
            for k in sorted(f["synapses"]):
                h = f["synapses"][k]
                a = h.attrs
                w = h["weight"][()].astype(np.int64)
                s = Synapse(str(a["name"]), str(a["src"]), str(a["dst"]), str(a["kind"]),
                            w, np.zeros(w.shape[0]), _t(a["in_shape"]), _t(a["out_shape"]),
                            _t(a["stride"]), _t(a["padding"]), _t(a["dilation"]), int(a["groups"]),
                            bool(a["flatten_before"]), [], int(a["delay"]), bool(a["identity"]))
                syns.append(QuantSynapse(s, w, float(a["in_scale"]), 0.0, 0.0))
            at = f.attrs
            return QuantGraph(pops, syns, _t(at["in_shape"]), int(at["timesteps"]),
                              float(at["input_scale"]), int(at["input_max"]),
                              int(at["input_message_bits"]), int(at["num_classes"]),
                              str(at.get("readout", "voltage")))
    except SimulationError:
        raise
    except Exception as e:  # noqa: BLE001 - h5py raises many types
        raise SimulationError(f"cannot read graph artefact {path}: {e}; re-run `snn2hw export`") from None

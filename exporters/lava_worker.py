"""Child-process entry point: run a netx file or a graph artefact in Lava (fixed_pt); never imported
by the parent (Lava is imported here only). One worker for every Lava run:

- network builder: netx file (lava-dl's hdf5.Network) or graph file (exporters/lava_graph_worker.build);
- input layout: static (job x [N, *in], each sample sent for T steps) or per step (job x
  [N, S, *in]: frame t of sample i sent at step i * P + t + 1; event frames and streams);
- streams mode (cfg mode "streams"): foreign netx files, each sample from a zero state.
The run loop, timing, recording (spikes into memory-mapped files, exporters/lava_recorder.py; the
last population's v by a Monitor) and writing results are shared by all of them.
"""

from __future__ import annotations

import json
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np


@dataclass
class Built:
    """A built Lava network: input source, recorded populations (s_out ports), readout v Var."""

    src: object
    outs: list
    v: object
    steps: int
    period: int | None = None  # with states: zero them every `period` steps (streams)
    states: list = field(default_factory=list)
    extra: dict = field(default_factory=dict)


def _whc(a: np.ndarray) -> np.ndarray:
    """Our C, H, W (any rank, trailing step axis allowed last) -> netx's W, H, C order."""
    return a.transpose(tuple(range(a.ndim))[::-1])


def ring_data(x: np.ndarray, feat: tuple[int, ...], P: int, total: int, T: int, *,
              per_step: bool, fill: int = 0) -> np.ndarray:
    """RingBuffer data [*feat WHC, total]: sample i starts at column i * P; static input x [N, *in]
    fills T columns, per-step input x [N, S, *in] fills one column per frame."""
    data = np.full((*feat[::-1], total), fill, np.int64)
    for i in range(len(x)):
        if per_step:
            data[..., i * P:i * P + x.shape[1]] += _whc(x[i])  # [S, C, H, W] -> [W, H, C, S]
        else:
            data[..., i * P:i * P + T] += _whc(x[i])[..., None]
    return data.astype(np.int32)


def build_netx(x: np.ndarray, cfg: dict) -> Built:
    """netx network, reset every P = T + layers steps (as exported), static or per-step input."""
    from lava.lib.dl.netx import hdf5
    from lava.proc.io.source import RingBuffer

    T, L = cfg["timesteps"], cfg["num_layers"]
    P, n = T + L, len(x)
    per_step = cfg.get("input") == "frames"
    net = hdf5.Network(cfg["net"], input_message_bits=cfg["input_message_bits"],
                       reset_interval=P, reset_offset=1)
    if len(net.layers) != L:
        raise SystemExit(f"netx built {len(net.layers)} layers, expected {L}")
    if per_step and x.shape[1] != T:
        raise SystemExit(f"inputs hold {x.shape[1]} frames per sample, the network runs T = {T}")
    feat = x.shape[2:] if per_step else x.shape[1:]
    src = RingBuffer(data=ring_data(x, feat, P, n * P, T, per_step=per_step))
    src.s_out.connect(net.inp)
    outs = [lay.neuron.s_out for lay in net.layers] if cfg["record"] else []
    return Built(src, outs, net.layers[-1].neuron.v, n * P)


def build_graph(x: np.ndarray, cfg: dict) -> Built:
    """Graph artefact as a Lava process graph (exporters/lava_graph_worker.build), samples every
    P = T + depth(readout) steps (or T when pipelined), static or per-step input."""
    from lava.proc.io.source import RingBuffer

    from exporters.graph_file import read_graph
    from exporters.lava_graph_worker import build

    q = read_graph(cfg["graph"])
    T = q.timesteps
    P = T if cfg.get("pipelined") else q.latency_steps
    n = len(x)
    per_step = cfg.get("input") == "frames"
    if per_step and x.shape[1] != T:
        raise SystemExit(f"inputs hold {x.shape[1]} frames per sample, the graph runs T = {T}")
    consumers, lif, relays = build(q, P)
    steps = n * P + (q.latency_steps - P)  # the last sample must reach the readout
    data = ring_data(x, tuple(q.in_shape), P, steps, T, per_step=per_step)
    sources = {}
    for syn, flat, delay in consumers:
        if delay not in sources:  # a delayed input synapse: the same data `delay` steps later
            shifted = np.zeros_like(data)
            shifted[..., delay:] = data[..., :data.shape[-1] - delay]
            sources[delay] = RingBuffer(data=shifted)
        src = sources[delay]
        out = src.s_out.transpose([2, 1, 0]).flatten() if flat else src.s_out
        out.connect(syn.s_in)
    src = sources[min(sources)]
    outs = [lif[qp.pop.name].s_out for qp in q.populations] if cfg["record"] else []
    return Built(src, outs, lif[q.readout.pop.name].v, steps, extra={"relays": len(relays)})


def _input_layer(path: str, num_layers):
    """(iDecay, vDecay, vThMant, weight, bias, shape) of layer 0 if it is an input neuron layer
    that netx would build (within num_layers), else None."""
    import h5py

    with h5py.File(path, "r") as f:
        g = f["layer"]["0"]
        t = g["type"][()]
        t = t[0] if np.ndim(t) else t
        t = t.decode() if isinstance(t, bytes) else str(t)
        if t != "input" or "neuron" not in g or (num_layers is not None and num_layers < 1):
            return None
        n = g["neuron"]

        def val(key, d):
            return int(round(float(np.ravel(g[key][()])[0]))) if key in g else d

        return (int(n["iDecay"][()]), int(n["vDecay"][()]), int(n["vThMant"][()]),
                val("weight", 64), val("bias", 0), tuple(int(v) for v in np.ravel(g["shape"][()])))


def build_streams(x: np.ndarray, cfg: dict) -> Built:
    """Foreign netx file on streams x [N, S, *in], each sample from a zero state for `period` steps.

    lava-dl 0.6 cannot compile its own Input block in the simulator (no subcompiler for
    PyInputModel), so an input-neuron layer runs as the LIF (LIFReset) it is, fed netx's input
    transform weight * x + bias through a RingBuffer; netx builds the rest with skip_layers=1 and
    the reset offsets it would have given them (dense_rec layers as its RecurrentDense blocks).
    Between samples every state Var (neuron u, v and synapse buffers, recurrent ones included) is
    set to zero.
    """
    from lava.lib.dl.netx import hdf5
    from lava.proc.io.source import RingBuffer
    from lava.proc.lif.process import LIF, LIFReset

    n, S = x.shape[:2]
    P = int(cfg["period"])
    ri, off, nl = cfg["reset_interval"], int(cfg["reset_offset"]), cfg["num_layers"]
    inp = _input_layer(cfg["net"], nl)
    neurons, states = [], []
    if inp is not None:
        i_dec, v_dec, vth, w_in, b_in, shape = inp
        kw = dict(shape=tuple(shape[::-1]), du=i_dec - 1, dv=v_dec, vth=vth, bias_mant=0,
                  bias_exp=6)
        lif = LIF(**kw) if not ri else LIFReset(reset_interval=ri, reset_offset=off + 1, **kw)
        src = RingBuffer(data=ring_data(w_in * x, shape, P, n * P, S, per_step=True, fill=b_in))
        src.s_out.connect(lif.a_in)
        neurons.append(lif)
        states += [lif.u, lif.v]
        rest = None if nl == 1 else hdf5.Network(
            cfg["net"], num_layers=nl, skip_layers=1, input_message_bits=0,
            reset_interval=ri or None, reset_offset=off + 1)
        if rest is not None:
            lif.s_out.connect(rest.inp)
    else:
        rest = hdf5.Network(cfg["net"], num_layers=nl, input_message_bits=cfg["input_message_bits"],
                            reset_interval=ri or None, reset_offset=off)
        src = RingBuffer(data=ring_data(x, x.shape[2:], P, n * P, S, per_step=True))
        src.s_out.connect(rest.inp)
    if rest is not None:
        for lay in rest.layers:
            neurons.append(lay.neuron)
            states += [lay.neuron.u, lay.neuron.v]
            for syn in (getattr(lay, "synapse", None), getattr(lay, "synapse_rec", None)):
                for name in ("a_buff", "a_buf"):  # synapse_rec: a RecurrentDense's own spikes
                    if syn is not None and hasattr(syn, name):
                        states.append(getattr(syn, name))
    return Built(src, [neu.s_out for neu in neurons], neurons[-1].v, n * P, period=P,
                 states=states)


def run_and_write(b: Built, out_path: str) -> None:
    """Record, run (timing the first step, which compiles, apart), write results npz: mon0..monK-1
    spikes [steps, C, H, W] per recorded population, monK the last population's v, timing."""
    from lava.magma.core.run_conditions import RunSteps
    from lava.magma.core.run_configs import Loihi2SimCfg
    from lava.proc.monitor.process import Monitor

    from exporters.lava_recorder import SpikeFileSink, new_recording

    sinks = []
    for k, port in enumerate(b.outs):  # Monitor reads back element by element: files instead
        path = str(Path(out_path).with_name(f"spikes{k}.npy"))
        shape = tuple(port.shape)
        new_recording(path, b.steps, shape)
        sink = SpikeFileSink(shape=shape, path=path, steps=b.steps)
        port.connect(sink.s_in)
        sinks.append(path)
    mv = Monitor()
    mv.probe(b.v, b.steps)
    run_cfg = Loihi2SimCfg(select_tag="fixed_pt")
    P = b.period if b.states else b.steps
    t0 = time.perf_counter()
    b.src.run(condition=RunSteps(num_steps=1), run_cfg=run_cfg)
    t1 = time.perf_counter()
    if P > 1:
        b.src.run(condition=RunSteps(num_steps=P - 1), run_cfg=run_cfg)
    for _ in range(1, b.steps // P):  # streams: each further sample from a zero state
        for var in b.states:
            var.set(np.zeros(var.shape, var.get().dtype))
        b.src.run(condition=RunSteps(num_steps=P), run_cfg=run_cfg)
    t2 = time.perf_counter()
    d = mv.get_data()
    (pname,) = d.keys()
    (vname,) = d[pname].keys()
    v = np.asarray(d[pname][vname])
    v = v.reshape(b.steps, *v.shape[1:])
    b.src.stop()
    out = {}
    for k, path in enumerate(sinks):
        out[f"mon{k}"] = np.load(path).transpose(0, *range(len(b.outs[k].shape), 0, -1))
    out[f"mon{len(sinks)}"] = v.transpose(0, *range(v.ndim - 1, 0, -1)).astype(np.int64)
    out["timing"] = np.array([t1 - t0, t2 - t1, b.steps - 1])
    out.update({k: np.array(val) for k, val in b.extra.items()})
    np.savez(out_path, **out)


def main(in_path: str, out_path: str) -> None:
    """Read job npz (x ints, cfg: network, input layout, mode), build, run, write results npz."""
    os.environ.setdefault("OMP_NUM_THREADS", "1")  # one Lava process per layer: one thread each
    job = np.load(in_path, allow_pickle=False)
    cfg = json.loads(str(job["cfg"]))
    x = job["x"].astype(np.int64)
    if cfg.get("mode") == "streams":
        built = build_streams(x, cfg)
    elif "graph" in cfg:
        built = build_graph(x, cfg)
    else:
        built = build_netx(x, cfg)
    run_and_write(built, out_path)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])

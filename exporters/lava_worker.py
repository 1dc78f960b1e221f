"""Child-process entry point: run a netx file in Lava (fixed_pt) on graded input; never imported by the parent."""

from __future__ import annotations

import json
import sys
import time

import numpy as np


def main(in_path: str, out_path: str) -> None:
    """Read job npz (net path, x [N, *in_shape] ints, timesteps...), run Lava, write results npz."""
    job = np.load(in_path, allow_pickle=False)
    cfg = json.loads(str(job["cfg"]))
    if cfg.get("mode") == "streams":
        return main_streams(job, cfg, out_path)
    x = job["x"].astype(np.int32)
    T, L, record = cfg["timesteps"], cfg["num_layers"], cfg["record"]
    P = T + L
    n = len(x)
    from lava.lib.dl.netx import hdf5
    from lava.magma.core.run_conditions import RunSteps
    from lava.magma.core.run_configs import Loihi2SimCfg
    from lava.proc.io.source import RingBuffer
    from lava.proc.monitor.process import Monitor

    net = hdf5.Network(cfg["net"], input_message_bits=cfg["input_message_bits"],
                       reset_interval=P, reset_offset=1)
    if len(net.layers) != L:
        raise SystemExit(f"netx built {len(net.layers)} layers, expected {L}")
    feat = x[0].shape
    data = np.zeros((*feat[::-1], n * P), np.int32)
    for i in range(n):
        xi = x[i].transpose(tuple(range(x[i].ndim))[::-1])  # CHW -> WHC
        data[..., i * P:i * P + T] = xi[..., None]
    src = RingBuffer(data=data)
    src.s_out.connect(net.inp)
    steps = n * P
    mons = []
    if record:
        for lay in net.layers:
            m = Monitor()
            m.probe(lay.neuron.s_out, steps)
            mons.append(m)
    mv = Monitor()
    mv.probe(net.layers[-1].neuron.v, steps)
    cfg_run = Loihi2SimCfg(select_tag="fixed_pt")
    t0 = time.perf_counter()
    net.run(condition=RunSteps(num_steps=1), run_cfg=cfg_run)
    t1 = time.perf_counter()
    net.run(condition=RunSteps(num_steps=steps - 1), run_cfg=cfg_run)
    t2 = time.perf_counter()
    out = {}
    for k, m in enumerate(mons + [mv]):
        d = m.get_data()
        (pname,) = d.keys()
        (vname,) = d[pname].keys()
        arr = np.asarray(d[pname][vname])
        arr = arr.reshape(steps, *arr.shape[1:])
        arr = arr.transpose(0, *range(arr.ndim - 1, 0, -1))  # steps, C, H, W
        out[f"mon{k}"] = arr.astype(np.int64 if k == len(mons) else np.uint8)
    net.stop()
    out["timing"] = np.array([t1 - t0, t2 - t1, steps - 1])
    np.savez(out_path, **out)


def _whc(a: np.ndarray) -> np.ndarray:
    """One sample [S, C, H, W] (our order) -> [W, H, C, S], as RingBuffer data (netx's WHC)."""
    return a.transpose(tuple(range(a.ndim))[::-1])


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


def main_streams(job, cfg: dict, out_path: str) -> None:
    """Samples x [N, S, *in] one after another, each from a zero state, for `period` steps.

    lava-dl 0.6 cannot compile its own Input block in the simulator (no subcompiler for
    PyInputModel), so an input-neuron layer runs as the LIF (LIFReset) it is, fed netx's input
    transform weight * x + bias through a RingBuffer; netx builds the rest with skip_layers=1 and
    the reset offsets it would have given them. Between samples every state Var (neuron u, v and
    synapse buffers) is set to zero.
    """
    x = job["x"].astype(np.int64)
    n, S = x.shape[:2]
    P = int(cfg["period"])
    ri, off, nl = cfg["reset_interval"], int(cfg["reset_offset"]), cfg["num_layers"]
    from lava.lib.dl.netx import hdf5
    from lava.magma.core.run_conditions import RunSteps
    from lava.magma.core.run_configs import Loihi2SimCfg
    from lava.proc.io.source import RingBuffer
    from lava.proc.lif.process import LIF, LIFReset
    from lava.proc.monitor.process import Monitor

    inp = _input_layer(cfg["net"], nl)
    feat = x.shape[2:]
    neurons, states = [], []
    if inp is not None:
        i_dec, v_dec, vth, w_in, b_in, shape = inp
        whc = tuple(shape[::-1])
        kw = dict(shape=whc, du=i_dec - 1, dv=v_dec, vth=vth, bias_mant=0, bias_exp=6)
        lif = LIF(**kw) if not ri else LIFReset(reset_interval=ri, reset_offset=off + 1, **kw)
        data = np.full((*whc, n * P), b_in, np.int64)
        for i in range(n):
            data[..., i * P:i * P + S] += w_in * _whc(x[i])
        src = RingBuffer(data=data.astype(np.int32))
        src.s_out.connect(lif.a_in)
        neurons.append(lif)
        states += [lif.u, lif.v]
        rest = None if nl == 1 else hdf5.Network(
            cfg["net"], num_layers=nl, skip_layers=1, input_message_bits=0,
            reset_interval=ri or None, reset_offset=off + 1)
        if rest is not None:
            lif.s_out.connect(rest.inp)
    else:
        data = np.zeros((*feat[::-1], n * P), np.int64)
        for i in range(n):
            data[..., i * P:i * P + S] = _whc(x[i])
        rest = hdf5.Network(cfg["net"], num_layers=nl, input_message_bits=cfg["input_message_bits"],
                            reset_interval=ri or None, reset_offset=off)
        src = RingBuffer(data=data.astype(np.int32))
        src.s_out.connect(rest.inp)
    if rest is not None:
        for lay in rest.layers:
            neurons.append(lay.neuron)
            states += [lay.neuron.u, lay.neuron.v]
            syn = getattr(lay, "synapse", None)
            for name in ("a_buff", "a_buf"):
                if syn is not None and hasattr(syn, name):
                    states.append(getattr(syn, name))
    steps = n * P
    mons = []
    for neu in neurons:
        m = Monitor()
        m.probe(neu.s_out, steps)
        mons.append(m)
    mv = Monitor()
    mv.probe(neurons[-1].v, steps)
    run_cfg = Loihi2SimCfg(select_tag="fixed_pt")
    t0 = time.perf_counter()
    src.run(condition=RunSteps(num_steps=1), run_cfg=run_cfg)
    t1 = time.perf_counter()
    if P > 1:
        src.run(condition=RunSteps(num_steps=P - 1), run_cfg=run_cfg)
    for _ in range(1, n):
        for var in states:
            var.set(np.zeros(var.shape, var.get().dtype))
        src.run(condition=RunSteps(num_steps=P), run_cfg=run_cfg)
    t2 = time.perf_counter()
    out = {}
    for k, m in enumerate(mons + [mv]):
        d = m.get_data()
        (pname,) = d.keys()
        (vname,) = d[pname].keys()
        arr = np.asarray(d[pname][vname])
        arr = arr.reshape(steps, *arr.shape[1:])
        arr = arr.transpose(0, *range(arr.ndim - 1, 0, -1))  # steps, C, H, W
        out[f"mon{k}"] = arr.astype(np.int64 if k == len(mons) else np.uint8)
    src.stop()
    out["timing"] = np.array([t1 - t0, t2 - t1, steps - 1])
    np.savez(out_path, **out)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])

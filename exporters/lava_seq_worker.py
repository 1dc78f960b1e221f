"""Child-process entry point: run a netx file in Lava (fixed_pt) on time-varying input (event
frames); never imported by the parent. Same network, reset schedule and recordings as
exporters/lava_worker.py, but job x is [N, T, *in_shape]: frame t of sample i is sent at step
i * P + t + 1 (P = T + layers) instead of one static frame for T steps."""

from __future__ import annotations

import json
import sys
import time

import numpy as np


def main(in_path: str, out_path: str) -> None:
    """Read job npz (net path, x [N, T, *in_shape] ints...), run Lava, write results npz."""
    import os

    os.environ.setdefault("OMP_NUM_THREADS", "1")  # one Lava process per layer: one thread each
    job = np.load(in_path, allow_pickle=False)
    cfg = json.loads(str(job["cfg"]))
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
    if x.shape[1] != T:
        raise SystemExit(f"inputs hold {x.shape[1]} frames per sample, the network runs T = {T}")
    feat = x.shape[2:]
    data = np.zeros((*feat[::-1], n * P), np.int32)
    rev = tuple(range(len(feat)))[::-1]
    for i in range(n):
        for t in range(T):
            data[..., i * P + t] = x[i, t].transpose(rev)  # CHW -> WHC
    src = RingBuffer(data=data)
    src.s_out.connect(net.inp)
    steps = n * P
    sinks = []
    if record:  # spikes into memory-mapped files: Monitor reads back one element at a time
        from pathlib import Path

        from exporters.lava_recorder import SpikeFileSink, new_recording

        for k, lay in enumerate(net.layers):
            path = str(Path(out_path).with_name(f"spikes{k}.npy"))
            shape = tuple(lay.neuron.s_out.shape)
            new_recording(path, steps, shape)
            sink = SpikeFileSink(shape=shape, path=path, steps=steps)
            lay.neuron.s_out.connect(sink.s_in)
            sinks.append(path)
    mv = Monitor()
    mv.probe(net.layers[-1].neuron.v, steps)
    run_cfg = Loihi2SimCfg(select_tag="fixed_pt")
    t0 = time.perf_counter()
    net.run(condition=RunSteps(num_steps=1), run_cfg=run_cfg)
    t1 = time.perf_counter()
    net.run(condition=RunSteps(num_steps=steps - 1), run_cfg=run_cfg)
    t2 = time.perf_counter()
    d = mv.get_data()
    (pname,) = d.keys()
    (vname,) = d[pname].keys()
    v = np.asarray(d[pname][vname]).reshape(steps, -1)
    net.stop()
    out = {}
    for k, path in enumerate(sinks):
        arr = np.load(path)
        out[f"mon{k}"] = arr.transpose(0, *range(arr.ndim - 1, 0, -1))  # steps, C, H, W
    out[f"mon{len(sinks)}"] = v.astype(np.int64)
    out["timing"] = np.array([t1 - t0, t2 - t1, steps - 1])
    np.savez(out_path, **out)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])

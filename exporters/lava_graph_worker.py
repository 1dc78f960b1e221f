"""Lava builder for a graph artefact (model.graph.h5): its process graph, built in the Lava child
process (exporters/lava_worker.py runs it); never imported by the parent (Lava is imported here only).

Process graph, built directly from the artefact (no netx: netx is sequential only):
  population   -> LIFReset (CUBA, fixed point): du = iDecay - 1 (Lava adds 1 back), dv = vDecay,
                  bias_mant per channel with bias_exp 6, vth = vThMant, reset at step depth + 1 of
                  each sample (the emulator's schedule); samples follow every P = T + depth(readout)
                  steps, or every P = T steps when pipelined (a population's window of one sample
                  ends right before the next sample's reaches it: same integers, depth times fewer
                  steps)
  conv synapse -> lava.proc.conv Conv (weights flipped and put in (out, W, H, in) order as netx
                  does, 24-bit wrap of the sums)
  dense        -> lava.proc.dense Dense (sign mode MIXED, 8 weight bits, exponent 0: our even
                  integers pass unchanged); a flatten before it reads the spikes in C, H, W order
  fan-in       -> every synapse's a_out connects to the same LIF a_in port (Lava sums them)
  delay d      -> a chain of d relay populations (identity weight 2 into an LIF with vth 0, no
                  current memory: it fires exactly when its input fired, one step later), shared
                  by every synapse that needs that source delayed; Lava's Conv has no delays
  input        -> RingBuffer of graded integer spikes (num_message_bits on the first synapses); a
                  synapse from the input with delay d reads a second RingBuffer holding the same
                  data d steps later (relays carry binary spikes, not graded input)
Recording: every population's s_out into a memory-mapped file (exporters/lava_recorder.py; Lava's
Monitor reads back one element at a time, far too slow for CIFAR-sized maps), the readout's v by a
Monitor (few neurons).
"""

from __future__ import annotations

import numpy as np


def _whc(shape: tuple[int, ...]) -> tuple[int, ...]:
    return tuple(shape[::-1])


def build(q, reset_interval: int):
    """(input port consumers [(synapse, flatten, delay)], {population: LIF}, {relay key: LIF})
    for a QuantGraph."""
    from lava.proc.conv.process import Conv
    from lava.proc.dense.process import Dense
    from lava.proc.lif.process import LIF, LIFReset
    from lava.utils.weightutils import SignMode

    P = reset_interval
    lif = {}
    for qp in q.populations:
        p = qp.pop
        shape = _whc(p.shape)
        b = np.asarray(qp.bias, np.int32)
        bias = np.broadcast_to(b, shape).copy() if len(shape) == 3 else b.reshape(shape).copy()
        lif[p.name] = LIFReset(shape=shape, du=int(p.i_decay) - 1, dv=int(p.v_decay),
                               bias_mant=bias, bias_exp=6, vth=int(qp.v_th_mant),
                               reset_interval=P, reset_offset=(int(p.depth) + 1) % P,
                               name=p.name)
    shapes = {"input": tuple(q.in_shape), **{qp.pop.name: tuple(qp.pop.shape) for qp in q.populations}}
    consumers: list = []  # InPorts fed by the input RingBuffer
    relays: dict[tuple[str, int], object] = {}

    def identity_synapse(shape):
        c = shape[0]
        if len(shape) == 3:
            w = (2 * np.eye(c, dtype=np.int32))[:, None, None, :]
            return Conv(weight=w, input_shape=_whc(shape), padding=(0, 0), stride=(1, 1),
                        dilation=(1, 1), groups=1, num_message_bits=0)
        return Dense(weights=2 * np.eye(c, dtype=np.int32), num_message_bits=0,
                     sign_mode=SignMode.MIXED, num_weight_bits=8, weight_exp=0)

    def source(src: str, delay: int):
        """OutPort of `src` delayed by `delay` extra steps (through relay populations)."""
        if delay == 0:
            return lif[src].s_out
        key = (src, delay)
        if key not in relays:
            prev = source(src, delay - 1)
            syn = identity_synapse(shapes[src])
            relay = LIF(shape=_whc(shapes[src]), du=4095, dv=0, bias_mant=0, bias_exp=0, vth=0,
                        name=f"relay:{src}:{delay}")
            prev.connect(syn.s_in)
            syn.a_out.connect(relay.a_in)
            relays[key] = relay
        return relays[key].s_out

    for qs in q.synapses:
        s = qs.syn
        bits = int(q.input_message_bits) if s.src == "input" else 0
        w = np.asarray(qs.weight, np.int32)
        if s.kind == "conv":
            syn = Conv(weight=w[:, :, ::-1, ::-1].transpose(0, 3, 2, 1).copy(),
                       input_shape=_whc(shapes[s.src]), padding=tuple(s.padding[::-1]),
                       stride=tuple(s.stride[::-1]), dilation=tuple(s.dilation[::-1]),
                       groups=int(s.groups), num_message_bits=bits)
        else:
            syn = Dense(weights=w, num_message_bits=bits, sign_mode=SignMode.MIXED,
                        num_weight_bits=8, weight_exp=0)
        if s.src == "input":  # graded input: delayed by a shifted copy of the input source
            consumers.append((syn, s.kind == "dense" and len(shapes["input"]) > 1, int(s.delay)))
        else:
            out = source(s.src, int(s.delay))
            if s.kind == "dense" and len(shapes[s.src]) > 1:
                out = out.transpose([2, 1, 0]).flatten()
            out.connect(syn.s_in)
        syn.a_out.connect(lif[s.dst].a_in)
    return consumers, lif, relays

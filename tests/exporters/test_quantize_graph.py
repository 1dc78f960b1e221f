"""Graph lowering to Loihi: shared scale per population, branch delays, artefact file, emulator
against a hand computation in integers (residual block with a stride-2 1x1 shortcut)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from graph_helpers import tiny_resnet

from exporters.emulator_graph import GraphEmulator, run_steps, run_windowed, valid_window
from exporters.errors import ExportError
from exporters.graph_file import read_graph, write_graph
from exporters.nir_graph import student_to_nir_graph
from exporters.quantize_graph import lower_graph, quantize_graph


@pytest.fixture(scope="module")
def qgraph():
    model = tiny_resnet()
    g = student_to_nir_graph(model)
    return model, g, quantize_graph(g, input_scale=16.0)


def test_branches_aligned_with_delays(qgraph):
    _, g, q = qgraph
    pops, syns = lower_graph(g)
    depth = {p.name: p.depth for p in pops}
    assert depth == {"input": 0, "sn1": 1, "layer1.0.sn1": 2, "layer1.0.sn2": 3,
                     "layer2.0.sn1": 4, "layer2.0.sn2": 5, "readout": 6}
    by = {(s.src, s.dst): s for s in syns}
    ident = by[("sn1", "layer1.0.sn2")]
    assert ident.identity and ident.delay == 1 and ident.weight[:, :, 0, 0].tolist() == np.eye(4).tolist()
    assert by[("layer1.0.sn1", "layer1.0.sn2")].delay == 0
    sc = by[("layer1.0.sn2", "layer2.0.sn2")]
    assert sc.name == "layer2.0.shortcut" and sc.delay == 1 and sc.stride == (2, 2)
    # global pooling folded into the readout: dense over the 6x4x4 spikes with weights / 16
    ro = by[("layer2.0.sn2", "readout")]
    assert ro.kind == "dense" and ro.weight.shape == (5, 96)
    assert q.latency_steps == q.timesteps + 6


def test_one_scale_per_population_shared_by_its_synapses(qgraph):
    _, g, q = qgraph
    pops, syns = lower_graph(g)
    qp = {p.pop.name: p for p in q.populations}["layer2.0.sn2"]
    fl = {s.name: s for s in syns}
    ins = {s.syn.name: s for s in q.synapses if s.syn.dst == "layer2.0.sn2"}
    assert set(ins) == {"layer2.0.conv2", "layer2.0.shortcut"}
    g_ = qp.pop.gain
    for name, s in ins.items():
        want = np.clip(2 * np.round(qp.scale * g_ * fl[name].weight / 2), -256, 254)
        assert np.array_equal(s.weight, want)
    b = fl["layer2.0.conv2"].bias + fl["layer2.0.shortcut"].bias
    assert np.array_equal(qp.bias, np.clip(np.round(qp.scale * g_ * b), -4096, 4095))
    assert qp.v_th_mant == round(qp.scale * qp.pop.v_th)
    rep = q.report()
    assert {e["name"] for e in rep["edges"]} >= {"layer2.0.shortcut", "layer1.0.sn2<-sn1"}
    assert [p["name"] for p in rep["populations"]][-1] == "readout"


def _conv_int(x, w, stride, pad):
    """Integer 2-d convolution by explicit sums over kernel offsets (x [B,C,H,W], w [O,C,kh,kw])."""
    b, c, h, wd = x.shape
    o, _, kh, kw = w.shape
    xp = np.zeros((b, c, h + 2 * pad[0], wd + 2 * pad[1]), np.int64)
    xp[:, :, pad[0]:pad[0] + h, pad[1]:pad[1] + wd] = x
    ho, wo = (h + 2 * pad[0] - kh) // stride[0] + 1, (wd + 2 * pad[1] - kw) // stride[1] + 1
    y = np.zeros((b, o, ho, wo), np.int64)
    for i in range(kh):
        for j in range(kw):
            patch = xp[:, :, i:i + stride[0] * ho:stride[0], j:j + stride[1] * wo:stride[1]]
            y += np.einsum("bchw,oc->bohw", patch, w[:, :, i, j])
    return y


def _trunc_decay(x, d):
    y = x * (4096 - d)
    return np.sign(y) * (np.abs(y) >> 12)


def _hand_run(q, x):
    """The whole quantized net in numpy integers, population by population over T steps."""
    T = q.timesteps
    spikes, v = {}, None
    for qp in q.populations:
        n, shape = qp.pop.name, qp.pop.shape
        a = np.zeros((T, x.shape[0], *shape), np.int64)
        for s in q.synapses:
            if s.syn.dst != n:
                continue
            for t in range(T):
                xin = x if s.syn.src == "input" else spikes[s.syn.src][t]
                if s.syn.kind == "conv":
                    a[t] += _conv_int(xin, s.weight, s.syn.stride, s.syn.padding)
                else:
                    a[t] += xin.reshape(len(xin), -1) @ s.weight.T
        bias = qp.bias.reshape(-1, *([1] * (len(shape) - 1)))
        u = np.zeros((x.shape[0], *shape), np.int64)
        v = np.zeros_like(u)
        out = []
        for t in range(T):
            u = _trunc_decay(u, qp.pop.i_decay) + a[t] * 64
            v = np.clip(_trunc_decay(v, qp.pop.v_decay) + u + bias * 64, -(2**23 - 1), 2**23 - 1)
            s_ = (v > qp.v_th_mant * 64).astype(np.int64)
            v = np.where(s_ > 0, 0, v)
            out.append(s_)
        spikes[n] = np.stack(out)
    return v, spikes


def test_emulator_matches_hand_computation_and_step_reference(qgraph, digits_like, tmp_path):
    _, _, q = qgraph
    write_graph(tmp_path / "m.graph.h5", q)
    q2 = read_graph(tmp_path / "m.graph.h5")
    x = np.round(digits_like[:6].numpy() * 16).astype(np.int64)
    v_hand, sp_hand = _hand_run(q2, x)
    emu = GraphEmulator(q2)
    v, sp = run_windowed(emu, torch.as_tensor(x))
    assert np.array_equal(v.numpy(), v_hand)
    for n, s in sp_hand.items():
        assert np.array_equal(sp[n].numpy(), s), n
    assert sp_hand["layer2.0.sn2"].sum() > 0 and sp_hand["layer1.0.sn2"].sum() > 0
    v_steps, rec = run_steps(emu, torch.as_tensor(x))
    win = valid_window(q2, rec)
    for n in sp:
        assert torch.equal(win[n], sp[n]), n
    assert torch.equal(v_steps[-1], v)


def test_quantized_logits_close_to_float(qgraph, digits_like):
    model, _, q = qgraph
    x = np.round(digits_like.numpy() * 16).astype(np.int64)
    v, _ = run_windowed(GraphEmulator(q), torch.as_tensor(x))
    logits = v.numpy() / (64 * q.readout.scale * q.timesteps)
    with torch.no_grad():
        ref = model(digits_like).numpy()
    assert (logits.argmax(1) == ref.argmax(1)).mean() >= 0.75
    assert np.abs(logits - ref).mean() < 0.25 * np.abs(ref).mean() + 1e-3


def test_corrupt_graph_file_is_named(tmp_path):
    from exporters.errors import SimulationError

    p = tmp_path / "bad.graph.h5"
    p.write_bytes(b"not hdf5")
    with pytest.raises(SimulationError, match="bad.graph.h5"):
        read_graph(p)


def test_sum_without_neuron_is_refused():
    import nir

    g = student_to_nir_graph(tiny_resnet())
    g.edges.append(("sn1", "layer1.0.conv2"))
    with pytest.raises(ExportError, match="only neurons may sum"):
        lower_graph(nir.NIRGraph(nodes=g.nodes, edges=g.edges, metadata=g.metadata))


def test_resources_per_population_with_relays(qgraph):
    """Neurons, wired synapses and fan-in per population against a count by hand."""
    from exporters.resources import load_target
    from exporters.resources_graph import graph_resources

    _, _, q = qgraph
    rep = graph_resources(q, load_target("loihi1"))
    rows = {r["name"]: r for r in rep["populations"]}
    ins = {s.syn.name: s for s in q.synapses}
    # layer2.0.sn2 (6x4x4): 3x3 conv2 (pad 1) from 6x4x4 plus the stride-2 1x1 shortcut from 4x8x8
    c2, sc = ins["layer2.0.conv2"].weight, ins["layer2.0.shortcut"].weight
    per_pos = np.zeros((6, 4, 4))
    for o in range(6):
        for i in range(4):
            for j in range(4):
                for di in range(3):
                    for dj in range(3):
                        a, b = i + di - 1, j + dj - 1
                        if 0 <= a < 4 and 0 <= b < 4:
                            per_pos[o, i, j] += np.count_nonzero(c2[o, :, di, dj])
                per_pos[o, i, j] += np.count_nonzero(sc[o, :, 0, 0])
    r = rows["layer2.0.sn2"]
    assert r["neurons"] == 96 and r["synapses"] == int(per_pos.sum())
    assert r["fan_in_max"] == int(per_pos.max())
    # the two delayed branches read sn1 and layer1.0.sn2 one step late: one relay each
    relays = [r for r in rep["populations"] if r["kind"] == "relay"]
    assert {r["name"] for r in relays} == {"relay:sn1:1", "relay:layer1.0.sn2:1"}
    assert rep["relay_neurons"] == 2 * 4 * 8 * 8
    assert rep["cores"] == len(rep["populations"])  # every population fits one Loihi 1 core here


def test_quantized_logits_close_to_float_on_event_frames(qgraph, digits_like):
    """A new frame every step ([N, T, C, H, W], as event data): the emulator follows the float
    student fed the same frames, and a static-input run of frame 0 would not."""
    model, _, q = qgraph
    T = q.timesteps
    rng = np.random.default_rng(3)
    frames = torch.stack([digits_like[:32] * float(rng.random() < 0.5 or t == 0)
                          for t in range(T)], 1)  # some steps blank
    x = np.round(frames.numpy() * 16).astype(np.int64)
    v, _ = run_windowed(GraphEmulator(q), torch.as_tensor(x))
    logits = v.numpy() / (64 * q.readout.scale * T)
    with torch.no_grad():
        ref = model(frames).numpy()
        static = model(frames[:, 0]).numpy()
    assert not np.allclose(ref, static)
    assert (logits.argmax(1) == ref.argmax(1)).mean() >= 0.75
    assert np.abs(logits - ref).mean() < 0.25 * np.abs(ref).mean() + 1e-3

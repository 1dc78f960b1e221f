"""Branching NIR graphs (residual skips) from other tools -> the graph format: the peer's own
outputs, the branch alignment, every refusal naming the node, CLI export/simulate/profile."""

from __future__ import annotations

import json
from pathlib import Path

import nir
import numpy as np
import pytest

from exporters.errors import ExportError
from exporters.nir_import import ImportOptions
from exporters.nir_import_graph import is_chain, lower_foreign_graph, quantize_foreign_graph
from exporters.nir_sim import simulate

FIX = Path(__file__).resolve().parents[1] / "fixtures" / "nir_peers"
SJ = FIX / "spikingjelly_residual.nir"


def _if(n, th=0.5):
    return nir.IF(r=np.ones(n), v_threshold=np.full(n, th), v_reset=np.zeros(n))


def _lin(w):
    return nir.Linear(weight=np.asarray(w, float))


def _hand_dag(readout_bias=(0.1, -0.2, 0.0)):
    """in -> l1 -> a; a -> l2 -> b; a -> b (identity skip); in -> l3 -> b (skip from the input,
    one step shallower: needs a delay); b -> l4 -> out (Affine readout)."""
    w4 = np.array([[1.0, 0.5, -0.5, 0.25], [0.0, 1.0, 1.0, -1.0], [0.5, 0.5, 0.5, 0.5]])
    nodes = {"in": nir.Input(np.array([4])), "l1": _lin(np.eye(4)), "a": _if(4),
             "l2": _lin(0.4 * np.eye(4)), "l3": _lin(0.4 * np.eye(4)), "b": _if(4),
             "l4": nir.Affine(weight=w4, bias=np.array(readout_bias)),
             "out": nir.Output(np.array([3]))}
    edges = [("in", "l1"), ("l1", "a"), ("a", "l2"), ("l2", "b"), ("a", "b"), ("in", "l3"),
             ("l3", "b"), ("b", "l4"), ("l4", "out")]
    return nir.NIRGraph(nodes=nodes, edges=edges), w4


def test_spikingjelly_residual_float_equals_library_spike_for_spike():
    graph, io = nir.read(str(SJ)), np.load(FIX / "spikingjelly_residual_io.npz")
    assert str(io["library"]) == "spikingjelly" and not is_chain(graph)
    r = simulate(graph, io["input"], float(io["dt"]))
    np.testing.assert_array_equal(r.outputs["lif3"].numpy(), io["spikes"])
    assert io["spikes"].sum() > 10 and r.outputs["lif2"].numpy().sum() > 100
    v = np.where(io["spikes"] > 0, 0.0, r.voltages["lif3"].numpy())  # SJ records after reset
    np.testing.assert_allclose(v, io["v"], atol=2e-5)


def test_spikingjelly_residual_lowers_to_populations_with_a_skip():
    q, readout, dt = quantize_foreign_graph(nir.read(str(SJ)), ImportOptions(dt=1e-4, timesteps=12))
    assert readout == "spikes" and q.readout_kind == "spikes" and dt == 1e-4
    assert [(p.pop.name, p.pop.neuron, p.pop.depth) for p in q.populations] == [
        ("lif1", "lif", 1), ("lif2", "lif", 2), ("lif3", "lif", 3)]
    into = sorted((s.syn.src, s.syn.identity) for s in q.incoming("lif2"))
    assert into == [("lif1", False), ("lif1", True)]  # conv2 and the identity skip, summed
    lif2 = q.populations[1]
    (ident,) = [s for s in q.incoming("lif2") if s.syn.identity]
    # identity weight: lambda * gain (a = dt/tau = 0.5), rounded to an even integer
    assert int(ident.weight.max()) == 2 * round(lif2.scale * 0.5 / 2)


def test_hand_dag_aligns_branches_and_matches_the_float_interpreter():
    """b gets a_t (skip) + 0.4 a_t + 0.4 x_t = 1.8 x_t only if the input skip waits one step."""
    graph, w4 = _hand_dag()
    pops, syns, readout = lower_foreign_graph(graph, 1.0)
    assert readout == "voltage" and [p.name for p in pops] == ["input", "a", "b", "out"]
    assert {s.name: s.delay for s in syns} == {"l1": 0, "l2": 0, "b<-a": 0, "l3": 1, "l4": 0}
    from exporters.emulator_graph import GraphEmulator, run_samples
    from exporters.quantize_graph import quantize_lowered

    T = 10
    q = quantize_lowered(pops, syns, T, input_scale=1.0, input_max=1.0)
    x = (np.random.default_rng(0).random((6, T, 4)) < 0.5).astype(np.int64)  # streams
    v, sp = run_samples(GraphEmulator(q), x)
    np.testing.assert_array_equal(sp["a"].transpose(1, 0, 2), x)
    np.testing.assert_array_equal(sp["b"].transpose(1, 0, 2), x)
    fr = simulate(graph, x.transpose(1, 0, 2).astype(float), 1.0)
    np.testing.assert_array_equal(fr.outputs["b"].numpy(), sp["b"])
    logits = x.sum(1) @ w4.T + T * np.array([0.1, -0.2, 0.0])  # Affine -> Output: summed current
    np.testing.assert_allclose(fr.outputs["l4"].numpy().sum(0), logits, atol=1e-9)
    ro = q.readout
    np.testing.assert_allclose(v / (64 * ro.scale), logits, atol=0.02 * np.abs(logits).max())


@pytest.mark.parametrize("change,match", [
    (lambda n, e: n.__setitem__("b", nir.LIF(tau=np.full(4, 1e-4), r=np.ones(4),
                                             v_leak=np.zeros(4), v_threshold=np.ones(4),
                                             v_reset=np.zeros(4))),
     r"NIR node 'b' \(LIF\).*outside \(0, 1\]"),
    (lambda n, e: n.__setitem__("b", nir.IF(r=np.ones(4), v_threshold=np.ones(4),
                                            v_reset=np.full(4, 0.2))), r"NIR node 'b' \(IF\): v_reset"),
    (lambda n, e: n.__setitem__("l2", nir.Delay(np.ones(4))), r"'l2' \(Delay\) cannot be mapped"),
    (lambda n, e: e.append(("b", "l1")), r"cycle .*node 'a'|cycle .*node 'b'|cycle .*node 'l1'"),
    (lambda n, e: n.__setitem__("a", nir.LI(tau=np.ones(4), r=np.ones(4), v_leak=np.zeros(4))),
     r"NIR node 'a' \(LI\) is a non-spiking neuron in the middle"),
    (lambda n, e: (n.__setitem__("dead", _if(4)), e.append(("l3", "dead"))),
     r"Output output_dead, out"),
])
def test_graph_refusals_name_the_node(change, match):
    graph, _ = _hand_dag()
    nodes, edges = dict(graph.nodes), list(graph.edges)
    change(nodes, edges)
    g = nir.NIRGraph(nodes=nodes, edges=edges)
    with pytest.raises(ExportError, match=match):
        lower_foreign_graph(g, 1.0)


def test_graph_without_dt_is_refused():
    graph, _ = _hand_dag()
    with pytest.raises(ExportError, match="--dt SECONDS"):
        quantize_foreign_graph(graph, ImportOptions())


@pytest.mark.lava
def test_cli_export_simulate_profile_of_a_residual_peer_graph(cli, tmp_path):
    out = tmp_path / "exp"
    r = cli("export", SJ, "--target", "loihi", "--out", out)
    assert r.exit_code == 2 and "--dt" in r.output
    r = cli("export", SJ, "--target", "loihi", "--dt", "1e-4", "--timesteps", "12", "--out", out)
    assert r.exit_code == 0, r.output
    assert (out / "model.graph.h5").is_file() and not (out / "model.net").exists()
    q = json.loads((out / "quantization.json").read_text())
    assert q["source"] == "nir-import" and q["readout_kind"] == "spikes"
    io = np.load(FIX / "spikingjelly_residual_io.npz")
    np.save(tmp_path / "xs.npy", io["input"].transpose(1, 0, 2, 3, 4))  # the library's streams
    js = tmp_path / "r.json"
    r = cli("simulate", out, "--input", tmp_path / "xs.npy", "--compare", "--json", js)
    assert r.exit_code == 0, r.output
    res = json.loads(js.read_text())
    assert res["input"] == "stream"
    assert [a["layer"] for a in res["float_vs_emulator"]] == ["lif1", "lif2", "lif3"]
    assert all(a["identical_fraction"] > 0.7 for a in res["float_vs_emulator"])  # 8-bit weights
    # Lava takes the same streams (a new frame every step) and agrees spike for spike
    assert all(a["identical_fraction"] == 1.0 for a in res["agreement"]) and res["readout_equal"]
    x = (np.random.default_rng(3).random((5, 2, 8, 8)) < 0.4).astype(np.int64)
    np.save(tmp_path / "x.npy", x)
    r = cli("profile", out, "--input", tmp_path / "x.npy", "--out", tmp_path / "prof")
    assert r.exit_code == 0, r.output
    rep = json.loads((tmp_path / "prof" / "report.json").read_text())
    _check_graph_synops(out, rep, x)


def _check_graph_synops(out, rep, x):
    """lif2's SynOps = lif1 spikes x conv2's fan-out (kernel x output channels, borders included,
    as the chain profiler counts convs) + 1 per spike (the identity skip)."""
    import torch

    from exporters.emulator_graph import GraphEmulator, run_samples
    from exporters.graph_file import read_graph

    q = read_graph(out / "model.graph.h5")
    _, sp = run_samples(GraphEmulator(q), x)
    (conv2,) = [s for s in q.incoming("lif2") if not s.syn.identity]
    mask = torch.ones(conv2.weight.shape, dtype=torch.float64)
    ones = torch.ones(1, 4, 8, 8, dtype=torch.float64, requires_grad=True)
    torch.nn.functional.conv2d(ones, mask, padding=1).sum().backward()
    fan = ones.grad[0].numpy()  # per input position: synapses it drives
    counts = sp["lif1"].sum((0, 1))
    want = float((counts * fan).sum() + counts.sum()) / len(x)
    row = {r["layer"]: r for r in rep["layers"]}["lif2"]
    assert row["synops"] == pytest.approx(want)
    assert row["spikes"] == pytest.approx(sp["lif2"].sum() / len(x))


@pytest.mark.lava
def test_emulator_equals_lava_on_the_residual_peer_graph(tmp_path):
    from exporters.lava import lava_available

    if not lava_available():
        pytest.skip("lava-nc/lava-dl not installed (Python 3.10 only)")
    from exporters.nir_pipeline import export_nir
    from exporters.pipeline import simulate as sim

    out = tmp_path / "e"
    export_nir(SJ, out=out, opts=ImportOptions(dt=1e-4, timesteps=12))
    x = (np.random.default_rng(2).random((4, 2, 8, 8)) < 0.4).astype(np.int64)
    r = sim(out, compare=True, x_int=x, samples=4, timeout_s=300)
    assert [a["identical_fraction"] for a in r["agreement"]] == [1.0, 1.0, 1.0]
    assert all(a["spikes"] > 0 for a in r["agreement"])
    assert r["readout_equal"]

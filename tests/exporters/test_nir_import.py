"""NIR graphs written by other tools: float interpretation vs the library's own outputs, lowering
to Loihi fixed point, errors that name the node, CLI export/simulate of imported graphs."""

from __future__ import annotations

import json
from pathlib import Path

import nir
import numpy as np
import pytest

from exporters.errors import ExportError
from exporters.nir_import import ImportOptions, graph_dt, lower_foreign, quantize_foreign
from exporters.nir_sim import simulate

FIX = Path(__file__).resolve().parents[1] / "fixtures" / "nir_peers"
# The step each library's neurons assume, and its discretization (docs/nir_peers.md).
PEERS = {
    "snntorch": (1e-4, "euler"), "snntorch_conv": (1e-4, "euler"),
    "spikingjelly": (1e-4, "euler"), "spikingjelly_conv": (1e-4, "euler"),
    "sinabs": (1.0, "exact"), "sinabs_conv": (1.0, "euler"),
    "norse": (1e-6, "euler"),  # Norse 1.1 writes tau = dt * tau_mem: read it at dt**2
}


def _load(name: str):
    return nir.read(str(FIX / f"{name}.nir")), np.load(FIX / f"{name}_io.npz")


@pytest.mark.parametrize("name", sorted(PEERS))
def test_peer_graph_float_equals_library_spike_for_spike(name):
    graph, io = _load(name)
    dt, disc = PEERS[name]
    r = simulate(graph, io["input"], dt, discretization=disc)
    spikes = r.output.numpy()
    assert spikes.shape == io["spikes"].shape
    assert io["spikes"].sum() > 10  # the fixture exercises spiking at all
    np.testing.assert_array_equal(spikes, io["spikes"])
    if np.any(io["v"]) and str(io["library"]) != "sinabs":  # sinabs: spikes only (its Squeeze
        # layers' recordings are not in a [T, B] layout we can rely on)
        # recorded voltages: snnTorch before reset, Norse and SpikingJelly after it
        last = r.outputs[r.output_node]
        v_pre = r.voltages[[n for n in r.voltages][-1]].numpy()
        v = v_pre if str(io["library"]) == "snntorch" else np.where(last.numpy() > 0, 0.0, v_pre)
        np.testing.assert_allclose(v.reshape(io["v"].shape), io["v"], atol=2e-5)


def test_wrong_dt_or_discretization_changes_the_answer():
    """The dt matters: SpikingJelly read at snn2hw's old silent 1e-3 default, sinabs with Euler."""
    graph, io = _load("spikingjelly")
    with pytest.raises(ExportError, match="outside"):
        lower_foreign(graph, 1e-3)  # dt/tau = 5 > 1: refused, not silently wrong
    graph, io = _load("sinabs")
    euler = simulate(graph, io["input"], 1.0, discretization="euler").output.numpy()
    assert not np.array_equal(euler, io["spikes"])


def test_graph_without_dt_is_refused_with_the_fix():
    graph, _ = _load("snntorch")
    with pytest.raises(ExportError, match="--dt SECONDS"):
        graph_dt(graph, None)
    assert graph_dt(graph, 1e-4) == 1e-4


def _chain(*nodes, names=None):
    names = names or [f"n{i}" for i in range(len(nodes))]
    d = dict(zip(names, nodes))
    return nir.NIRGraph(nodes=d, edges=list(zip(names[:-1], names[1:])))


def _lif(n, tau=2e-3, **kw):
    p = dict(tau=np.full(n, tau), r=np.ones(n), v_leak=np.zeros(n), v_threshold=np.ones(n),
             v_reset=np.zeros(n))
    p.update({k: np.broadcast_to(np.asarray(v, float), (n,)).copy() for k, v in kw.items()})
    return nir.LIF(**p)


def _affine(o, i, seed=0):
    g = np.random.default_rng(seed)
    return nir.Affine(weight=g.normal(0, 1, (o, i)), bias=np.zeros(o))


def test_spiking_output_graph_keeps_its_order_and_reads_spikes():
    g = _chain(nir.Input(np.array([6])), _affine(4, 6), _lif(4), _affine(3, 4, 1), _lif(3),
               nir.Output(np.array([3])))
    layers, readout = lower_foreign(g, 1e-3)
    assert readout == "spikes"
    assert [lay.sources for lay in layers] == [["n1", "n2"], ["n3", "n4"]]
    assert [lay.neuron for lay in layers] == ["lif", "lif"]


def test_lif_parameters_map_with_r_and_v_leak():
    """v += a (v_leak - v) + a r x with a = dt/tau: vDecay 4096 a, gain a r, bias a v_leak/gain."""
    g = _chain(nir.Input(np.array([2])), nir.Affine(weight=np.eye(2), bias=np.array([0.1, 0.2])),
               _lif(2, tau=4e-3, r=3.0, v_leak=0.5), nir.Output(np.array([2])))
    (lay,), _ = lower_foreign(g, 1e-3)
    assert lay.v_decay == 1024 and lay.gain == pytest.approx(0.75)
    np.testing.assert_allclose(lay.gain * lay.bias, 0.75 * np.array([0.1, 0.2]) + 0.25 * 0.5)


@pytest.mark.parametrize("node,match", [
    (_lif(4, tau=1e-4), r"NIR node 'n2' \(LIF\).*outside \(0, 1\]"),
    (_lif(4, v_reset=0.3), r"NIR node 'n2' \(LIF\): v_reset"),
    (_lif(4, v_threshold=[1, 1, 2, 1]), r"NIR node 'n2' \(LIF\): v_threshold differs"),
])
def test_out_of_range_parameters_name_the_node(node, match):
    g = _chain(nir.Input(np.array([6])), _affine(4, 6), node, nir.Output(np.array([4])))
    with pytest.raises(ExportError, match=match):
        lower_foreign(g, 1e-3)


def test_unmappable_node_and_branch_are_named():
    g = _chain(nir.Input(np.array([6])), _affine(4, 6), nir.Delay(np.ones(4)),
               nir.Output(np.array([4])))
    with pytest.raises(ExportError, match=r"'n2'"):
        lower_foreign(g, 1e-3)
    nodes = {"in": nir.Input(np.array([4])), "a": _affine(4, 4), "b": _affine(4, 4, 1),
             "lif": _lif(4), "out": nir.Output(np.array([4]))}
    g = nir.NIRGraph(nodes=nodes, edges=[("in", "a"), ("in", "b"), ("a", "lif"), ("b", "lif"),
                                         ("lif", "out")])
    with pytest.raises(ExportError, match="'in'|'lif'"):
        lower_foreign(g, 1e-3)


def test_fan_in_edges_sum_in_the_float_interpreter():
    nodes = {"in": nir.Input(np.array([2])), "a": nir.Linear(weight=np.eye(2)),
             "b": nir.Scale(scale=np.array([2.0, 3.0])), "out": nir.Output(np.array([2]))}
    g = nir.NIRGraph(nodes=nodes, edges=[("in", "a"), ("in", "b"), ("a", "out"), ("b", "out")])
    r = simulate(g, np.array([[[1.0, 1.0]]]), 1e-3)
    np.testing.assert_allclose(r.output.numpy(), [[[3.0, 4.0]]])


def test_cuba_lif_float_equations_by_hand():
    n = nir.CubaLIF(tau_syn=np.array([2e-3]), tau_mem=np.array([4e-3]), r=np.array([2.0]),
                    v_leak=np.array([0.0]), v_threshold=np.array([10.0]), v_reset=np.array([0.0]),
                    w_in=np.array([3.0]))
    g = _chain(nir.Input(np.array([1])), n, nir.Output(np.array([1])))
    r = simulate(g, np.ones((2, 1, 1)), 1e-3)
    i1 = 0.5 * 3.0
    v1 = 0.25 * 2.0 * i1
    i2 = i1 + 0.5 * (3.0 - i1)
    v2 = v1 + 0.25 * (-v1) + 0.25 * 2.0 * i2
    np.testing.assert_allclose(r.voltages["n1"].numpy().ravel(), [v1, v2])


def test_quantized_peer_net_tracks_float_closely():
    graph, io = _load("snntorch_conv")
    q, readout, dt = quantize_foreign(graph, ImportOptions(dt=1e-4, timesteps=12))
    assert readout == "spikes" and dt == 1e-4 and q.input_message_bits == 0
    assert [lay.float_layer.sources for lay in q.layers] == [["0", "1"], ["2", "4", "5"]]
    assert all(-256 <= lay.weight.min() and lay.weight.max() <= 254 for lay in q.layers)


def test_cli_export_and_simulate_imported_graph(cli, tmp_path):
    out = tmp_path / "exp"
    r = cli("export", FIX / "snntorch.nir", "--target", "loihi", "--out", out)
    assert r.exit_code == 2 and "--dt" in r.output
    r = cli("export", FIX / "snntorch.nir", "--dt", "1e-4", "--timesteps", "12", "--out", out)
    assert r.exit_code == 0, r.output
    q = json.loads((out / "quantization.json").read_text())
    assert q["source"] == "nir-import" and "run_dir" not in q and q["dt"] == 1e-4
    x = (np.random.default_rng(0).random((6, 20)) < 0.3).astype(np.int64)
    np.save(tmp_path / "x.npy", x)
    r = cli("simulate", out)
    assert r.exit_code == 2 and "--input" in r.output
    r = cli("simulate", out, "--input", tmp_path / "x.npy", "--timesteps", "5")
    assert r.exit_code == 2 and "--timesteps 5" in r.output
    js = tmp_path / "r.json"
    r = cli("simulate", out, "--input", tmp_path / "x.npy", "--json", js)
    assert r.exit_code == 0, r.output
    assert json.loads(js.read_text())["samples"] == 6
    r = cli("profile", out)
    assert r.exit_code == 2 and "--input" in r.output
    r = cli("profile", out, "--input", tmp_path / "x.npy", "--out", tmp_path / "prof")
    assert r.exit_code == 0, r.output
    rep = json.loads((tmp_path / "prof" / "report.json").read_text())
    _check_synops_by_hand(out, rep, x)


def _check_synops_by_hand(export_dir, rep, x):
    """SynOps = each input/hidden spike x the non-zero integer weights it drives, per sample."""
    import h5py

    from exporters.emulator import Emulator, run_samples

    with h5py.File(export_dir / "model.net") as f:
        w1, w2 = (np.asarray(f[f"layer/{k}/weight"]) for k in (1, 2))
    T = rep["timesteps"]
    _, sp = run_samples(Emulator(export_dir / "model.net"), x, T)
    syn0 = T * sum(int(np.count_nonzero(w1[:, j])) * x[:, j].sum() for j in range(20)) / len(x)
    hidden = sp[0].sum((0, 1))
    syn1 = sum(int(np.count_nonzero(w2[:, j])) * hidden[j] for j in range(16)) / len(x)
    assert [lay["synops"] for lay in rep["layers"]] == pytest.approx([syn0, syn1])
    assert rep["layers"][1]["spikes"] == pytest.approx(sp[1].sum() / len(x))


def test_emulator_compare_without_lava_matches_float_mostly(tmp_path):
    """simulate --compare's float column: the interpreter on the same static inputs."""
    from exporters.nir_pipeline import export_nir, float_run, imported_export

    out = tmp_path / "e"
    export_nir(FIX / "spikingjelly.nir", out=out, opts=ImportOptions(dt=1e-4, timesteps=12))
    q = imported_export(out)
    x = (np.random.default_rng(1).random((8, 20)) < 0.3).astype(np.int64)
    _, fr = float_run(out, q, x)
    from exporters.emulator import Emulator, run_samples

    _, sp = run_samples(Emulator(out / "model.net"), x, 12)
    float_hidden = fr.outputs["_1"].numpy()
    agree = (float_hidden == sp[0]).all(0).mean()
    assert agree > 0.8  # 8-bit weights: close to the float net, not equal


@pytest.mark.lava
def test_emulator_equals_lava_on_peer_conv_graph(tmp_path):
    from exporters.lava import lava_available

    if not lava_available():
        pytest.skip("lava-nc/lava-dl not installed (Python 3.10 only)")
    from exporters.nir_pipeline import export_nir
    from exporters.pipeline import simulate as sim

    out = tmp_path / "e"
    export_nir(FIX / "snntorch_conv.nir", out=out, opts=ImportOptions(dt=1e-4, timesteps=12))
    x = (np.random.default_rng(2).random((4, 2, 8, 8)) < 0.3).astype(np.int64)
    r = sim(out, compare=True, x_int=x, samples=4, timeout_s=300)
    assert [a["identical_fraction"] for a in r["agreement"]] == [1.0, 1.0]
    assert sum(a["spikes"] for a in r["agreement"]) > 0
    assert r["readout_equal"]
    assert all(a["identical_fraction"] > 0.8 for a in r["float_vs_emulator"])


def test_retime_keeps_the_dynamics_at_the_new_dt():
    from exporters.nir_import import retime

    graph, io = _load("snntorch")
    graph.metadata = {"dt": 1e-4}
    g2 = retime(graph, 1e-3)
    assert g2.metadata["dt"] == 1e-3
    a = simulate(graph, io["input"], 1e-4).output.numpy()
    b = simulate(g2, io["input"], 1e-3).output.numpy()
    np.testing.assert_array_equal(a, b)


def test_cli_nir_dt_rescales_a_run_export(cli, tiny_run, tmp_path):
    out = tmp_path / "n"
    r = cli("export", tiny_run, "--target", "nir", "--nir-dt", "1e-4", "--out", out)
    assert r.exit_code == 0, r.output
    g = nir.read(str(out / "model.nir"))
    assert float(g.metadata["dt"]) == 1e-4
    r = cli("export", tiny_run, "--target", "loihi", "--nir-dt", "1e-4", "--out", tmp_path / "m")
    assert r.exit_code == 2 and "--nir-dt" in r.output


@pytest.mark.parametrize("name", ["snntorch", "snntorch_conv", "spikingjelly", "spikingjelly_conv",
                                  "sinabs_conv", "norse"])
def test_nir_to_student_runs_peer_graphs_like_the_library(name):
    """exporters.nir.nir_to_student: dt required, r / v_leak folded, spiking output kept last."""
    import torch

    from exporters.nir import nir_to_student
    from snn2hw.neurons import SpikingNeuron

    graph, io = _load(name)
    with pytest.raises(ExportError, match="--dt"):
        nir_to_student(graph)
    model = nir_to_student(graph, dt=PEERS[name][0]).eval()
    assert isinstance(list(model.body.children())[-1], SpikingNeuron)  # order kept
    x = torch.as_tensor(io["input"]).float().transpose(0, 1)  # [B, T, ...]
    with torch.no_grad():
        spikes, _ = model.forward_sequence(x)
    np.testing.assert_array_equal(spikes.numpy(), io["spikes"])


def test_nir_to_student_refuses_a_leak_out_of_range():
    from exporters.nir import nir_to_student

    graph, _ = _load("spikingjelly")
    with pytest.raises(ExportError, match=r"NIR node '_1' \(LIF\).*outside"):
        nir_to_student(graph, dt=1e-3)  # the old silent default: dt/tau = 5


def test_norse_cuba_needs_the_w_in_fix_and_fix_norse_gives_equal_spikes(cli, tmp_path):
    """Norse 1.1 writes tau = dt * tau and no w_in: dt**2 alone is not enough for CubaLIF."""
    from exporters.nir_import import fix_norse

    graph, io = _load("norse_cuba")
    at_dt2 = simulate(graph, io["input"], 1e-6).output.numpy()
    assert not np.array_equal(at_dt2, io["spikes"])
    fixed = simulate(fix_norse(graph, 1e-3), io["input"], 1e-3).output.numpy()
    np.testing.assert_array_equal(fixed, io["spikes"])
    r = cli("export", FIX / "norse_cuba.nir", "--dt", "1e-3", "--fix-norse", "--out", tmp_path / "e")
    assert r.exit_code == 0, r.output
    q = json.loads((tmp_path / "e" / "quantization.json").read_text())
    assert q["fix_norse"] and [lay["neuron"] for lay in q["layers"]] == ["cuba", "cuba"]


@pytest.mark.lava
def test_stream_input_emulator_equals_lava_and_compare_shows_all_three(cli, tmp_path):
    """--input [N, T, *in_shape] on Lava: a new frame every step, spike for spike as the emulator."""
    from exporters.lava import lava_available

    if not lava_available():
        pytest.skip("lava-nc/lava-dl not installed (Python 3.10 only)")
    graph, io = _load("norse")
    out = tmp_path / "e"
    assert cli("export", FIX / "norse.nir", "--dt", "1e-6", "--timesteps", "12",
               "--out", out).exit_code == 0
    x = io["input"].transpose(1, 0, 2).astype(np.int64)[:3]  # [N, T, 20]
    np.save(tmp_path / "x.npy", x)
    js = tmp_path / "r.json"
    r = cli("simulate", out, "--input", tmp_path / "x.npy", "--compare", "--json", js)
    assert r.exit_code == 0, r.output
    res = json.loads(js.read_text())
    assert {"emulator", "lava", "float"} <= set(res)
    assert [a["identical_fraction"] for a in res["agreement"]] == [1.0, 1.0]
    assert sum(a["spikes"] for a in res["agreement"]) > 0
    assert res["readout_equal"]
    from exporters.lava import run_lava

    static = run_lava(out / "model.net", x[:, 0], timesteps=12, num_layers=2,
                      input_message_bits=0, timeout_s=300)  # frame 0 held: other spikes
    assert not all(np.array_equal(a, b) for a, b in
                   zip(static.spikes, [np.asarray(v) for v in _lava_stream_spikes(out, x)]))


def _lava_stream_spikes(out, x):
    from exporters.lava import run_lava

    return run_lava(out / "model.net", x, timesteps=12, num_layers=2, input_message_bits=0,
                    timeout_s=300, per_step=True).spikes


def test_stream_input_runs_the_library_input_on_the_emulator(cli, tmp_path):
    """--input [N, T, *in_shape]: the library's own time-varying input, emulator + float."""
    graph, io = _load("norse")
    out = tmp_path / "e"
    assert cli("export", FIX / "norse.nir", "--dt", "1e-6", "--timesteps", "12",
               "--out", out).exit_code == 0
    x = io["input"].transpose(1, 0, 2).astype(np.int64)  # [N, T, 20]
    np.save(tmp_path / "x.npy", x)
    js = tmp_path / "r.json"
    r = cli("simulate", out, "--input", tmp_path / "x.npy", "--json", js)
    assert r.exit_code == 0, r.output
    assert json.loads(js.read_text())["input"] == "stream"
    from exporters.nir_pipeline import imported_export, simulate_stream

    res = simulate_stream(out, imported_export(out), x, None, backend="emulator", samples=10,
                          compare=True, device="cpu")
    assert res["input"] == "stream" and len(res["float_vs_emulator"]) == 2
    np.save(tmp_path / "x5.npy", x[:, :5])
    r = cli("simulate", out, "--input", tmp_path / "x5.npy")
    assert r.exit_code == 2 and "--timesteps 5" in r.output


def test_interpreter_reproduces_snn2hw_students_from_their_nir(digits_like):
    """Our own files, read with NIR's equations at their metadata dt: the student's logits."""
    import torch
    from export_helpers import conv_student

    from exporters.nir import student_to_nir

    m = conv_student(timesteps=6)
    g = student_to_nir(m)
    x = digits_like[:5].numpy()
    r = simulate(g, np.broadcast_to(x[None], (6, *x.shape)), graph_dt(g, None))
    with torch.no_grad():
        logits = m(torch.as_tensor(x)).numpy()
    np.testing.assert_allclose(r.output.numpy().mean(0), logits, atol=1e-5)
    assert r.outputs["lif3"].sum() > 0

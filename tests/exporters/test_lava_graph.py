"""Graph artefacts (residual students) in Lava: the process graph built from model.graph.h5 agrees
with the graph emulator spike for spike on every population. Select: -m lava."""

from __future__ import annotations

import json

import numpy as np
import pytest
from graph_helpers import tiny_resnet

from exporters.emulator_graph import GraphEmulator, run_samples
from exporters.graph_file import read_graph, write_graph
from exporters.lava import lava_available
from exporters.lava_graph import run_lava_graph
from exporters.nir_graph import student_to_nir_graph
from exporters.quantize_graph import quantize_graph
from snn2hw.neurons import PRESETS

pytestmark = [
    pytest.mark.lava,
    pytest.mark.skipif(not lava_available(), reason="lava-nc/lava-dl not installed (Python 3.10 only)"),
]


def _both(q, tmp_path, x, pipelined=False):
    path = tmp_path / "model.graph.h5"
    write_graph(path, q)
    v, sp = run_samples(GraphEmulator(read_graph(path)), x)
    lr = run_lava_graph(path, x, timeout_s=240, pipelined=pipelined)
    return v, sp, lr


def _with_extra_conv(src: str, dst: str, shape, *, stride: int, seed: int, offset: float):
    """tiny_resnet's graph plus one 3x3 conv (weights U(0, 1) - offset) from src straight into
    dst, quantized: a synapse that needs a branch delay of depth(dst) - depth(src) - 1."""
    import nir
    import torch

    g = student_to_nir_graph(tiny_resnet(PRESETS["idsnn"]))
    w = torch.rand(shape, generator=torch.Generator().manual_seed(seed)) - offset
    nodes = {**g.nodes, "extra": nir.Conv2d(input_shape=(8, 8), weight=w.numpy(), stride=stride,
                                            padding=1, dilation=1, groups=1,
                                            bias=np.zeros(shape[0]))}
    g = nir.NIRGraph(nodes=nodes, edges=[*g.edges, (src, "extra"), ("extra", dst)])
    return quantize_graph(g, input_scale=16.0)


def _assert_agree(v, sp, lr):
    """Lava equals the emulator on every population and the readout; the spiking ones fire
    (an all-silent net would agree trivially)."""
    for name, s in sp.items():
        assert np.array_equal(lr.spikes[name], s), f"{name}: {np.argwhere(lr.spikes[name] != s)[:3]}"
    assert np.array_equal(lr.v_readout, v)
    assert all(s.sum() > 0 for name, s in sp.items() if name != "readout")


@pytest.mark.parametrize("preset,pipelined", [("idsnn", False), ("kdsnn", True)])
def test_tiny_residual_net_lava_equals_emulator(preset, pipelined, tmp_path):
    """Identity shortcut (delay 1) + stride-2 1x1-conv shortcut (delay 1), LIF or IF neurons;
    samples one after the other, or pipelined (a new sample every T steps)."""
    q = quantize_graph(student_to_nir_graph(tiny_resnet(PRESETS[preset])), input_scale=16.0)
    assert sorted(s.syn.delay for s in q.synapses)[-2:] == [1, 1]
    x = np.random.default_rng(0).integers(0, 17, (3, 1, 8, 8))
    v, sp, lr = _both(q, tmp_path, x, pipelined)
    assert lr.steps == (3 * q.timesteps if pipelined else 3 * q.latency_steps) + \
        (q.latency_steps - q.timesteps if pipelined else 0) - 1
    assert set(lr.spikes) == {p.pop.name for p in q.populations}
    shapes = {p.pop.name: tuple(p.pop.shape) for p in q.populations}
    for name, s in sp.items():
        assert lr.spikes[name].shape == s.shape == (q.timesteps, 3, *shapes[name])
        assert np.array_equal(lr.spikes[name], s), f"{name}: {np.argwhere(lr.spikes[name] != s)[:3]}"
    assert np.array_equal(lr.v_readout, v)
    # the spiking populations really fire (an all-silent net would agree trivially)
    assert all(s.sum() > 0 for name, s in sp.items() if name != "readout")
    assert lr.relays == 2  # one relay population per delayed source (sn1, layer1.0.sn2)
    assert v.shape == (3, 5) and np.any(v != 0)


def test_tiny_residual_net_on_event_frames_lava_equals_emulator(tmp_path):
    """Frames [N, T, C, H, W] (a new frame every step, as event data): Lava equals the emulator
    spike for spike, and the result differs from holding frame 0 (the frames are really used)."""
    q = quantize_graph(student_to_nir_graph(tiny_resnet(PRESETS["idsnn"])), input_scale=16.0)
    x = np.random.default_rng(1).integers(0, 17, (2, q.timesteps, 1, 8, 8))
    v, sp, lr = _both(q, tmp_path, x)
    _assert_agree(v, sp, lr)
    v0, sp0 = run_samples(GraphEmulator(q), x[:, 0])
    assert any(not np.array_equal(sp0[k], sp[k]) for k in sp)


def test_cli_simulate_graph_with_lava_and_compare(resnet_run, cli, tmp_path):
    run, _ = resnet_run
    assert cli("export", run, "--target", "loihi").exit_code == 0
    out = run / "export"
    r = cli("simulate", out, "--compare", "--samples", "2", "--json", tmp_path / "c.json")
    assert r.exit_code == 0, r.output
    res = json.loads((tmp_path / "c.json").read_text())
    q = read_graph(out / "model.graph.h5")
    assert [a["layer"] for a in res["agreement"]] == [p.pop.name for p in q.populations]
    assert all(a["identical_fraction"] == 1.0 for a in res["agreement"])
    assert res["readout_equal"] is True
    assert res["lava"]["accuracy"] == res["emulator"]["accuracy"]
    for word in ("float accuracy", "emulator accuracy", "lava accuracy", "agreement readout",
                 "readout voltages equal"):
        assert word in r.output
    r = cli("simulate", out, "--backend", "lava", "--samples", "1")
    assert r.exit_code == 0, r.output
    assert "lava accuracy" in r.output and "emulator accuracy" not in r.output


def test_relay_chain_for_a_delay_of_three_steps_lava_equals_emulator(tmp_path):
    """An extra 3x3 stride-2 conv from sn1 (depth 1) straight into layer2.0.sn2 (depth 5) needs a
    delay of 3 steps (a chain of relay populations in Lava): Lava equals the windowed emulator,
    the step-by-step reference (which applies the delay buffers) equals it too, and the delay
    matters (the same synapse at delay 1 gives other spikes)."""
    import dataclasses

    import torch

    from exporters.emulator_graph import run_steps, valid_window

    q = _with_extra_conv("sn1", "layer2.0.sn2", (6, 4, 3, 3), stride=2, seed=5, offset=0.3)
    (k,) = [i for i, s in enumerate(q.synapses) if (s.syn.src, s.syn.dst) == ("sn1", "layer2.0.sn2")]
    assert q.synapses[k].syn.delay == 3
    x = np.random.default_rng(2).integers(0, 17, (2, 1, 8, 8))
    v, sp, lr = _both(q, tmp_path, x)
    _assert_agree(v, sp, lr)
    emu = GraphEmulator(q)
    _, rec = run_steps(emu, torch.as_tensor(x))
    ref = {n: r.numpy() for n, r in valid_window(q, rec).items()}
    assert all(np.array_equal(ref[n], sp[n]) for n in sp)
    q.synapses[k] = dataclasses.replace(
        q.synapses[k], syn=dataclasses.replace(q.synapses[k].syn, delay=1))
    _, rec1 = run_steps(GraphEmulator(q), torch.as_tensor(x))
    assert not np.array_equal(valid_window(q, rec1)["layer2.0.sn2"].numpy(), sp["layer2.0.sn2"])


@pytest.mark.parametrize("frames", [False, True])
def test_delayed_synapse_from_the_graded_input_lava_equals_emulator(frames, tmp_path):
    """A conv straight from the input into layer1.0.sn1 (depth 2) waits one step: Lava feeds it
    from a copy of the input source shifted by one step (relays carry binary spikes, the input is
    graded); static samples and event frames both agree with the emulator spike for spike."""
    q = _with_extra_conv("input", "layer1.0.sn1", (4, 1, 3, 3), stride=1, seed=7, offset=0.4)
    (s,) = [s for s in q.synapses if (s.syn.src, s.syn.dst) == ("input", "layer1.0.sn1")]
    assert s.syn.delay == 1
    rng = np.random.default_rng(4)
    x = rng.integers(0, 17, (2, q.timesteps, 1, 8, 8) if frames else (2, 1, 8, 8))
    v, sp, lr = _both(q, tmp_path, x)
    _assert_agree(v, sp, lr)

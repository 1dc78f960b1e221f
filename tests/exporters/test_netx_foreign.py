"""lava-dl netx files written by other tools (slayer's export_hdf5 fixtures): input transform,
--num-layers, reset schedule, input streams and events, delay ring buffer. Lava checks: -m lava."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from export_helpers import emulator_equals_lava

from exporters.emulator import Emulator, run_streams
from exporters.errors import SimulationError
from exporters.lava import lava_available
from exporters.netx import read_netx
from exporters.netx_streams import prepare_inputs

FIX = Path(__file__).resolve().parents[1] / "fixtures" / "netx"
INPUT_CONV, DELAY = FIX / "input_conv.net", FIX / "delay_dense.net"
needs_lava = pytest.mark.skipif(not lava_available(), reason="lava-nc/lava-dl not installed")


def _spikes(shape, n, steps, seed, p=0.4):
    return (np.random.default_rng(seed).random((n, steps, *shape)) < p).astype(np.int64)


def test_input_layer_bias_is_the_input_transform_not_a_neuron_bias():
    net = read_netx(INPUT_CONV, num_layers=4)
    inp = net.layers[0]
    # slayer wrote weight 1.25 and bias 0.3 at its weight scale 64 -> netx's transform 80 x + 20
    assert (inp.kind, inp.in_weight, inp.in_bias) == ("input", 80, 20)
    assert not inp.bias.any()  # netx builds the input neuron without bias_mant
    x = np.zeros((1, 6, 2, 6, 6), np.int64)
    x[0, 0, 0, 0, 0] = 1  # one input spike at step 1
    s = run_streams(Emulator(net), x, 6).spikes[0][:, 0].numpy()

    def hand(a_seq):  # Loihi CUBA by hand: iDecay 1024, vDecay 410, vThMant 64
        u = v = 0
        out = []
        for a in a_seq:
            u = int(u * (4096 - 1024) / 4096) + a * 64
            v = int(v * (4096 - 410) / 4096) + u
            out.append(v > 64 * 64)
            v = 0 if out[-1] else v
        return out

    assert list(s[:, 0, 0, 0]) == hand([100, 20, 20, 20, 20, 20])  # 80 * 1 + 20, then 20
    assert list(s[:, 1, 3, 3]) == hand([20] * 6)  # bias alone, as a current (fires at step 3)
    assert s[0, 0, 0, 0] and not s[0, 1, 3, 3] and s[2, 1, 3, 3]


def test_input_reaches_an_input_neuron_layer():
    net = read_netx(INPUT_CONV, num_layers=4)
    a = run_streams(Emulator(net), _spikes((2, 6, 6), 2, 8, 0), 12)
    b = run_streams(Emulator(net), _spikes((2, 6, 6), 2, 8, 1), 12)
    for k in range(3):  # different inputs give different spikes on every layer
        assert not np.array_equal(a.spikes[k].numpy(), b.spikes[k].numpy())


def test_num_layers_runs_the_first_groups_and_average_is_refused_by_name():
    with pytest.raises(SimulationError, match=r"'average'.*--num-layers 4"):
        read_netx(INPUT_CONV)
    assert [lay.kind for lay in read_netx(INPUT_CONV, num_layers=4).layers] == \
        ["input", "conv", "dense"]
    assert [lay.kind for lay in read_netx(INPUT_CONV, num_layers=2).layers] == ["input", "conv"]
    net = read_netx(INPUT_CONV, num_layers=3)  # flatten is a group without neurons
    assert (net.groups_read, net.groups_total, len(net.layers)) == (3, 5, 2)


def test_reset_schedule_resets_each_layer_at_its_phase():
    net = read_netx(DELAY)
    x = _spikes((12,), 1, 30, 2)
    free = run_streams(Emulator(net, reset_interval=0), x, 40)
    reset = run_streams(Emulator(net, reset_interval=5, reset_offset=1), x, 40)
    assert not np.array_equal(free.spikes[0].numpy(), reset.spikes[0].numpy())
    # layer 0 is zeroed at t % 5 == 2 (offset + 1): the step after never carries old voltage
    v_free = Emulator(net, reset_interval=5, reset_offset=1)
    one = run_streams(v_free, np.zeros((1, 1, 12), np.int64), 12)
    assert one.spikes[0].sum() == 0  # no input, no bias: nothing fires


def _general_delay_net(tmp_path):
    from export_helpers import cuba, write_netx_file

    rng = np.random.default_rng(4)
    path = tmp_path / "syn_delay.net"
    write_netx_file(path, [
        {"type": "dense", "shape": [70], "weight": rng.integers(-40, 90, (70, 80)) * 2,
         "delay": rng.integers(0, 9, (70, 80)) * (rng.random((70, 80)) < 0.2),
         "neuron": cuba(1024, 256, 40)},
        {"type": "dense", "shape": [6], "weight": rng.integers(-30, 90, (6, 70)) * 2,
         "delay": rng.integers(0, 6, 70), "neuron": cuba(4096, 0, 30)},  # per-input delays
    ])
    return path


@pytest.mark.parametrize("which", ["axonal", "per_synapse"])
def test_delay_ring_buffer_equals_the_per_delay_computation(tmp_path, which):
    path = DELAY if which == "axonal" else _general_delay_net(tmp_path)
    net = read_netx(path)
    x = _spikes(net.in_shape, 5, 25, 3)
    for ri, off in ((0, 0), (7, 3)):
        emu = Emulator(net, reset_interval=ri, reset_offset=off)
        ring = run_streams(emu, x, 45, batch_size=2, layerwise=False)
        old = run_streams(Emulator(net, reset_interval=ri, reset_offset=off,
                                   delay_mode="per_delay"), x, 45, layerwise=False)
        by_layer = run_streams(emu, x, 45, batch_size=3, layerwise=True)
        for other in (old, by_layer):
            for sa, sb in zip(ring.spikes, other.spikes):
                assert np.array_equal(sa.numpy(), sb.numpy())
            assert np.array_equal(ring.v_last.numpy(), other.v_last.numpy())
        assert all(s.sum() > 0 for s in ring.spikes)


@pytest.mark.parametrize("reset", [(0, 0), (5, 1)])
def test_layer_by_layer_equals_the_step_loop_on_input_and_conv_layers(reset):
    net = read_netx(INPUT_CONV, num_layers=4)
    emu = Emulator(net, reset_interval=reset[0], reset_offset=reset[1])
    x = _spikes((2, 6, 6), 3, 8, 11)
    a = run_streams(emu, x, 14, layerwise=False)
    b = run_streams(emu, x, 14, batch_size=2, layerwise=True)
    for sa, sb in zip(a.spikes, b.spikes):
        assert np.array_equal(sa.numpy(), sb.numpy()) and sa.sum() > 0
    assert np.array_equal(a.v_last.numpy(), b.v_last.numpy())


def test_samples_follow_each_other_on_the_reset_clock():
    """Sample i starts after i * period steps of the reset clock, as in one Lava run."""
    net = read_netx(DELAY)
    x = _spikes((12,), 3, 10, 5)
    emu = Emulator(net, reset_interval=7, reset_offset=2)
    all3 = run_streams(emu, x, 20, layerwise=True)
    for i in range(3):
        one = emu.run(torch.as_tensor(x[i:i + 1]).transpose(0, 1), 20, t0=torch.tensor([i * 20]))
        for k in range(2):
            assert np.array_equal(all3.spikes[k][:, i].numpy(), one.spikes[k][:, 0].numpy())


def test_input_streams_and_their_shape_errors():
    shp = (12,)
    one = prepare_inputs(np.ones((9, 12), np.int64), None, shp, None, 0)
    assert one.x.shape == (1, 9, 12) and "one sample's stream" in one.notes[0]
    static = prepare_inputs(np.ones((4, 12), np.int64), None, shp, 6, 0)
    assert static.x.shape == (4, 6, 12)
    assert prepare_inputs(np.ones((3, 5, 12), np.int64), np.arange(3), shp, None, 0).x.shape == \
        (3, 5, 12)
    with pytest.raises(SimulationError, match=r"\[N, S, 12\]"):
        prepare_inputs(np.ones((3, 5, 11), np.int64), None, shp, None, 0)
    with pytest.raises(SimulationError, match="5 steps but --timesteps is 4"):
        prepare_inputs(np.ones((3, 5, 12), np.int64), None, shp, 4, 0)
    with pytest.raises(SimulationError, match="0..1"):
        prepare_inputs(np.full((3, 5, 12), 2), None, shp, None, 0)
    with pytest.raises(SimulationError, match="one label per sample"):
        prepare_inputs(np.ones((3, 5, 12), np.int64), np.arange(2), shp, None, 0)


def _events(n=200, size=6, seed=0):
    from snn2hw.data.fake import random_events

    ev = random_events(np.random.default_rng(seed), n, size, 10_000)
    a = np.zeros(n, dtype=[("x", np.int16), ("y", np.int16), ("t", np.int64), ("p", bool)])
    for k in "xytp":
        a[k] = ev[k]
    return a


def test_event_recordings_are_binned_with_the_frame_code():
    from snn2hw.data.frames import events_to_frames

    ev = _events()
    got = prepare_inputs(ev, None, (2, 6, 6), 5, 4)  # 4-bit graded: counts kept
    want = events_to_frames(ev, (6, 6, 2), 5)
    assert got.x.shape == (1, 5, 2, 6, 6) and np.array_equal(got.x[0], want)
    binary = prepare_inputs(ev, None, (2, 6, 6), 5, 0)
    assert binary.x.max() == 1 and "merged" in binary.notes[0]  # said, not silent
    with pytest.raises(SimulationError, match="--timesteps"):
        prepare_inputs(ev, None, (2, 6, 6), None, 0)
    with pytest.raises(SimulationError, match="events"):
        prepare_inputs(ev, None, (12,), 5, 0)


def test_cli_runs_a_slayer_file_with_num_layers_streams_and_events(cli, tmp_path):
    np.save(tmp_path / "x.npy", _spikes((2, 6, 6), 3, 6, 0))
    np.save(tmp_path / "y.npy", np.array([0, 1, 2]))
    r = cli("simulate", INPUT_CONV, "--input", tmp_path / "x.npy")
    assert r.exit_code == 2 and "'average'" in r.output and "--num-layers 4" in r.output
    r = cli("simulate", INPUT_CONV, "--input", tmp_path / "x.npy", "--labels", tmp_path / "y.npy",
            "--num-layers", "4", "--json", tmp_path / "r.json")
    assert r.exit_code == 0, r.output
    data = json.loads((tmp_path / "r.json").read_text())
    assert data["samples"] == 3 and data["steps_per_sample"] == 6 + 3 and data["reset"] == "none"
    assert data["emulator"]["accuracy"] is not None and data["emulator"]["spikes"][0] > 0
    np.save(tmp_path / "ev.npy", _events())
    r = cli("simulate", INPUT_CONV, "--input", tmp_path / "ev.npy", "--timesteps", "4",
            "--num-layers", "4", "--reset-interval", "5")
    assert r.exit_code == 0, r.output
    assert "interval 5, offset 0" in r.output and "events binned" in r.output


# ---- emulator == Lava, spike for spike, on every layer and step ---------------------------------

@pytest.mark.lava
@needs_lava
@pytest.mark.parametrize("reset", [(None, 0), (7, 2)], ids=["no-reset", "reset"])
def test_input_bias_and_streams_match_lava(reset):
    emulator_equals_lava(INPUT_CONV, _spikes((2, 6, 6), 3, 8, 7), num_layers=4, reset=reset)


@pytest.mark.lava
@needs_lava
def test_slayer_delay_file_matches_lava_without_reset():
    emulator_equals_lava(DELAY, _spikes((12,), 3, 10, 8, 0.5))


@pytest.mark.lava
@needs_lava
def test_cli_compare_on_a_slayer_file_agrees_with_lava(cli, tmp_path):
    np.save(tmp_path / "x.npy", _spikes((2, 6, 6), 2, 5, 9))
    r = cli("simulate", INPUT_CONV, "--input", tmp_path / "x.npy", "--num-layers", "4",
            "--compare", "--json", tmp_path / "c.json")
    assert r.exit_code == 0, r.output
    data = json.loads((tmp_path / "c.json").read_text())
    assert [a["identical_fraction"] for a in data["agreement"]] == [1.0, 1.0, 1.0]
    assert data["readout_equal"] is True and "agreement 0:input" in r.output


LAVA_DL = FIX / "lava_dl"  # lava-dl's own files (provenance in its README.md)


def _oxford_drive(n: int, steps: int, seed: int) -> np.ndarray:
    """Oxford's weights are 79% negative, so random spikes keep it silent: each step, fire the
    inputs with positive weights onto one random hidden neuron (every layer then fires)."""
    import h5py

    with h5py.File(LAVA_DL / "oxford.net") as f:
        w = f["layer/0/weight"][()]
    rows = np.random.default_rng(seed).integers(len(w), size=(n, steps))
    return (w[rows] > 0).astype(np.int64)


@pytest.mark.lava
@needs_lava
def test_lava_dl_tiny_file_matches_lava():
    emulator_equals_lava(LAVA_DL / "tiny.net", _spikes((3, 16, 16), 2, 12, 11, 0.3))


@pytest.mark.lava
@needs_lava
def test_lava_dl_oxford_tutorial_network_matches_lava():
    emulator_equals_lava(LAVA_DL / "oxford.net", _oxford_drive(2, 40, 11))

"""netx `dense_rec` layers (lava-dl's RecurrentDense): weight handling, a hand-computed trace with
the recurrent delay Lava gives (one step), shape errors, the CLI, and emulator == Lava (-m lava)."""

from __future__ import annotations

import copy
import json

import numpy as np
import pytest
import torch
from export_helpers import cuba, emulator_equals_lava, write_netx_file

from exporters.emulator import Emulator, run_streams
from exporters.errors import SimulationError
from exporters.lava import lava_available
from exporters.netx import dense_effective, dense_rec_effective, read_netx

needs_lava = pytest.mark.skipif(not lava_available(), reason="lava-nc/lava-dl not installed")

# Two neurons A, B; input 1 -> A with weight 6; recurrent B -> A -8 (inhibits), A -> B +8. The
# file holds 6 and +-8; netx optimises [weight | weight_rec] together (96 and +-128, exponent -4),
# so the currents are exactly 6 and +-8. iDecay 4096 (u = a_in), vDecay 0 (v integrates), vThMant 10,
# input spikes at steps 1..10. a_in[t] = 6 x[t-1] + W_rec s[t-1] (v in units of 64):
#   A: v += 6 - 8 s_B[t-1]: t2 6, t3 12 fires, t4 6, t5 12 fires, t6 6, t7 6 - 8 = 4 (B fired at
#      t6), t8 10 (not > 10), t9 16 fires, t10 6, t11 12 fires, t12 0 (input over)
#   B: v += 8 s_A[t-1]: t4 8, t5 8, t6 16 fires, t7..t9 0, t10 8, t11 8, t12 16 fires
HAND_A = [0, 0, 1, 0, 1, 0, 0, 0, 1, 0, 1, 0]
HAND_B = [0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 1]
W_IN, W_REC = [[6], [0]], [[0, -8], [8, 0]]


def hand(x, w, w_rec, delay, vth=10):
    """Spikes [n][steps] of the layer above by plain integer arithmetic, recurrent spikes arriving
    `delay` steps later (delay 0: the same step's spikes of lower-numbered neurons, as an in-place
    loop would give; the step before for the others)."""
    n, steps = len(w), len(x) + 2
    v, hist = [0] * n, [[0] * n]  # hist[t]: spikes at step t (t = 0: before the run)
    for t in range(1, steps + 1):
        now = [0] * n
        for j in range(n):
            a = w[j] * (x[t - 2] if 2 <= t <= len(x) + 1 else 0)
            for i in range(n):
                if delay == 0:
                    src = now[i] if i < j else hist[t - 1][i]
                else:
                    src = hist[t - delay][i] if t - delay >= 0 else 0
                a += w_rec[j][i] * src
            v[j] += a
            now[j] = int(v[j] > vth)
            v[j] = 0 if now[j] else v[j]
        hist.append(now)
    return [list(col) for col in zip(*hist[1:])]


def _hand_file(path):
    write_netx_file(path, [
        {"type": "input", "shape": [1]},
        {"type": "dense_rec", "shape": [2], "weight": W_IN, "weight_rec": W_REC,
         "neuron": cuba(4096, 0, 10)},
    ])
    return path


def test_recurrent_weights_share_the_exponent_of_the_concatenation():
    w, r, exp = dense_rec_effective(np.array(W_IN), np.array(W_REC))
    assert exp == -4 and np.array_equal(w >> 4, [[6], [0]]) and np.array_equal(r >> 4, [[0, -8], [8, 0]])
    alone, exp_alone = dense_effective(np.array(W_IN))  # weight alone would get another exponent
    assert exp_alone != exp and np.array_equal(alone * 2.0**exp_alone, [[6], [0]])


@pytest.mark.parametrize("layerwise", [False, True], ids=["step-loop", "layer-by-layer"])
def test_hand_trace_of_a_two_neuron_recurrent_layer(tmp_path, layerwise):
    net = read_netx(_hand_file(tmp_path / "rec.net"))
    lay = net.layers[0]
    assert lay.kind == "dense" and lay.weight_rec.shape == (2, 2) and lay.weight_exp == -4
    x = np.ones((1, 10, 1), np.int64)
    s = run_streams(Emulator(net), x, 12, layerwise=layerwise).spikes[0][:, 0].numpy().T.tolist()
    assert s == [HAND_A, HAND_B] == hand([1] * 10, [6, 0], W_REC, delay=1)
    for wrong in (hand([1] * 10, [6, 0], W_REC, delay=0), hand([1] * 10, [6, 0], W_REC, delay=2),
                  hand([1] * 10, [6, 0], [[0, 0], [0, 0]], delay=1)):
        assert wrong != s  # delay 0, delay 2 or no W_rec give other spikes


def test_step_loop_equals_layer_by_layer_with_reset_and_batches(tmp_path):
    net = read_netx(_three_layer_file(tmp_path / "r3.net"))
    x = _drive(4, 9, 0)
    for ri, off in ((0, 0), (5, 1)):
        emu = Emulator(net, reset_interval=ri, reset_offset=off)
        a = run_streams(emu, x, 14, layerwise=False, batch_size=3)
        b = run_streams(emu, x, 14, layerwise=True, batch_size=2)
        for sa, sb in zip(a.spikes, b.spikes):
            assert np.array_equal(sa.numpy(), sb.numpy()) and sa.sum() > 0
        assert np.array_equal(a.v_last.numpy(), b.v_last.numpy())


@pytest.mark.parametrize("bad", [np.ones((5, 4)) * 2, np.ones((4, 5)) * 2, np.ones(25) * 2, None],
                         ids=["rows", "cols", "flat", "missing"])
def test_bad_weight_rec_shape_is_a_named_error(tmp_path, bad):
    rec = {"type": "dense_rec", "shape": [5], "weight": np.ones((5, 3)) * 2,
           "neuron": cuba(4096, 0, 10)}
    if bad is not None:
        rec["weight_rec"] = bad
    write_netx_file(tmp_path / "bad.net", [{"type": "input", "shape": [3]}, rec])
    with pytest.raises(SimulationError, match=r"layer 1 of .*bad\.net.*'dense_rec'.*'weight_rec' "
                                              r"\[5, 5\]"):
        read_netx(tmp_path / "bad.net")


def test_recurrent_layer_with_delays_is_refused_by_name(tmp_path):
    write_netx_file(tmp_path / "d.net", [
        {"type": "input", "shape": [2]},
        {"type": "dense_rec", "shape": [2], "weight": np.ones((2, 2)) * 2,
         "weight_rec": np.ones((2, 2)) * 2, "delay": np.ones(2), "neuron": cuba()},
    ])
    with pytest.raises(SimulationError, match=r"layer 1 of .*recurrent dense layer with a "
                                              r"'delay'.*--num-layers 1"):
        read_netx(tmp_path / "d.net")


# ---- a small input -> dense -> dense_rec -> dense network --------------------------------------

def _three_layer_file(path):
    rng = np.random.default_rng(3)
    rec = rng.integers(-60, 60, (5, 5)) * 2
    np.fill_diagonal(rec, 0)
    write_netx_file(path, [
        {"type": "input", "shape": [8]},
        {"type": "dense", "shape": [6], "weight": rng.integers(-40, 90, (6, 8)) * 2,
         "bias": rng.integers(0, 3, 6), "neuron": cuba(1024, 256, 500)},
        {"type": "dense_rec", "shape": [5], "weight": rng.integers(-40, 90, (5, 6)) * 2,
         "weight_rec": rec, "neuron": cuba(2048, 512, 400)},
        {"type": "dense", "shape": [3], "weight": rng.integers(-40, 90, (3, 5)) * 2,
         "neuron": cuba(4096, 128, 200)},
    ])
    return path


def _drive(n, steps, seed, p=0.5):
    return (np.random.default_rng(seed).random((n, steps, 8)) < p).astype(np.int64)


def test_recurrent_weights_change_the_spikes_of_the_three_layer_net(tmp_path):
    net = read_netx(_three_layer_file(tmp_path / "r3.net"))
    assert [lay.weight_rec is not None for lay in net.layers] == [False, True, False]
    flat = copy.deepcopy(net)
    flat.layers[1].weight_rec = np.zeros_like(flat.layers[1].weight_rec)
    x = _drive(3, 8, 1)
    a, b = run_streams(Emulator(net), x, 12), run_streams(Emulator(flat), x, 12)
    assert np.array_equal(a.spikes[0].numpy(), b.spikes[0].numpy())  # before it: the same
    assert not np.array_equal(a.spikes[1].numpy(), b.spikes[1].numpy())


def test_cli_simulates_a_recurrent_file_on_the_emulator(cli, tmp_path):
    path = _three_layer_file(tmp_path / "r3.net")
    np.save(tmp_path / "x.npy", _drive(3, 1, 2)[:, 0])  # static: sent for --timesteps steps
    r = cli("simulate", path, "--backend", "emulator", "--input", tmp_path / "x.npy",
            "--timesteps", "6", "--json", tmp_path / "r.json")
    assert r.exit_code == 0, r.output
    data = json.loads((tmp_path / "r.json").read_text())
    assert data["samples"] == 3 and data["steps_per_sample"] == 6 + 3
    assert all(s > 0 for s in data["emulator"]["spikes"])


@pytest.mark.lava
@needs_lava
def test_lava_gives_the_hand_trace_for_each_sample(tmp_path):
    """Lava's RecurrentDense delivers its own spikes one step later. B fires at the last step of
    sample 0: its -8 would reach A at sample 1's first step unless the recurrent Dense's buffer
    is zeroed between samples (as the emulator's zero state has it)."""
    from exporters.lava import run_lava_streams

    lr = run_lava_streams(_hand_file(tmp_path / "rec.net"), np.ones((2, 10, 1), np.int64),
                          period=12, reset_interval=None, reset_offset=0, num_layers=None,
                          input_message_bits=0, timeout_s=300)
    for i in range(2):
        assert lr.spikes[0][:, i].T.tolist() == [HAND_A, HAND_B], f"sample {i}"


@pytest.mark.lava
@needs_lava
def test_recurrent_net_matches_lava_spike_for_spike(tmp_path):
    path = _three_layer_file(tmp_path / "r3.net")
    assert len(read_netx(path).layers) == 3
    emulator_equals_lava(path, _drive(2, 8, 4), period=12)


@pytest.mark.lava
@needs_lava
def test_cli_compare_on_a_recurrent_file_agrees_with_lava(cli, tmp_path):
    path = _three_layer_file(tmp_path / "r3.net")
    np.save(tmp_path / "x.npy", _drive(2, 1, 5)[:, 0])
    r = cli("simulate", path, "--input", tmp_path / "x.npy", "--timesteps", "6", "--compare",
            "--json", tmp_path / "c.json")
    assert r.exit_code == 0, r.output
    data = json.loads((tmp_path / "c.json").read_text())
    assert [a["identical_fraction"] for a in data["agreement"]] == [1.0, 1.0, 1.0]
    assert data["readout_equal"] is True and "1:dense_rec" in r.output


def test_torch_and_numpy_recurrent_currents_agree():
    from exporters.emulator import dense_current, np_dense_current

    rng = np.random.default_rng(0)
    s, w = rng.random((4, 5)) < 0.5, rng.integers(-256, 255, (3, 5)).astype(np.float64)
    for exp in (-3, 0, 2):
        a = dense_current(torch.as_tensor(s), torch.as_tensor(w), exp).numpy()
        assert np.array_equal(a, np_dense_current(s, w.T, exp))

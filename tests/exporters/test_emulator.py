"""The emulator against a hand-computed fixed-point trace, netx's weight handling, and itself."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from export_helpers import conv_student, cuba, write_netx_file

from exporters.emulator import Emulator, cuba_step, run_samples
from exporters.errors import SimulationError
from exporters.netx import dense_effective, read_netx, write_netx
from exporters.nir import student_to_nir
from exporters.quantize import quantize

# One neuron, iDecay = 1000 (u keeps 3096/4096), vDecay = 300 (v keeps 3796/4096), vThMant = 5
# (threshold 5 << 6 = 320), bias 1 (<< 6 = 64). Inputs a = -1, 3, 0, 131100, 0, 0:
#  t1: u = 0 + (-1 << 6) = -64;                          v = 0 + -64 + 64 = 0
#  t2: u = trunc(-64*3096/4096 = -48.375) = -48 (toward zero, not -49) + 192 = 144
#      v = 0 + 144 + 64 = 208
#  t3: u = trunc(144*3096/4096 = 108.84) = 108;           v = trunc(208*3796/4096 = 192.77)
#      = 192 + 108 + 64 = 364 > 320 -> spike, v <- 0
#  t4: u = trunc(108*3096/4096) = 81 + 131100*64 = 8390481 > 2^23 -> wraps to 8390481 - 2^24
#      = -8386735;                                        v = 0 - 8386735 + 64 = -8386671
#  t5: u = trunc(-8386735*0.755859375) = -6339192;       v = trunc(-8386671*0.9267578125)
#      - 6339192 + 64 < -(2^23 - 1) -> clipped to -8388607
HAND_U = [-64, 144, 108, -8386735, -6339192, -4791537]
HAND_V = [0, 208, 0, -8386671, -8388607, -8388607]
HAND_S = [0, 0, 1, 0, 0, 0]
INPUT = [-1, 3, 0, 131100, 0, 0]


def test_cuba_step_matches_hand_trace():
    u = v = torch.zeros(1, dtype=torch.float64)
    for a, eu, ev, es in zip(INPUT, HAND_U, HAND_V, HAND_S):
        s, u, v = cuba_step(u, v, torch.tensor([float(a)], dtype=torch.float64), i_decay=1000,
                            v_decay=300, bias=torch.tensor([1.0], dtype=torch.float64), vth=5)
        assert (int(u), int(v), int(s)) == (eu, ev, es)


def test_emulator_runs_hand_trace_through_a_netx_file_with_one_step_delay(tmp_path):
    path = tmp_path / "one.net"
    write_netx_file(path, [
        {"type": "input", "shape": [1]},
        {"type": "dense", "shape": [1], "weight": [[1]], "bias": [1], "neuron": cuba(1000, 300, 5)},
    ])
    # netx's reset schedule (reset_offset 1) zeroes layer 0 at step 2, when input 1 arrives
    emu = Emulator(path, input_message_bits=16, reset_interval=100, reset_offset=1)
    x = torch.tensor(INPUT, dtype=torch.float64).reshape(6, 1, 1)
    r = emu.run(x, 7)
    # step 1 sees only the bias: the synapse delivers input t at step t + 1
    assert r.v_last[:, 0, 0].tolist() == [64] + HAND_V
    assert r.spikes[0][:, 0, 0].tolist() == [0] + HAND_S


def test_dense_weights_go_through_netx_bit_optimisation():
    w, exp = dense_effective(np.array([[3, -5], [7, 0]]))
    # mixed signs: scaled so the mantissa uses 8 bits, exponent undoes it exactly
    assert exp < 0 and np.array_equal(w >> -exp, [[3, -5], [7, 0]])


def test_windowed_path_equals_full_simulation(tmp_path):
    q = quantize(student_to_nir(conv_student()))
    write_netx(tmp_path / "m.net", q)
    emu = Emulator(tmp_path / "m.net")
    x = np.random.default_rng(0).integers(0, 17, (20, 1, 8, 8))
    va, sa = run_samples(emu, x, 4, windowed=False)
    vb, sb = run_samples(emu, x, 4, windowed=True)
    assert np.array_equal(va, vb)
    assert all(np.array_equal(a, b) for a, b in zip(sa, sb))
    assert all(s.sum() > 0 for s in sa[:-1])  # every spiking layer fires


def test_emulated_accuracy_tracks_float_student(tmp_path, digits_like):
    model = conv_student()
    q = quantize(student_to_nir(model))
    write_netx(tmp_path / "m.net", q)
    v, _ = run_samples(Emulator(tmp_path / "m.net"), np.round(digits_like.numpy() * 16), 4)
    with torch.no_grad():
        ref = model(digits_like).numpy()
    logits = v / (64 * q.layers[-1].scale * 4)
    assert (logits.argmax(1) == ref.argmax(1)).mean() >= 0.9
    np.testing.assert_allclose(logits, ref, atol=0.25 * np.abs(ref).max())


@pytest.mark.parametrize("content", [b"not hdf5 at all", None])
def test_corrupt_or_missing_netx_file_is_a_clear_error(tmp_path, content):
    path = tmp_path / "model.net"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(SimulationError, match="model.net"):
        read_netx(path)


def test_unsupported_layer_type_in_netx_file(tmp_path):
    write_netx_file(tmp_path / "p.net", [{"type": "input", "shape": [1, 4, 4]},
                                         {"type": "pool", "shape": [1, 2, 2]}])
    with pytest.raises(SimulationError, match="'pool'"):
        read_netx(tmp_path / "p.net")

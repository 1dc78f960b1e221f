"""Lowering and fixed-point quantization: ranges (property test), pooling folding, clear errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from export_helpers import conv_student, dense_student
from hypothesis import given, settings
from hypothesis import strategies as st

from exporters.errors import ExportError
from exporters.nir import student_to_nir
from exporters.quantize import (
    A_IN_MAX,
    BIAS_MAX,
    BIAS_MIN,
    VTH_MAX,
    W_MAX,
    W_MIN,
    LoihiLayer,
    choose_scale,
    lower,
    quantize,
    quantize_layer,
    row_abs_sum,
)
from snn2hw.neurons import NeuronSpec


def _layer(w, b, v_th, neuron="lif", gain=1.0):
    return LoihiLayer("fc", "dense", w, b, (w.shape[1],), (w.shape[0],), neuron, v_th, gain,
                      4096, 2048)


@settings(max_examples=60, deadline=None)
@given(
    seed=st.integers(0, 2**31 - 1),
    n_out=st.integers(1, 12), n_in=st.integers(1, 40),
    w_mag=st.floats(1e-4, 1e3), b_mag=st.floats(0, 1e3), v_th=st.floats(1e-3, 1e3),
    gain=st.floats(1e-2, 10), in_scale=st.sampled_from([1.0, 16.0, 255.0]),
    readout=st.booleans(),
)
def test_every_integer_is_in_its_hardware_range(seed, n_out, n_in, w_mag, b_mag, v_th, gain,
                                                 in_scale, readout):
    rng = np.random.default_rng(seed)
    w = rng.standard_normal((n_out, n_in)) * w_mag
    w[0, 0] = w_mag  # never all zero
    b = rng.standard_normal(n_out) * b_mag
    lay = _layer(w, b, v_th, "readout" if readout else "lif", gain)
    in_max = in_scale
    scale, why = choose_scale(lay, in_scale, in_max, timesteps=8)
    try:
        q = quantize_layer(lay, scale, in_scale, why)
    except ExportError as e:  # threshold/weight ratio beyond the hardware's dynamic range
        assert why != "weights" and "all-zero integer weights" in str(e)
        return
    assert q.weight.dtype.kind == "i" and np.all(q.weight % 2 == 0)
    assert W_MIN <= q.weight.min() and q.weight.max() <= W_MAX
    assert BIAS_MIN <= q.bias.min() and q.bias.max() <= BIAS_MAX
    assert 1 <= q.v_th_mant <= VTH_MAX
    assert 0 <= q.i_decay <= 4096 and 0 <= q.v_decay <= 4096
    # worst-case synaptic input stays inside the 24-bit current after the << 6
    assert np.abs(q.weight).sum(1).max() * in_max <= A_IN_MAX
    assert q.clipped_fraction == 0.0


def test_scale_uses_full_weight_range_when_nothing_else_limits():
    w = np.array([[0.5, -0.25], [0.1, 0.0]])
    lay = _layer(w, np.zeros(2), 1.0)
    scale, why = choose_scale(lay, 1.0, 1.0, 4)
    assert why == "weights" and scale == pytest.approx(508.0)
    q = quantize_layer(lay, scale, 1.0, why)
    assert q.weight.tolist() == [[254, -128], [50, 0]] and q.v_th_mant == 508


def test_all_zero_layer_is_a_clear_error():
    lay = _layer(np.zeros((3, 4)), np.zeros(3), 1.0)
    with pytest.raises(ExportError, match="'fc' has all-zero weights"):
        choose_scale(lay, 1.0, 1.0, 4)


def test_pooling_folds_into_next_layers_exactly():
    """conv2(avgpool(s)) and fc(flatten(avgpool(s))) equal the lowered strided conv / dense."""
    model = conv_student()
    layers = lower(student_to_nir(model))
    assert [lay.kind for lay in layers] == ["conv", "conv", "dense", "dense"]
    assert [lay.neuron for lay in layers] == ["lif", "lif", "lif", "readout"]
    c2, fc = layers[1], layers[2]
    assert c2.weight.shape[2:] == (6, 6) and c2.stride == (2, 2) and c2.padding == (2, 2)
    assert fc.weight.shape == (12, 6 * 4 * 4) and fc.flatten_before
    s = (torch.rand(5, 4, 8, 8) > 0.5).float()
    body = model.body
    ref = body.conv2.layer(body.pool1.layer(s))
    got = torch.nn.functional.conv2d(s, torch.tensor(c2.weight, dtype=torch.float32),
                                     torch.tensor(c2.bias, dtype=torch.float32), stride=2, padding=2)
    torch.testing.assert_close(got, ref, atol=1e-5, rtol=1e-5)
    s2 = (torch.rand(5, 6, 4, 4) > 0.5).float()
    ref2 = body.fc1.layer(body.pool2.layer(s2).flatten(1))
    got2 = s2.flatten(1) @ torch.tensor(fc.weight, dtype=torch.float32).T + torch.tensor(fc.bias, dtype=torch.float32)
    torch.testing.assert_close(got2, ref2, atol=1e-5, rtol=1e-5)


def test_decays_follow_the_neuron_model():
    q = quantize(student_to_nir(dense_student(NeuronSpec(kind="lif", leak=0.75))))
    assert (q.layers[0].i_decay, q.layers[0].v_decay) == (4096, 1024)
    assert (q.layers[1].i_decay, q.layers[1].v_decay, q.layers[1].v_th_mant) == (4096, 0, VTH_MAX)
    q = quantize(student_to_nir(dense_student(NeuronSpec(kind="cuba", tau_syn_inv=250.0,
                                                         tau_mem_inv=125.0))))
    assert (q.layers[0].i_decay, q.layers[0].v_decay) == (1024, 512)
    assert q.layers[0].float_layer.gain == pytest.approx(0.125)
    assert row_abs_sum(q.layers[0].float_layer) > 0

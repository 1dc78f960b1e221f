"""Student <-> NIR: round trip, shapes without batch dim, time constants, unsupported layers."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from export_helpers import conv_student
from torch import nn

from exporters.errors import ExportError
from exporters.nir import nir_to_student, read_nir, student_to_nir, write_nir
from snn2hw.models.spiking import SpikingNet
from snn2hw.neurons import PRESETS, NeuronSpec, SpikingNeuron, TimeFolded


@pytest.mark.parametrize("preset", ["tet", "idsnn", "kdsnn", "norse"])
def test_round_trip_through_file_gives_same_outputs(preset, tmp_path, digits_like):
    spec = PRESETS[preset]
    if preset == "norse":
        spec = NeuronSpec(kind="cuba", v_th=0.3, tau_syn_inv=200.0, tau_mem_inv=100.0)
    model = conv_student(spec)
    write_nir(tmp_path / "m.nir", student_to_nir(model))
    back = nir_to_student(read_nir(tmp_path / "m.nir"))
    with torch.no_grad():
        a, fa = model.forward_sequence(digits_like)
        b, fb = back.forward_sequence(digits_like)
    assert torch.equal(a, b)
    assert fa.keys() == fb.keys() and all(torch.equal(fa[k], fb[k]) for k in fa)
    assert a.abs().sum() > 0


def test_shapes_have_no_batch_dim_and_time_constants_are_right():
    g = student_to_nir(conv_student(NeuronSpec(kind="lif", leak=0.75, dt=1e-3)))
    assert list(g.nodes["input"].input_type["input"]) == [1, 8, 8]
    lif = g.nodes["lif1"]
    assert lif.tau.shape == (4, 8, 8)
    # Euler: v <- v + dt/tau (-v + r x) = 0.75 v + x  =>  tau = dt / 0.25, r = 4
    np.testing.assert_allclose(lif.tau, 4e-3, rtol=1e-6)
    np.testing.assert_allclose(lif.r, 4.0, rtol=1e-6)
    assert g.nodes["lif3"].tau.shape == (12,)
    assert list(g.nodes["flatten"].output_type["output"]) == [24]


def test_cuba_w_in_reproduces_norse_current_jump():
    spec = NeuronSpec(kind="cuba", dt=1e-3, tau_syn_inv=250.0, tau_mem_inv=100.0)
    node = student_to_nir(conv_student(spec)).nodes["lif1"]
    # Norse: i += x (jump). NIR Euler: i += dt/tau_syn * w_in * x  =>  w_in = tau_syn / dt = 4
    np.testing.assert_allclose(node.w_in * 1e-3 / node.tau_syn, 1.0, rtol=1e-6)


class Residual(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(4, 4, 3, padding=1)

    def forward(self, x):
        return x + self.conv(x)


@pytest.mark.parametrize("layer,word", [(nn.MaxPool2d(2), "max pooling"),
                                        (Residual(), "residual")])
def test_unsupported_layer_names_layer_and_fix(layer, word):
    body = nn.Sequential()
    body.add_module("conv1", TimeFolded(nn.Conv2d(1, 4, 3, padding=1)))
    body.add_module("lif1", SpikingNeuron(NeuronSpec()))
    body.add_module("bad", TimeFolded(layer))
    body.add_module("flatten", TimeFolded(nn.Flatten()))
    model = SpikingNet(body, nn.Linear(4 * 64 if word == "residual" else 64, 10), timesteps=2,
                       in_shape=(1, 8, 8))
    with pytest.raises(ExportError) as e:
        student_to_nir(model)
    assert "'bad'" in str(e.value) and word in str(e.value)


def test_batchnorm_after_conv_is_folded(digits_like):
    torch.manual_seed(0)
    body = nn.Sequential()
    body.add_module("conv1", TimeFolded(nn.Conv2d(1, 4, 3, padding=1)))
    body.add_module("bn1", TimeFolded(nn.BatchNorm2d(4)))
    body.add_module("lif1", SpikingNeuron(NeuronSpec(v_th=0.5)))
    body.add_module("flatten", TimeFolded(nn.Flatten()))
    model = SpikingNet(body, nn.Linear(256, 10), timesteps=2, in_shape=(1, 8, 8))
    bn = body.bn1.layer
    bn.running_mean.uniform_(-0.2, 0.2)
    bn.running_var.uniform_(0.5, 2.0)
    bn.weight.data.uniform_(0.5, 1.5)
    model.eval()
    back = nir_to_student(student_to_nir(model))
    with torch.no_grad():
        torch.testing.assert_close(back(digits_like), model(digits_like), atol=1e-5, rtol=1e-5)

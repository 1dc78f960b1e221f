"""Average pooling on maps whose size is not a multiple of k (N-MNIST: 34 -> 17 -> 8)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from exporters.errors import ExportError
from exporters.nir import student_to_nir
from exporters.quantize import _fuse_pool_dense, quantize
from snn2hw.models.events import nmnist_snn
from snn2hw.models.spiking import SpikingNet
from snn2hw.neurons import PRESETS, SpikingNeuron, TimeFolded


def test_pool_then_linear_on_odd_map_equals_pytorch_floor_pooling():
    rng = np.random.default_rng(0)
    x = (rng.random((3, 4, 17, 17)) > 0.6).astype(np.float64)
    w = rng.normal(size=(5, 4 * 8 * 8))
    fused = _fuse_pool_dense(2, w, (4, 17, 17))
    want = nn.functional.avg_pool2d(torch.as_tensor(x), 2).flatten(1).numpy() @ w.T
    np.testing.assert_allclose(x.reshape(3, -1) @ fused.T, want, atol=1e-12)
    assert np.all(fused.reshape(5, 4, 17, 17)[:, :, 16, :] == 0)  # the dropped row


def test_nmnist_student_exports():
    q = quantize(student_to_nir(nmnist_snn((2, 34, 34), 10, 4, PRESETS["tet"])), input_scale=1.0,
                 input_max=4.0)
    fc1 = next(lay for lay in q.layers if lay.name == "fc1")
    assert fc1.float_layer.in_shape == (64, 17, 17) and fc1.weight.shape == (128, 64 * 17 * 17)


def test_conv_after_odd_pooling_is_a_named_error():
    spec = PRESETS["tet"]
    body = nn.Sequential()
    body.add_module("conv1", TimeFolded(nn.Conv2d(1, 4, 3, padding=1)))
    body.add_module("lif1", SpikingNeuron(spec))
    body.add_module("pool1", TimeFolded(nn.AvgPool2d(2)))
    body.add_module("conv2", TimeFolded(nn.Conv2d(4, 4, 3, padding=1)))
    body.add_module("lif2", SpikingNeuron(spec))
    body.add_module("flatten", TimeFolded(nn.Flatten()))
    net = SpikingNet(body, nn.Linear(4 * 3 * 3, 10), timesteps=2, in_shape=(1, 7, 7))
    with pytest.raises(ExportError, match=r"pool1.*7x7.*conv2.*divisible by 2"):
        quantize(student_to_nir(net.eval()))

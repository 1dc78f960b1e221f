"""The matrix-product average pooling equals avg_pool2d (bit for bit on spikes) and is only taken
where it applies."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.nn import functional as F

from snn2hw.neurons import TimeFolded, set_backend
from snn2hw.neurons.pooling import avg_pool_mm, fast_pool_kernel, pool_matrix


def test_pool_matrix_by_hand():
    p = pool_matrix(4, 4, 2, torch.float32, torch.device("cpu"))
    assert p.shape == (16, 4)
    # pixel (row 1, col 2) = index 6 lies in window (0, 1) = column 1; each column sums 4 quarters
    assert p[6].tolist() == [0.0, 0.25, 0.0, 0.0]
    assert p.sum(0).tolist() == [1.0, 1.0, 1.0, 1.0]


@pytest.mark.parametrize("shape,k", [((5, 3, 8, 8), 2), ((4, 2, 4, 4), 2), ((3, 2, 8, 4), 4), ((2, 3, 4, 6), 2)])
def test_equals_avg_pool2d_on_spikes_bit_for_bit_with_gradients(shape, k):
    torch.manual_seed(0)
    x = (torch.rand(shape) > 0.6).float().requires_grad_()
    g = torch.randn(shape[0], shape[1], shape[2] // k, shape[3] // k)
    y = avg_pool_mm(x, k)
    (gx,) = torch.autograd.grad(y, x, g)
    x2 = x.detach().requires_grad_()
    y2 = F.avg_pool2d(x2, k)
    (gx2,) = torch.autograd.grad(y2, x2, g)
    assert torch.equal(y, y2)
    torch.testing.assert_close(gx, gx2, rtol=1e-6, atol=0)


def test_general_inputs_match_closely_in_float64():
    torch.manual_seed(1)
    x = torch.randn(6, 4, 8, 8, dtype=torch.float64)
    torch.testing.assert_close(avg_pool_mm(x, 2), F.avg_pool2d(x, 2), rtol=1e-15, atol=1e-15)


@pytest.mark.parametrize("layer,shape,expected", [
    (nn.AvgPool2d(2), (2, 3, 8, 8), 2),
    (nn.AvgPool2d(2), (2, 3, 16, 16), None),          # too many pixels: the matrix would be large
    (nn.AvgPool2d(3), (2, 3, 6, 6), None),            # 1/9 is not exact in binary
    (nn.AvgPool2d(2, stride=1), (2, 3, 8, 8), None),  # overlapping windows
    (nn.AvgPool2d(2, padding=1), (2, 3, 8, 8), None),
    (nn.AvgPool2d(2, ceil_mode=True), (2, 3, 8, 8), None),
    (nn.AvgPool2d(2), (2, 3, 7, 8), None),            # odd height
    (nn.MaxPool2d(2), (2, 3, 8, 8), None),
])
def test_fast_path_taken_only_where_exact(layer, shape, expected):
    assert fast_pool_kernel(layer, torch.zeros(shape)) == expected


def test_fast_path_skips_hooked_layers_and_half_precision():
    pool = nn.AvgPool2d(2)
    assert fast_pool_kernel(pool, torch.zeros(2, 3, 8, 8, dtype=torch.bfloat16)) is None
    seen = []
    handle = pool.register_forward_hook(lambda m, i, o: seen.append(o.shape))
    assert fast_pool_kernel(pool, torch.zeros(2, 3, 8, 8)) is None
    TimeFolded(pool)(torch.zeros(4, 2, 3, 8, 8))
    assert seen == [torch.Size([8, 3, 4, 4])]  # the hook ran: the layer itself was called
    handle.remove()


def test_time_folded_uses_it_unless_reference_backend(monkeypatch):
    calls = []
    import snn2hw.neurons.pooling as pooling

    real = pooling.avg_pool_mm
    monkeypatch.setattr(pooling, "avg_pool_mm", lambda x, k: calls.append(k) or real(x, k))
    net = nn.Sequential(TimeFolded(nn.AvgPool2d(2)))
    x = (torch.rand(3, 2, 4, 8, 8) > 0.5).float()
    y = net(x)
    assert calls == [2] and y.shape == (3, 2, 4, 4, 4)
    set_backend(net, "reference")
    assert torch.equal(net(x), y) and calls == [2]
    set_backend(net, "fused")
    net(x)
    assert calls == [2, 2]

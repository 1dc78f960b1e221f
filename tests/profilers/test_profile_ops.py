"""SynOps against brute-force loops over every connection; FLOPs against hand formulas."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from profilers import ops
from profilers.graph import LayerPlan, Stage


def brute_conv_fanout(conv: nn.Conv2d, in_shape) -> torch.Tensor:
    """Explicit loop over every (output channel, output position, kernel tap) connection."""
    c_in, h, w = in_shape
    (kh, kw), (sh, sw), (ph, pw), (dh, dw) = conv.kernel_size, conv.stride, conv.padding, conv.dilation
    g = conv.groups
    h_out = (h + 2 * ph - dh * (kh - 1) - 1) // sh + 1
    w_out = (w + 2 * pw - dw * (kw - 1) - 1) // sw + 1
    fan = torch.zeros(in_shape, dtype=torch.float64)
    cin_g, cout_g = c_in // g, conv.out_channels // g
    for oc in range(conv.out_channels):
        grp = oc // cout_g
        for oy in range(h_out):
            for ox in range(w_out):
                for icg in range(cin_g):
                    for ky in range(kh):
                        for kx in range(kw):
                            iy, ix = oy * sh - ph + ky * dh, ox * sw - pw + kx * dw
                            if 0 <= iy < h and 0 <= ix < w:
                                fan[grp * cin_g + icg, iy, ix] += 1
    return fan


def brute_synops(spikes: torch.Tensor, fan: torch.Tensor) -> float:
    """spikes [T, *shape] 0/1: one op per (spike, connection)."""
    total = 0.0
    for t in range(spikes.shape[0]):
        for idx in spikes[t].nonzero().tolist():
            total += float(fan[tuple(idx)])
    return total


CONVS = [
    dict(in_channels=2, out_channels=3, kernel_size=3, padding=1),
    dict(in_channels=2, out_channels=4, kernel_size=3, stride=2, padding=1),
    dict(in_channels=4, out_channels=6, kernel_size=(3, 2), stride=(2, 1), padding=(0, 1), groups=2),
    dict(in_channels=3, out_channels=3, kernel_size=3, padding=2, dilation=2, groups=3),
    dict(in_channels=2, out_channels=2, kernel_size=5, stride=3),  # right/bottom border unused
]


@pytest.mark.parametrize("kw", CONVS)
def test_conv_synops_equal_brute_force(kw):
    conv = nn.Conv2d(**kw)
    shape = (kw["in_channels"], 7, 6)
    g = torch.Generator().manual_seed(0)
    spikes = (torch.rand(3, *shape, generator=g) < 0.3).double()
    fan = ops.fanout_map([conv], shape)
    brute = brute_conv_fanout(conv, shape)
    assert torch.equal(fan, brute)
    assert float(ops.synops(spikes, fan).sum()) == brute_synops(spikes, brute)


@pytest.mark.parametrize("kw", CONVS)
def test_zero_spikes_zero_synops_and_all_ones_full_connection_count(kw):
    conv = nn.Conv2d(**kw)
    shape = (kw["in_channels"], 7, 6)
    fan = ops.fanout_map([conv], shape)
    assert float(ops.synops(torch.zeros(2, *shape), fan).sum()) == 0.0
    # all ones: every real connection once per step = out elements x taps that hit the input
    y = conv(torch.ones(1, *shape))
    with torch.no_grad():
        full = nn.functional.conv2d(torch.ones(1, *shape), torch.ones_like(conv.weight), None,
                                    conv.stride, conv.padding, conv.dilation, conv.groups).sum()
    assert y.shape[1] == kw["out_channels"]
    assert float(ops.synops(torch.ones(2, *shape), fan).sum()) == 2 * float(full)


def test_border_effect_is_visible_on_a_padded_conv():
    conv = nn.Conv2d(1, 5, 3, padding=1)
    fan = ops.fanout_map([conv], (1, 4, 4))
    assert fan[0, 0, 0] == 5 * 4 and fan[0, 0, 1] == 5 * 6 and fan[0, 1, 1] == 5 * 9
    # the dense MAC count (includes padded taps) exceeds the real connection count
    assert fan.sum() == 5 * (4 * 4 + 8 * 6 + 4 * 9) < 5 * 16 * 9


def test_linear_fanout_is_output_width():
    lin = nn.Linear(6, 11)
    fan = ops.fanout_map([lin], (6,))
    assert torch.equal(fan, torch.full((6,), 11.0, dtype=torch.float64))
    spikes = torch.tensor([[1, 0, 1, 0, 0, 1], [0, 0, 0, 0, 0, 0]], dtype=torch.float64)
    assert ops.synops(spikes, fan).tolist() == [33.0, 0.0]


def test_pool_then_conv_counts_every_path():
    pool, conv = nn.AvgPool2d(2), nn.Conv2d(2, 3, 3, padding=1, stride=1)
    shape = (2, 6, 6)
    fan = ops.fanout_map([pool, conv], shape)
    conv_fan = brute_conv_fanout(conv, (2, 3, 3))
    brute = torch.zeros(shape, dtype=torch.float64)
    for c in range(2):
        for y in range(6):
            for x in range(6):
                brute[c, y, x] = conv_fan[c, y // 2, x // 2]
    assert torch.equal(fan, brute)


def test_pool_flatten_linear_and_ceil_mode_border():
    pool = nn.AvgPool2d(2, ceil_mode=True)  # 5x5 -> 3x3: last row/col windows are partial
    fan = ops.fanout_map([pool, nn.Flatten(), nn.Linear(9, 4)], (1, 5, 5))
    assert torch.equal(fan, torch.full((1, 5, 5), 4.0, dtype=torch.float64))
    overlap = ops.fanout_map([nn.AvgPool2d(3, stride=1)], (1, 4, 4))  # 2x2 windows of 3x3
    assert overlap[0, 0, 0] == 1 and overlap[0, 1, 1] == 4 and overlap[0, 0, 1] == 2


def test_counts_shape_mismatch_is_a_clear_error():
    from profilers.errors import ProfileError

    with pytest.raises(ProfileError, match="do not match"):
        ops.synops(torch.ones(2, 3, 4), torch.ones(3, 5))


def test_layer_counts_per_sample_and_first_layer_policy():
    conv = nn.Conv2d(1, 2, 3, padding=1)
    plan = LayerPlan("conv1", Stage("conv1", conv), None, [], "lif1")
    fan = ops.fanout_map([conv], (1, 4, 4))
    out = torch.zeros(4, 2, 4, 4)
    out[0, 0, 0, 0] = 6  # 6 spikes over 3 samples
    every = ops.layer_counts(plan, fan, samples=3, timesteps=4, in_counts=None,
                             out_counts=out, out_active=None, first_layer_policy="every-step")
    once = ops.layer_counts(plan, fan, samples=3, timesteps=4, in_counts=None,
                            out_counts=out, out_active=None, first_layer_policy="once")
    assert every.macs == 4 * once.macs == 4 * 2 * 100
    assert every.spikes == 2.0 and every.neurons == 32 and every.neuron_updates == 128
    assert ops.resolve_policy("auto", static_input=True) == "once"
    assert ops.resolve_policy("auto", static_input=False) == "every-step"


def test_flop_counter_equals_hand_formula_and_hook_counter():
    conv = nn.Conv2d(3, 8, 3, stride=2, padding=1, groups=1)
    lin = nn.Linear(8 * 4 * 4, 10)
    model = nn.Sequential(conv, nn.ReLU(), nn.Flatten(), lin)
    x = torch.randn(2, 3, 8, 8)
    flops = ops.flop_counter_flops(model, x)
    hand_conv = 2 * 8 * 4 * 4 * 3 * 3 * 3  # batch x C_out x H_out x W_out x C_in x kh x kw
    hand_lin = 2 * 10 * 128
    assert flops["0"] == 2 * hand_conv and flops["3"] == 2 * hand_lin  # FLOPs = 2 x MACs
    hooks = ops.hook_macs(model, x)
    assert hooks["0"][0] == hand_conv and hooks["3"][0] == hand_lin


def test_flop_counter_cross_checked_on_student_and_teacher():
    from snn2hw.models.digits import DigitsCNN, digits_snn
    from snn2hw.neurons import PRESETS

    x = torch.rand(3, 1, 8, 8)
    for model in (DigitsCNN((1, 8, 8), 10), digits_snn((1, 8, 8), 10, 4, PRESETS["tet"])):
        flops = ops.flop_counter_flops(model, x)
        hooks = ops.hook_macs(model, x)
        assert set(flops) == set(hooks)
        for name in flops:
            assert flops[name] == 2 * hooks[name][0] > 0, name
    layers = ops.ann_layers(model, x[:1], per=4)
    assert [a.macs for a in layers] == [16 * 64 * 9, 32 * 16 * 16 * 9, 128 * 64, 64 * 10]


def test_fanout_map_leaves_the_model_where_it_is():
    """Connectivity is computed on the CPU without moving the module (a CUDA model stays put)."""
    conv = nn.Conv2d(2, 3, 3, padding=1, device="meta")
    fan = ops.fanout_map([nn.AvgPool2d(2), conv], (2, 4, 4))
    assert conv.weight.device.type == "meta"
    assert fan.device.type == "cpu" and float(fan[0, 0, 0]) == 3 * 4

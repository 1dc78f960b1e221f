"""Neuron dynamics against hand-computed traces, and surrogate gradients against their formulas."""

from __future__ import annotations

import math

import pytest
import torch

from snn2hw.neurons import PRESETS, NeuronSpec, SpikingNeuron
from snn2hw.neurons import functional as F
from snn2hw.neurons.surrogates import heaviside, spike_fn

X = torch.tensor([0.6, 0.6, 0.6, 0.3, 1.2, 0.0])


def run(spec: NeuronSpec, x: torch.Tensor) -> torch.Tensor:
    return SpikingNeuron(spec)(x.view(-1, 1)).view(-1)


def test_tet_lif_trace():
    # leak 0.5, v_th 1, hard reset to 0:
    # h: 0.6 -> 0.9 -> 0.6*... let us write it out: v0=0
    # t0 h=0.6 z=0 v=0.6; t1 h=0.3+0.6=0.9 z=0 v=0.9; t2 h=0.45+0.6=1.05 z=1 v=0
    # t3 h=0.3 z=0 v=0.3; t4 h=0.15+1.2=1.35 z=1 v=0; t5 h=0 z=0
    z = run(PRESETS["tet"], X)
    assert z.tolist() == [0, 0, 1, 0, 1, 0]


def test_if_trace_no_leak():
    # IF, v_th 1: cumulative 0.6, 1.2 -> spike, reset 0; 0.6; 0.9; 2.1 -> spike; 0
    z = run(PRESETS["kdsnn"], X)
    assert z.tolist() == [0, 1, 0, 0, 1, 0]


def test_idsnn_lif_trace():
    # leak 0.25, v_th 0.5: t0 h=0.6 spike v=0; t1 0.6 spike; t2 spike; t3 h=0.3 no (v=0.3);
    # t4 h=0.075+1.2 spike; t5 h=0 no
    z = run(PRESETS["idsnn"], X)
    assert z.tolist() == [1, 1, 1, 0, 1, 0]


def test_soft_reset_keeps_excess():
    spec = NeuronSpec(kind="if", v_th=1.0, reset="soft")
    z, s = F.lif_step(torch.tensor(1.5), F.LIFState(torch.tensor(0.0)), leak=1.0, v_th=1.0,
                      spike=spike_fn("triangle", 1.0), reset="soft")
    assert z.item() == 1 and s.v.item() == pytest.approx(0.5)
    assert run(spec, torch.tensor([1.5, 0.6, 0.0])).tolist() == [1, 1, 0]


def test_membrane_values_hand_computed():
    spike = spike_fn("triangle", 1.0)
    state = F.LIFState(torch.tensor(0.0))
    vs = []
    for x in [0.6, 0.6, 0.6]:
        _, state = F.lif_step(torch.tensor(x), state, leak=0.5, v_th=1.0, spike=spike)
        vs.append(state.v.item())
    assert vs == pytest.approx([0.6, 0.9, 0.0])


def test_threshold_is_inclusive():
    assert heaviside(torch.tensor([-1e-6, 0.0, 1e-6])).tolist() == [0, 1, 1]


def test_cuba_hand_trace():
    # dt*tau_mem_inv = 0.5, dt*tau_syn_inv = 0.5, v_th = 1
    # t0: i'=1, h = 0 + 0.5*(0 - 0 + 1) = 0.5, i=0.5, no spike
    # t1: i'=0.5+1=1.5, h = 0.5 + 0.5*(-0.5 + 1.5) = 1.0 -> spike, v=0, i=0.75
    # t2: i'=0.75, h = 0 + 0.5*0.75 = 0.375, i = 0.375
    spec = NeuronSpec(kind="cuba", dt=1e-3, tau_mem_inv=500.0, tau_syn_inv=500.0, v_th=1.0)
    spike = spike_fn("superspike", 100.0)
    state = F.CubaState(v=torch.tensor(0.0), i=torch.tensor(0.0))
    trace = []
    for x in [1.0, 1.0, 0.0]:
        z, state = F.cuba_lif_step(torch.tensor(x), state, dt=spec.dt, tau_syn_inv=spec.tau_syn_inv,
                                   tau_mem_inv=spec.tau_mem_inv, v_th=spec.v_th, spike=spike)
        trace.append((z.item(), state.v.item(), state.i.item()))
    assert trace == [pytest.approx(t) for t in [(0, 0.5, 0.5), (1, 0.0, 0.75), (0, 0.375, 0.375)]]


def test_cuba_matches_norse_forward_and_gradient():
    from norse.torch.functional.lif import LIFFeedForwardState, LIFParameters, lif_feed_forward_step

    torch.manual_seed(0)
    x = torch.randn(8, 5, 7) * 3
    p = LIFParameters(tau_syn_inv=torch.tensor(200.0), tau_mem_inv=torch.tensor(100.0),
                      v_th=torch.tensor(0.3), method="super", alpha=torch.tensor(100.0))
    # Norse's SuperSpike ignores alpha: grad = 1/(|x|+1)^2, i.e. ours with alpha = 1.
    spec = NeuronSpec(kind="cuba", tau_syn_inv=200.0, tau_mem_inv=100.0, v_th=0.3,
                      surrogate="superspike", surrogate_width=1.0)
    xa, xb = x.clone().requires_grad_(), x.clone().requires_grad_()
    ours = SpikingNeuron(spec)(xa)
    s = LIFFeedForwardState(v=torch.zeros(5, 7), i=torch.zeros(5, 7))
    theirs = []
    for x_t in xb:
        z, s = lif_feed_forward_step(x_t, s, p, dt=1e-3)
        theirs.append(z)
    theirs = torch.stack(theirs)
    assert torch.equal(ours, theirs) and ours.sum() > 0
    w = torch.randn_like(ours)
    (ours * w).sum().backward()
    (theirs * w).sum().backward()
    torch.testing.assert_close(xa.grad, xb.grad)


@pytest.mark.parametrize(
    "name,width,formula",
    [
        ("triangle", 1.0, lambda x: max(0.0, 1 - abs(x))),
        ("triangle", 0.5, lambda x: max(0.0, 0.5 - abs(x)) / 0.25),
        ("rectangle", 1.0, lambda x: 1.0 if abs(x) < 0.5 else 0.0),
        ("superspike", 2.0, lambda x: 1 / (2 * abs(x) + 1) ** 2),
        ("atan", 2.0, lambda x: 1.0 / (1 + (math.pi * x) ** 2)),
    ],
)
def test_surrogate_gradients_match_formulas(name, width, formula):
    xs = [-1.2, -0.4, -0.1, 0.0, 0.2, 0.45, 0.9]
    x = torch.tensor(xs, requires_grad=True)
    z = spike_fn(name, width)(x)
    assert z.tolist() == [0, 0, 0, 1, 1, 1, 1]
    z.sum().backward()
    assert x.grad.tolist() == pytest.approx([formula(v) for v in xs])


def test_unknown_surrogate_lists_choices():
    with pytest.raises(ValueError, match="choose one of atan, rectangle, superspike, triangle"):
        spike_fn("sigmoid", 1.0)


def test_detached_reset_blocks_reset_gradient():
    spike = spike_fn("rectangle", 1.0)
    x = torch.tensor([0.8, 0.3], requires_grad=True)
    grads = []
    for detach in (False, True):
        x.grad = None
        state = F.LIFState(torch.tensor(0.0))
        for x_t in x:
            z, state = F.lif_step(x_t, state, leak=0.25, v_th=0.5, spike=spike, detach_reset=detach)
        # gradient of the final membrane wrt the first input: through reset only
        state.v.backward()
        grads.append(x.grad[0].item())
    # step 0: h0 = 0.8 spikes, v0 = h0 (1 - z0): dv0/dx0 = (1 - z0) - h0 dz0/dh0 = 0 - 0.8 * 1
    #   (rectangle surrogate: 1 since |0.8 - 0.5| < 0.5); detached reset: dv0/dx0 = 1 - z0 = 0.
    # step 1: h1 = 0.25 v0 + 0.3 = 0.3, no spike; dv1/dh1 = (1 - z1) - h1 dz1/dh1 = 1 - 0.3 = 0.7
    #   (|0.3 - 0.5| < 0.5, so the surrogate is 1 again; detached: 1 - z1 = 1).
    # attached: 0.7 * 0.25 * -0.8 = -0.14; detached: 1 * 0.25 * 0 = 0.
    assert grads == pytest.approx([-0.14, 0.0])


def test_multistep_layer_shapes_and_time_fold():
    from torch import nn

    from snn2hw.neurons import TimeFolded

    x = torch.rand(3, 2, 1, 4, 4)
    y = TimeFolded(nn.Conv2d(1, 5, 3, padding=1))(x)
    assert y.shape == (3, 2, 5, 4, 4)
    z = SpikingNeuron(PRESETS["tet"])(y)
    assert z.shape == y.shape and set(z.unique().tolist()) <= {0.0, 1.0}

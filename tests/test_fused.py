"""The fused multi-step LIF gives the reference path's spikes and (within 1e-5) its gradients."""

from __future__ import annotations

import dataclasses
import zlib

import pytest
import torch

from snn2hw.neurons import PRESETS, NeuronSpec, SpikingNeuron, set_backend

SPECS = {
    **PRESETS,
    "soft": NeuronSpec(kind="lif", leak=0.8, v_th=0.7, reset="soft", surrogate="atan", surrogate_width=2.0),
    "soft-detached": NeuronSpec(kind="if", v_th=1.0, reset="soft", detach_reset=True, surrogate="superspike",
                                surrogate_width=3.0),
    "reset-to-0.2": NeuronSpec(kind="lif", leak=0.9, v_th=1.0, v_reset=0.2),
}


@pytest.mark.parametrize("name", [k for k in SPECS if SPECS[k].kind != "cuba"])
@pytest.mark.parametrize("shape", [(6, 4, 3, 5, 5), (1, 2, 7), (9, 3, 16)])
def test_fused_equals_reference(name, shape):
    spec = SPECS[name]
    torch.manual_seed(zlib.crc32(repr((name, shape)).encode()))
    x = torch.randn(*shape, dtype=torch.float64) * 1.5 + 0.4
    w = torch.randn(*shape, dtype=torch.float64)
    outs, grads = [], []
    for backend in ("reference", "fused"):
        xi = x.clone().requires_grad_()
        layer = SpikingNeuron(spec, backend=backend)
        assert layer.resolved_backend == backend
        z = layer(xi)
        (z * w).sum().backward()
        outs.append(z.detach())
        grads.append(xi.grad)
    assert torch.equal(outs[0], outs[1])
    assert 0 < outs[0].mean() < 1  # the case exercises both spikes and silence
    torch.testing.assert_close(grads[1], grads[0], rtol=1e-5, atol=1e-12)


def test_fused_float32_training_model_gradients_match():
    from snn2hw.models import ModelSpec, build_model

    spec = ModelSpec("student", "digits-snn", (1, 8, 8), 10, 4, PRESETS["tet"])
    torch.manual_seed(0)
    a = build_model(spec)
    b = build_model(spec)
    b.load_state_dict(a.state_dict())
    set_backend(a, "reference")
    set_backend(b, "fused")
    x = torch.rand(16, 1, 8, 8)
    for m in (a, b):
        m(x).pow(2).sum().backward()
    for (n, pa), (_, pb) in zip(a.named_parameters(), b.named_parameters()):
        torch.testing.assert_close(pb.grad, pa.grad, rtol=1e-5, atol=1e-6, msg=n)


def test_auto_picks_fused_for_lif_and_reference_for_cuba():
    assert SpikingNeuron(PRESETS["tet"]).resolved_backend == "fused"
    assert SpikingNeuron(PRESETS["norse"]).resolved_backend == "reference"
    with pytest.raises(ValueError, match="cuba"):
        set_backend(torch.nn.Sequential(SpikingNeuron(PRESETS["norse"])), "fused")
    with pytest.raises(ValueError, match="choose one of auto, fused, reference, triton"):
        set_backend(torch.nn.Sequential(), "cupy")


def test_fused_keeps_input_dtype_with_fp32_state():
    """bf16 currents (autocast): spikes and gradients in bf16, the membrane in fp32, i.e. the
    spikes of the fp32 computation on the same bf16 values (a bf16 state would round v)."""
    spec = dataclasses.replace(PRESETS["tet"], leak=0.9)
    torch.manual_seed(3)
    x = (torch.randn(8, 3, 64) * 0.7 + 0.3).to(torch.bfloat16).requires_grad_()
    z = SpikingNeuron(spec, backend="fused")(x)
    assert z.dtype == torch.bfloat16
    z.sum().backward()
    assert x.grad.dtype == torch.bfloat16
    x32 = x.detach().float().requires_grad_()
    z32 = SpikingNeuron(spec, backend="fused")(x32)
    z32.sum().backward()
    assert torch.equal(z.float(), z32)
    torch.testing.assert_close(x.grad.float(), x32.grad, rtol=1e-2, atol=1e-2)

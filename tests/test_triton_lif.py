"""The Triton LIF kernels give the fused/reference path's spikes and gradients.

On CPU the kernels run under Triton's interpreter, which needs TRITON_INTERPRET=1 before triton
is first imported: test_interpreter_cases runs this file's interpreter cases in a child pytest with
it set (they skip in the parent). On a CUDA machine the test_cuda_* cases also run the compiled
kernels on the GPU. Shapes are tiny: the interpreter is slow.
"""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
import zlib

import pytest
import torch

triton = pytest.importorskip("triton", reason="triton is not installed (the kernels need it)")

from snn2hw.neurons import PRESETS, NeuronSpec, SpikingNeuron, set_backend, triton_lif

SPECS = {
    "tet": PRESETS["tet"],
    "idsnn": PRESETS["idsnn"],
    "kdsnn": PRESETS["kdsnn"],
    "soft-atan": NeuronSpec(kind="lif", leak=0.5, v_th=0.7, reset="soft", surrogate="atan",
                            surrogate_width=2.0),
    "soft-detached-superspike": NeuronSpec(kind="if", v_th=1.0, reset="soft", detach_reset=True,
                                           surrogate="superspike", surrogate_width=3.0),
    "reset-to-0.25-rectangle": NeuronSpec(kind="lif", leak=0.75, v_th=1.0, v_reset=0.25,
                                          surrogate="rectangle", surrogate_width=0.5),
    "triangle-width-2": NeuronSpec(kind="lif", leak=0.5, v_th=1.0, surrogate_width=2.0),
}


EXACT_LEAKS = (1.0, 0.5, 0.25)


IN_CHILD = os.environ.get("TRITON_INTERPRET") == "1"
interpreted = pytest.mark.skipif(not IN_CHILD, reason="runs in test_interpreter_cases' child")


@pytest.mark.skipif(IN_CHILD, reason="this is the child")
def test_interpreter_cases():
    """The interpreter cases below, in a child process that sets TRITON_INTERPRET=1 first."""
    r = subprocess.run(
        [sys.executable, "-m", "pytest", __file__, "-x", "-q", "-p", "no:cacheprovider",
         "-k", "not cuda and not interpreter_cases"],
        env={**os.environ, "TRITON_INTERPRET": "1"}, capture_output=True, text=True, timeout=300,
        check=False)
    assert r.returncode == 0, r.stdout[-6000:] + r.stderr[-2000:]
    assert " passed" in r.stdout and "skipped" not in r.stdout.splitlines()[-1], r.stdout[-2000:]


def _run(spec, backend, x, w):
    xi = x.clone().requires_grad_()
    layer = SpikingNeuron(spec, backend=backend)
    z = layer(xi)
    (z.float() * w).sum().backward()
    return layer.path_for(xi), z.detach(), xi.grad


def _inputs(name, shape, dtype):
    torch.manual_seed(zlib.crc32(repr((name, shape)).encode()))
    x = (torch.randn(*shape) * 1.5 + 0.4).to(dtype)
    return x, torch.randn(*shape)


@interpreted
@pytest.mark.parametrize("name", list(SPECS))
def test_triton_equals_fused_and_reference_fp32(name):
    spec = SPECS[name]
    x, w = _inputs(name, (5, 3, 700), torch.float32)  # 2100 neurons: 3 blocks, a masked tail
    path, z_t, g_t = _run(spec, "triton", x, w)
    assert path == "triton"
    for backend in ("fused", "reference"):
        _, z, g = _run(spec, backend, x, w)
        assert torch.equal(z_t, z), backend
        torch.testing.assert_close(g_t, g, rtol=1e-5, atol=1e-6, msg=backend)
    assert 0 < z_t.mean() < 1  # both spikes and silence
    assert g_t.abs().sum() > 0


@interpreted
@pytest.mark.parametrize("name", ["tet", "idsnn", "soft-atan"])
def test_triton_bf16_input_keeps_fp32_state(name):
    """bf16 currents, fp32 membrane: the same as the fused path on bf16 input (also fp32 state),
    and the same spikes as fp32 on the bf16 values; spikes and gradients come back in bf16."""
    spec = SPECS[name]
    x, w = _inputs(name, (4, 2, 300), torch.bfloat16)
    _, z_t, g_t = _run(spec, "triton", x, w)
    _, z_f, g_f = _run(spec, "fused", x, w)
    _, z_32, g_32 = _run(spec, "fused", x.float(), w)
    assert z_t.dtype == torch.bfloat16 and g_t.dtype == torch.bfloat16
    assert torch.equal(z_t, z_f) and torch.equal(z_t.float(), z_32)
    torch.testing.assert_close(g_t, g_f, rtol=1e-2, atol=1e-3)
    torch.testing.assert_close(g_t.float(), g_32, rtol=1e-2, atol=1e-2)


@interpreted
def test_triton_expanded_input_and_single_step():
    """An input expanded over time (step stride 0) is read without a copy; T = 1 works."""
    spec = SPECS["tet"]
    base = torch.rand(2, 50) * 3
    x = base.unsqueeze(0).expand(4, 2, 50)
    assert x.stride(0) == 0
    for xs in (x, x[:1]):
        w = torch.randn(xs.shape)
        _, z_t, g_t = _run(spec, "triton", xs, w)
        _, z_f, g_f = _run(spec, "fused", xs.contiguous(), w)
        assert torch.equal(z_t, z_f)
        torch.testing.assert_close(g_t, g_f, rtol=1e-5, atol=1e-6)


@interpreted
def test_triton_channels_last_layout_is_used_as_is():
    """A channels-last conv output split into [T, B, C, H, W] runs without a copy, in its layout."""
    spec = SPECS["idsnn"]
    x = (torch.randn(3 * 2, 5, 4, 6) + 0.3).to(memory_format=torch.channels_last)
    x = x.view(3, 2, 5, 4, 6)
    assert not x.is_contiguous()
    w = torch.randn(x.shape)
    _, z_t, g_t = _run(spec, "triton", x, w)
    _, z_f, g_f = _run(spec, "fused", x.contiguous(), w)
    assert z_t.stride() == x.stride()
    assert torch.equal(z_t, z_f)
    torch.testing.assert_close(g_t, g_f, rtol=1e-5, atol=1e-6)


@interpreted
def test_triton_model_gradients_match_fused():
    from snn2hw.models import ModelSpec, build_model

    spec = ModelSpec("student", "digits-snn", (1, 8, 8), 10, 2, PRESETS["tet"])
    torch.manual_seed(0)
    a, b = build_model(spec), build_model(spec)
    b.load_state_dict(a.state_dict())
    set_backend(a, "fused")
    set_backend(b, "triton")
    x = torch.rand(2, 1, 8, 8)
    for m in (a, b):
        m(x).pow(2).sum().backward()
    for (n, pa), (_, pb) in zip(a.named_parameters(), b.named_parameters()):
        torch.testing.assert_close(pb.grad, pa.grad, rtol=1e-5, atol=1e-6, msg=n)


def test_auto_takes_fused_on_cpu_and_triton_rejects_what_it_cannot_run(monkeypatch):
    x = torch.rand(2, 3)
    assert SpikingNeuron(PRESETS["tet"]).path_for(x) == "fused"  # auto: triton is for CUDA only
    assert SpikingNeuron(PRESETS["norse"], backend="auto").path_for(x) == "reference"
    with pytest.raises(ValueError, match="cuba"):
        set_backend(torch.nn.Sequential(SpikingNeuron(PRESETS["norse"])), "triton")
    monkeypatch.setenv("TRITON_INTERPRET", "0")
    with pytest.raises(ValueError, match="CUDA device.*auto"):
        SpikingNeuron(PRESETS["tet"], backend="triton")(x)
    with pytest.raises(ValueError, match="float inputs"):
        triton_lif.multistep_lif_triton(torch.ones(2, 3, dtype=torch.int64),
                                        dataclasses.replace(PRESETS["tet"]))


cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")


@cuda
@pytest.mark.gpu
@pytest.mark.parametrize("name", list(SPECS))
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_cuda_triton_equals_fused(name, dtype):
    spec = SPECS[name]
    x, w = _inputs(name, (4, 64, 4099), dtype)
    x, w = x.cuda(), w.cuda()
    path, z_t, g_t = _run(spec, "auto", x, w)
    assert path == "triton"
    _, z_f, g_f = _run(spec, "fused", x, w)
    if spec.effective_leak not in EXACT_LEAKS:  # a GPU fma may move h by one ulp (docstring)
        pytest.skip("leak * v is inexact: spikes may differ by an ulp on the GPU")
    assert torch.equal(z_t, z_f)
    tol = {"rtol": 1e-5, "atol": 1e-6} if dtype == torch.float32 else {"rtol": 1e-2, "atol": 1e-3}
    torch.testing.assert_close(g_t, g_f, **tol)

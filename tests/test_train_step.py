"""The whole-step path: TrainStep (eager, bf16 autocast, CUDA graphs) and its option checks."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

from snn2hw.errors import ConfigError
from snn2hw.models import ModelSpec, build_model
from snn2hw.neurons import PRESETS
from snn2hw.train_step import TrainStep, check_step_options


def _ce_step(net, x, y):
    logits = net(x)
    return {"loss": nn.functional.cross_entropy(logits, y)}, logits


def _student(T=2):
    torch.manual_seed(0)
    return build_model(ModelSpec("student", "digits-snn", (1, 8, 8), 10, T, PRESETS["tet"]))


def _batches(n, b=8, device="cpu"):
    g = torch.Generator().manual_seed(1)
    return [(torch.rand(b, 1, 8, 8, generator=g).to(device),
             torch.randint(0, 10, (b,), generator=g).to(device)) for _ in range(n)]


def _manual(model, opt, batches, bf16=False):
    for x, y in batches:
        with torch.autocast(x.device.type, dtype=torch.bfloat16, enabled=bf16):
            loss = nn.functional.cross_entropy(model(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_eager_train_step_is_the_plain_step(precision):
    a = _student()
    b = copy.deepcopy(a)
    oa, ob = (torch.optim.Adam(m.parameters(), lr=1e-2) for m in (a, b))
    batches = _batches(3)
    _manual(a, oa, batches, bf16=precision == "bf16")
    step = TrainStep(_ce_step, b, ob, precision=precision)
    for x, y in batches:
        terms, logits = step(x, y)
        assert terms["loss"].dtype == torch.float32 and torch.isfinite(terms["loss"])
        assert logits.dtype == (torch.bfloat16 if precision == "bf16" else torch.float32)
    for (n, pa), (_, pb) in zip(a.named_parameters(), b.named_parameters()):
        assert torch.equal(pa, pb), n
    assert step.replays == 0
    assert not torch.equal(a.body.conv1.layer.weight, _student().body.conv1.layer.weight)


def test_bf16_autocast_gives_the_neurons_bf16_currents_and_keeps_their_state_fp32():
    """Under bf16 autocast the convolutions hand bf16 currents to the neurons; the fused neuron
    then spikes as the fp32 computation on those same bf16 values would."""
    from snn2hw.neurons.fused import multistep_lif

    model = _student(T=4)
    seen = []
    lif = model.body.lif1
    lif.register_forward_hook(lambda m, i, o: seen.append((i[0].detach(), o.detach())))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        model(torch.rand(4, 1, 8, 8))
    x, z = seen[0]
    assert x.dtype == torch.bfloat16 and z.dtype == torch.bfloat16
    assert torch.equal(z.float(), multistep_lif(x.float(), lif.spec))


def test_cuda_graphs_on_cpu_is_a_clear_error():
    with pytest.raises(ConfigError, match="--cuda-graphs.*CUDA device.*cpu.*Drop --cuda-graphs"):
        check_step_options(torch.device("cpu"), precision="fp32", cuda_graphs=True)
    with pytest.raises(ConfigError, match="unknown precision 'fp16'.*fp32, bf16"):
        check_step_options(torch.device("cpu"), precision="fp16", cuda_graphs=False)
    with pytest.raises(ConfigError, match="torchrun"):
        check_step_options(torch.device("cuda"), precision="fp32", cuda_graphs=True,
                           distributed=True)
    with pytest.raises(ConfigError, match="--neuron-backend triton.*cpu.*--neuron-backend auto"):
        check_step_options(torch.device("cpu"), precision="fp32", cuda_graphs=False,
                           neuron_backend="triton")
    check_step_options(torch.device("cpu"), precision="bf16", cuda_graphs=False)  # fine


def test_cli_cuda_graphs_on_cpu_fails_before_making_a_run(cli, tmp_path):
    r = cli("distill", "--runs-dir", tmp_path, "--name", "g", "--device", "cpu", "--cuda-graphs",
            "--epochs", "1")
    assert r.exit_code == 2, r.output
    assert "--cuda-graphs" in r.output and "CUDA" in r.output and "Traceback" not in r.output
    assert not (tmp_path / "g").exists()


def test_cli_bf16_precision_trains(cli, tmp_path):
    import yaml

    r = cli("distill", "--runs-dir", tmp_path, "--name", "b", "--precision", "bf16", "--method",
            "baseline", "--epochs", "1", "--set", "data.train_subset=64", "--set",
            "data.test_subset=32")
    assert r.exit_code == 0, r.output
    assert yaml.safe_load((tmp_path / "b" / "config.yaml").read_text())["train"]["precision"] == "bf16"
    r = cli("distill", "--runs-dir", tmp_path, "--name", "c", "--precision", "fp16", "--epochs", "1")
    assert r.exit_code == 2 and "fp16" in r.output and "bf16" in r.output


cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")


@cuda
@pytest.mark.gpu
@pytest.mark.parametrize("opt_name", ["sgd", "adam"])
def test_cuda_graph_step_trains_like_the_eager_step(opt_name):
    """Same batches (full ones, a smaller last one, an lr change) -> the same parameters."""
    dev = torch.device("cuda")
    a = _student().to(dev)
    b = copy.deepcopy(a)

    def make(m, capturable):
        if opt_name == "sgd":
            return torch.optim.SGD(m.parameters(), lr=1e-2, momentum=0.9)
        return torch.optim.Adam(m.parameters(), lr=1e-2, capturable=capturable)

    oa, ob = make(a, False), make(b, True)
    ea = TrainStep(_ce_step, a, oa)
    gb = TrainStep(_ce_step, b, ob, cuda_graphs=True, warmup=2)
    batches = _batches(6, device=dev) + _batches(1, b=5, device=dev) + _batches(2, device=dev)
    for i, (x, y) in enumerate(batches):
        if i == 7:
            for o in (oa, ob):
                o.param_groups[0]["lr"] = 5e-3
        la, _ = ea(x, y)
        lb, _ = gb(x, y)
        torch.testing.assert_close(lb["loss"], la["loss"], rtol=1e-4, atol=1e-5)
    assert gb.replays >= 4
    for (n, pa), (_, pb) in zip(a.named_parameters(), b.named_parameters()):
        torch.testing.assert_close(pb, pa, rtol=1e-4, atol=1e-5, msg=n)


def test_training_forward_runs_the_layers_before_the_first_neuron_once():
    """Direct encoding in training: the digits student's conv1 runs on [B, ...] once; logits and
    gradients equal the T*B-folded computation (fed as the same image repeated in a [B, T, ...]
    sequence, which takes the plain path)."""
    torch.manual_seed(0)
    shape = (1, 8, 8)
    m = build_model(ModelSpec("student", "digits-snn", shape, 10, 3, PRESETS["tet"])).train()
    conv1 = next(mod for mod in m.modules() if isinstance(mod, nn.Conv2d))
    seen = []
    hook = conv1.register_forward_hook(lambda mod, i, o: seen.append(i[0].shape[0]))
    x = torch.rand(4, *shape)
    outs, grads = [], []
    for inp in (x, x.unsqueeze(1).expand(4, 3, *shape)):
        m.zero_grad()
        out = m(inp)
        out.pow(2).sum().backward()
        outs.append(out.detach())
        grads.append({n: p.grad.clone() for n, p in m.named_parameters()})
    hook.remove()
    assert seen == [4, 12]  # once per sample, then once per sample and step
    torch.testing.assert_close(outs[0], outs[1], rtol=1e-5, atol=1e-6)
    for n in grads[0]:
        torch.testing.assert_close(grads[0][n], grads[1][n], rtol=1e-4, atol=1e-6, msg=n)
    m.eval()
    seen.clear()
    hook = conv1.register_forward_hook(lambda mod, i, o: seen.append(i[0].shape[0]))
    m(x)
    hook.remove()
    assert seen == [12]  # evaluation (profilers, export checks) keeps the per-step folding

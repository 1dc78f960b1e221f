"""The papers' networks: parameter counts against the papers' / reference codes' numbers,
CIFAR-shaped forwards, declared feature taps, and loading teacher state dicts."""

from __future__ import annotations

import pytest
import torch

from snn2hw.distill.taps import TeacherTaps, classifier_weight
from snn2hw.errors import CheckpointError
from snn2hw.models import ModelSpec, build_model
from snn2hw.models.weights import load_teacher_weights
from snn2hw.neurons import PRESETS

X = torch.randn(2, 3, 32, 32)


def n_params(m) -> int:
    return sum(p.numel() for p in m.parameters())


# (role, arch, classes, published count, tolerance, where the count is published)
COUNTS = [
    ("teacher", "resnet32x4", 100, 7.43e6, 0.01e6, "CRD/RepDistiller: 7.43M"),
    ("teacher", "wrn40-2", 100, 2.25e6, 0.01e6, "CRD/RepDistiller: 2.25M"),
    ("teacher", "vgg13", 100, 9.46e6, 0.01e6, "CRD/RepDistiller: 9.46M"),
    ("teacher", "preresnet20", 10, 0.27e6, 0.005e6, "He et al. 2016: 0.27M"),
    ("teacher", "pyramidnet18", 10, 1.56e6, 0.005e6, "KDSNN Table 3: 1.56M"),
    ("teacher", "wrn28-4-preact", 10, 5.85e6, 0.005e6, "KDSNN Table 3: 5.85M"),
    ("teacher", "resnet18", 10, 11.17e6, 0.005e6, "KDSNN Table 3: 11.17M"),
    ("student", "vgg11-kdsnn", 10, 9.75e6, 0.005e6, "KDSNN Table 3: 9.75M"),
    ("student", "wrn16-2", 10, 0.69e6, 0.005e6, "KDSNN Table 3: 0.69M"),
    ("student", "resnet18", 10, 11.17e6, 0.005e6, "KDSNN Table 3: 11.17M"),
]


def test_pyramidnet_110_alpha_48_has_the_papers_parameter_count():
    from snn2hw.models.paper_resnets import PyramidNet

    net = PyramidNet((18, 18, 18), 48, (3, 32, 32), 10)  # Han et al. 2017, Table: 1.7M
    assert abs(n_params(net) - 1.7e6) <= 0.08e6


def build(role: str, arch: str, classes: int = 10, in_shape=(3, 32, 32)):
    return build_model(ModelSpec(role, arch, in_shape, classes, 2, PRESETS["tet"]))


@pytest.mark.parametrize("role,arch,classes,count,tol,src", COUNTS, ids=lambda v: str(v))
def test_parameter_count_matches_the_published_one(role, arch, classes, count, tol, src):
    assert abs(n_params(build(role, arch, classes)) - count) <= tol, src


NEW_TEACHERS = ["resnet19-ckdsnn", "resnet19-tet", "resnet20", "resnet32x4", "preresnet20",
                "pyramidnet18", "pyramidnet20", "wrn40-2", "wrn28-4-preact", "vgg13"]
NEW_STUDENTS = ["resnet19-ckdsnn", "resnet19-tet", "resnet18-sastc", "resnet14", "resnet20",
                "vgg11-kdsnn", "vgg11-sastc"]


@pytest.mark.parametrize("arch", NEW_TEACHERS)
def test_teacher_forward_and_taps_on_a_cifar_batch(arch):
    net = build("teacher", arch, 100).eval()
    taps = TeacherTaps(net, arch)
    with torch.no_grad():
        assert net(X).shape == (2, 100)
    feats = taps.pop()
    taps.close()
    assert list(feats) == list(net.feature_taps) and len(feats) >= 3
    sizes = [f.shape[-1] for f in feats.values()]
    assert sizes == sorted(sizes, reverse=True) and sizes[0] >= 8  # deeper taps are not larger
    # Pre-activation taps hold negative values (the ReLU has not been applied yet).
    assert all((f < 0).any() for f in feats.values())
    if net.classifier is not None:  # a CAM head: one linear layer after global pooling
        w = classifier_weight(net)
        assert w.shape == (100, list(feats.values())[-1].shape[1])


@pytest.mark.parametrize("arch", NEW_STUDENTS)
def test_student_forward_and_taps_on_a_cifar_batch(arch):
    net = build("student", arch, 10)
    out, feats = net.forward_sequence(X)
    assert out.shape == (2, 2, 10) and net(X).shape == (2, 10)
    assert list(feats) == list(net.feature_taps) and len(feats) >= 3
    for name, f in feats.items():
        if name in getattr(net, "analog_taps", ()):  # CKDSNN's last block ends in a ReLU
            assert arch == "resnet19-ckdsnn" and (f >= 0).all() and not set(f.unique().tolist()) <= {0.0, 1.0}
        else:
            assert set(f.unique().tolist()) <= {0.0, 1.0}, name  # spikes


def test_sastc_resnet18_is_tets_resnet19_layout_and_ckdsnn_differs():
    a, b, c = (build("student", n) for n in ("resnet18-sastc", "resnet19-tet", "resnet19-ckdsnn"))
    assert [p.shape for p in a.parameters()] == [p.shape for p in b.parameters()]
    blocks = [len(getattr(a.body, f"layer{i}")) for i in (1, 2, 3)]
    assert blocks == [3, 3, 2]
    assert isinstance(c.body.layer2[0].downsample[0].layer, torch.nn.AvgPool2d)  # ResNet-D
    assert isinstance(c.body.layer3[1].spike2, torch.nn.ReLU)


def test_vgg13_keeps_the_4x4_map_for_its_last_two_blocks_on_cifar():
    net = build("teacher", "vgg13", 100).eval()
    taps = TeacherTaps(net, "vgg13")
    net(X)
    assert [f.shape[-1] for f in taps.pop().values()] == [16, 8, 4, 4]


# ------------------------------------------------------------------------- --teacher-weights

def test_own_state_dict_and_wrapped_prefixed_variants_load(tmp_path):
    src = build("teacher", "resnet32x4", 100)
    sd = src.state_dict()
    variants = {
        "plain.pt": sd,
        "repdistiller.pth": {"model": {k.replace(".shortcut.", ".downsample."): v for k, v in sd.items()}},
        "ddp.pth": {"state_dict": {"module." + k: v for k, v in sd.items()}, "epoch": 240},
    }
    for name, obj in variants.items():
        torch.save(obj, tmp_path / name)
        dst = build("teacher", "resnet32x4", 100)
        load_teacher_weights(dst, "resnet32x4", tmp_path / name)
        assert all(torch.equal(a, b) for a, b in zip(dst.state_dict().values(), sd.values())), name


def test_repdistiller_vgg_and_ckdsnn_resnet_key_names_load(tmp_path):
    vgg = build("teacher", "vgg13", 100)
    sd = {("classifier." + k[3:] if k.startswith("fc.") else k): v for k, v in vgg.state_dict().items()}
    assert "block0.0.weight" in sd and "classifier.weight" in sd  # RepDistiller's names
    torch.save(sd, tmp_path / "vgg13.pth")
    load_teacher_weights(build("teacher", "vgg13", 100), "vgg13", tmp_path / "vgg13.pth")
    ck = build("teacher", "resnet19-ckdsnn", 10)
    keys = set(ck.state_dict())
    assert {"layer2.0.downsample.1.weight", "layer2.0.downsample.2.running_mean",
            "linear.weight"} <= keys  # CKDSNN's ann_models/resnet.py names


def test_mismatched_weights_name_the_first_key_and_the_architecture(tmp_path):
    torch.save(build("teacher", "resnet32x4", 10).state_dict(), tmp_path / "c10.pt")
    with pytest.raises(CheckpointError, match=r"fc.weight'.*resnet32x4 expects shape \(100, 256\).*"
                                               r"has \(10, 256\)"):
        load_teacher_weights(build("teacher", "resnet32x4", 100), "resnet32x4", tmp_path / "c10.pt")
    torch.save(build("teacher", "wrn40-2", 10).state_dict(), tmp_path / "wrn.pt")
    with pytest.raises(CheckpointError, match=r"key 'conv1.weight': architecture resnet32x4 expects "
                                               r"shape \(32, 3, 3, 3\), the file has \(16, 3, 3, 3\)"):
        load_teacher_weights(build("teacher", "resnet32x4", 10), "resnet32x4", tmp_path / "wrn.pt")
    sd = build("teacher", "preresnet20", 10).state_dict()
    del sd["layer2.0.downsample.0.weight"]
    torch.save(sd, tmp_path / "missing.pt")
    with pytest.raises(CheckpointError, match=r"architecture preresnet20 expects key "
                                               r"'layer2.0.downsample.0.weight', which the file lacks"):
        load_teacher_weights(build("teacher", "preresnet20", 10), "preresnet20", tmp_path / "missing.pt")
    sd = build("teacher", "preresnet20", 10).state_dict()
    sd["extra.weight"] = torch.zeros(1)
    torch.save(sd, tmp_path / "extra.pt")
    with pytest.raises(CheckpointError, match=r"the file has key 'extra.weight', which architecture "
                                               r"preresnet20 does not have"):
        load_teacher_weights(build("teacher", "preresnet20", 10), "preresnet20", tmp_path / "extra.pt")


def test_unreadable_or_foreign_weight_files_are_clean_errors(tmp_path):
    net = build("teacher", "preresnet20", 10)
    with pytest.raises(CheckpointError, match="does not exist"):
        load_teacher_weights(net, "preresnet20", tmp_path / "none.pt")
    (tmp_path / "junk.pt").write_bytes(b"not a torch file")
    with pytest.raises(CheckpointError, match="not a PyTorch weights file"):
        load_teacher_weights(net, "preresnet20", tmp_path / "junk.pt")
    torch.save({"epoch": 3, "acc": 0.9}, tmp_path / "meta.pt")
    with pytest.raises(CheckpointError, match=r"holds no state dict of tensors \(found: epoch, acc\)"):
        load_teacher_weights(net, "preresnet20", tmp_path / "meta.pt")

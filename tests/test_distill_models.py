"""Students and teachers of the suite build, run, and expose their declared feature taps."""

from __future__ import annotations

import pytest
import torch

from snn2hw.distill.taps import TeacherTaps, classifier_weight
from snn2hw.errors import ConfigError
from snn2hw.models import STUDENTS, TEACHERS
from snn2hw.neurons import PRESETS

SHAPE = (3, 16, 16)  # CIFAR layouts at a smaller size keep this fast


@pytest.mark.parametrize("arch", sorted(STUDENTS))
def test_student_taps_are_spike_maps_per_step(arch):
    m = STUDENTS[arch](SHAPE, 10, 2, PRESETS["tet"])
    out, feats = m.forward_sequence(torch.rand(2, *SHAPE))
    assert out.shape == (2, 2, 10)
    assert list(feats) == list(m.feature_taps) and feats
    for name, f in feats.items():
        assert f.shape[:2] == (2, 2)
        if name not in getattr(m, "analog_taps", ()):  # declared non-spiking (a paper's ReLU)
            assert set(f.unique().tolist()) <= {0.0, 1.0}  # spikes leave every tapped stage


@pytest.mark.parametrize("arch", sorted(TEACHERS))
def test_teacher_taps_are_pre_activations_collected_by_hooks(arch):
    m = TEACHERS[arch](SHAPE, 10).eval()
    taps = TeacherTaps(m, arch)
    x = torch.rand(2, *SHAPE)
    logits = m(x)
    feats = taps.pop()
    assert list(feats) == list(m.feature_taps) and logits.shape == (2, 10)
    assert any((f < 0).any() for f in feats.values())  # pre-ReLU values, not activations
    w = classifier_weight(m)
    if w is not None:  # CAM classifier: fc(global-avg-pool(relu(last tap))) gives the logits
        last = torch.relu(list(feats.values())[-1]).mean(dim=(2, 3))
        assert torch.allclose(last @ w.t() + m.get_submodule(m.classifier).bias, logits, atol=1e-5)
    taps.close()
    m(x)
    assert taps.pop() == {}  # hooks removed


def test_resnet_tap_relu_equals_stage_output():
    m = TEACHERS["digits-resnet"]((1, 8, 8), 10).eval()
    taps = TeacherTaps(m, "digits-resnet")
    x = torch.rand(3, 1, 8, 8)
    m(x)
    feats = taps.pop()
    h = m.relu(m.bn1(m.conv1(x)))
    assert torch.allclose(torch.relu(feats["layer1"]), m.layer1(h))


def test_teacher_without_taps_is_a_clear_error():
    from torch import nn

    with pytest.raises(ConfigError, match="declares no feature taps.*--teacher-arch"):
        TeacherTaps(nn.Linear(2, 2), "linear")

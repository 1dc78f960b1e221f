"""Per-method defaults filled in when the user leaves keys unset: neuron, event teacher for ckdsnn."""

from __future__ import annotations

import pytest
import torch

from snn2hw.config import resolve_config, with_dataset_defaults
from snn2hw.distill.ckdsnn import cam
from snn2hw.distill.taps import classifier_weight
from snn2hw.models import TEACHERS


@pytest.mark.parametrize("method,neuron", [("kdsnn", "kdsnn"), ("kdsnn-feature", "kdsnn"),
                                           ("idsnn", "idsnn"), ("sastc", "tet"), ("ckdsnn", "tet"),
                                           ("kd", "tet"), ("baseline", "tet")])
def test_each_method_gets_its_paper_neuron_unless_set(method, neuron):
    cfg = with_dataset_defaults(resolve_config(overrides={"distill.method": method}))
    assert cfg.student.neuron == neuron
    given = with_dataset_defaults(resolve_config(overrides={"distill.method": method,
                                                            "student.neuron": "norse"}))
    assert given.student.neuron == "norse"


def test_ckdsnn_on_event_data_defaults_to_the_pooled_vgg_teacher():
    cfg = with_dataset_defaults(resolve_config(overrides={"distill.method": "ckdsnn",
                                                          "data.dataset": "cifar10-dvs"}))
    assert cfg.teacher.arch == "vgg-ann-gap"
    kd = with_dataset_defaults(resolve_config(overrides={"data.dataset": "cifar10-dvs"}))
    assert kd.teacher.arch == "vgg-ann"


def test_vgg_ann_gap_logits_are_the_spatial_mean_of_its_cam():
    """Pooled head: logit_k - bias_k = mean_hw sum_c W[k, c] F(c, h, w), the CAM before the ReLU."""
    torch.manual_seed(0)
    t = TEACHERS["vgg-ann-gap"]((2, 32, 32), 5).eval()
    assert classifier_weight(t) is not None and classifier_weight(TEACHERS["vgg-ann"]((2, 32, 32), 5)) is None
    x = torch.rand(3, 4, 2, 32, 32)  # [B, T, 2, H, W] event frames
    feats = {}
    t.features.register_forward_hook(lambda m, i, o: feats.setdefault("f", o))
    logits = t(x)
    f, w, b = feats["f"], t.head[2].weight, t.head[2].bias
    k = logits.argmax(-1)
    raw = torch.einsum("bchw,bc->bhw", f, w[k])
    assert torch.allclose(raw.mean((1, 2)) + b[k], logits[torch.arange(3), k], atol=1e-5)
    assert torch.equal(cam(f, w, k), raw.clamp_min(0))

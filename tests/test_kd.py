"""Response KD against a hand computation."""

from __future__ import annotations

import math

import pytest
import torch

from snn2hw.distill.kd import kd_loss


def softmax(v):
    e = [math.exp(a) for a in v]
    return [a / sum(e) for a in e]


def test_kd_loss_equals_hand_computation_with_tau_squared():
    s = [[1.0, 2.0, 0.5], [0.0, -1.0, 3.0]]
    t = [[2.0, 1.0, 0.0], [1.0, 1.0, 1.0]]
    tau = 2.0
    expected = 0.0
    for sr, tr in zip(s, t):
        ps, pt = softmax([a / tau for a in sr]), softmax([a / tau for a in tr])
        expected += sum(q * math.log(q / p) for p, q in zip(ps, pt))
    expected = tau**2 * expected / 2
    got = kd_loss(torch.tensor(s), torch.tensor(t), tau)
    assert got.item() == pytest.approx(expected, rel=1e-6)


def test_kd_zero_when_equal_and_no_teacher_gradient():
    s = torch.randn(4, 10, requires_grad=True)
    t = s.detach().clone().requires_grad_()
    loss = kd_loss(s, t, 4.0)
    assert loss.item() == pytest.approx(0.0, abs=1e-6)
    (kd_loss(s, t * 2, 4.0)).backward()
    assert t.grad is None and s.grad is not None

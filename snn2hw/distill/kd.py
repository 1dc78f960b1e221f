"""Response knowledge distillation (Hinton et al. 2015).

    L_KD = tau^2 * KL( softmax(z_t / tau) || softmax(z_s / tau) ),  averaged over the batch.

The tau^2 factor keeps the gradient scale independent of tau. Defaults used by the papers:
SASTC tau=4 w=1, IDSNN tau=4 w=0.3, CKDSNN tau=2 w=1.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def kd_loss(student_logits: torch.Tensor, teacher_logits: torch.Tensor, tau: float) -> torch.Tensor:
    """tau^2 * KL(p_t || p_s) with p = softmax(logits / tau); batch mean; teacher gets no gradient."""
    log_p_s = F.log_softmax(student_logits / tau, dim=-1)
    log_p_t = F.log_softmax(teacher_logits.detach() / tau, dim=-1)
    kl = (log_p_t.exp() * (log_p_t - log_p_s)).sum(-1).mean()
    return tau * tau * kl

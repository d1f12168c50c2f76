"""The gated-fusion objective: cross-entropy of the fused scores plus lambda times the head's own."""
from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F


class GatedLoss(NamedTuple):
    """The total loss and its two cross-entropy terms (the head's term is zero, detached, when lambda is 0)."""

    total: torch.Tensor
    fused: torch.Tensor
    head: torch.Tensor


def gated_fusion_loss(fused_scores: torch.Tensor, head_logits: torch.Tensor, labels: torch.Tensor,
                      lam: float) -> GatedLoss:
    """Return CE(fused_scores) + lam * CE(head_logits), for scores (N, C) and labels (N,).

    With lam == 0 the head's term is left out of the graph entirely, so the classification head
    receives no gradient at all (not even zeros that weight decay or momentum would act on).
    """
    fused = F.cross_entropy(fused_scores.float(), labels)
    if lam == 0:
        with torch.no_grad():
            head = F.cross_entropy(head_logits.float(), labels)
        return GatedLoss(fused, fused, head)
    head = F.cross_entropy(head_logits.float(), labels)
    return GatedLoss(fused + lam * head, fused, head)

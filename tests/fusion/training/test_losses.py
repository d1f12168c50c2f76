"""The gated loss CE(G) + lambda * CE(head): values, and lambda = 0 leaves the classifier untouched."""
from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from twostream.fusion.heads.gating import GatedFusionHead
from twostream.fusion.training.losses import gated_fusion_loss
from twostream.fusion.training.tasks import GateTask


def test_loss_adds_lambda_times_the_head_cross_entropy_averaged_over_the_batch():
    # closed forms: equal logits over 3 classes cost ln 3; logits (ln 2, 0, 0) cost ln 2 for class 0
    fused = torch.tensor([[0.0, 0.0, 0.0], [math.log(2.0), 0.0, 0.0]])
    head = torch.zeros(2, 3, requires_grad=True)
    labels = torch.tensor([1, 0])
    loss = gated_fusion_loss(fused, head, labels, 0.1)
    assert loss.fused.item() == pytest.approx((math.log(3) + math.log(2)) / 2)
    assert loss.head.item() == pytest.approx(math.log(3))
    assert loss.total.item() == pytest.approx((math.log(3) + math.log(2)) / 2 + 0.1 * math.log(3))
    without_head = gated_fusion_loss(fused, head, labels, 0.0)
    assert without_head.total.item() == pytest.approx((math.log(3) + math.log(2)) / 2)
    assert without_head.head.item() == pytest.approx(math.log(3)) and not without_head.head.requires_grad


def _batch(size: int = 4, segments: int = 3, classes: int = 3) -> dict[str, torch.Tensor]:
    generator = torch.Generator().manual_seed(0)
    return {
        "rgb_map": torch.randn(size, segments, 4, 3, 3, generator=generator),
        "flow_map": torch.randn(size, segments, 4, 3, 3, generator=generator),
        "rgb_logits": torch.randn(size, segments, classes, generator=generator),
        "flow_logits": torch.randn(size, segments, classes, generator=generator),
        "label": torch.tensor([0, 1, 2, 0]),
    }


def _classifier_grad(lam: float) -> torch.Tensor | None:
    torch.manual_seed(0)
    head = GatedFusionHead(nn.Sequential(nn.Conv2d(4, 5, 1), nn.ReLU()), 5, 3, 4, dropout=0.0)
    loss, _ = GateTask(head).training_loss(_batch(), lam)
    loss.backward()
    assert head.gate.weight.grad is not None and head.gate.weight.grad.abs().sum() > 0
    return head.classifier.weight.grad


def test_lambda_zero_gives_the_classification_head_no_gradient():
    assert _classifier_grad(0.0) is None
    grad = _classifier_grad(1.0)
    assert grad is not None and grad.abs().sum() > 0


def test_gate_outputs_are_averaged_over_segments_before_the_activation():
    torch.manual_seed(0)
    head = GatedFusionHead(nn.Flatten(), 4 * 3 * 3, 3, 4, dropout=0.0)
    with torch.no_grad():
        head.gate.weight.zero_()
        head.gate.weight[0, 0] = 1.0  # gate_rgb follows one input value; gate_flow stays at its bias 0.5
    batch = _batch(size=1)
    batch["label"] = torch.tensor([1])
    rgb_map = torch.zeros(1, 3, 4, 3, 3)
    rgb_map[0, :, 0, 0, 0] = torch.tensor([3.0, -2.0, -2.0])  # per-segment gate_rgb 3.5, -1.5, -1.5
    batch["rgb_map"], batch["flow_map"] = rgb_map, rgb_map.clone()  # conv fusion starts as their mean
    _, parts = GateTask(head).training_loss(batch, 0.0)
    # consensus first: relu(mean(3.5, -1.5, -1.5)) = 1/6; averaging relu outputs would give 7/6
    fused = (1 / 6) * batch["rgb_logits"].mean(dim=1) + 0.5 * batch["flow_logits"].mean(dim=1)
    assert parts["fused_ce"] == pytest.approx(F.cross_entropy(fused, batch["label"]).item(), rel=1e-5)

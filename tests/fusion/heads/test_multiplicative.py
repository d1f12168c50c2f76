"""Multiplicative fusion, feature amplification and baselines A and B: formulas and shapes."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from twostream.fusion.errors import FusionError
from twostream.fusion.heads.amplification import FeatureAmplificationHead, amplify
from twostream.fusion.heads.multiplicative import (
    LinearCombinationFront,
    MultiplicativeFusion,
    baseline_a_head,
    baseline_b_head,
    multiplicative_fusion_head,
)

ALPHA = torch.tensor([[1.0, 0.0], [0.5, -1.0]])  # (K = 2, a_dim = 2)
BETA = torch.tensor([[2.0], [1.0]])  # (K = 2, b_dim = 1)


def _set_weights(fusion: MultiplicativeFusion, maps: bool) -> None:
    with torch.no_grad():
        fusion.alpha.weight.copy_(ALPHA[:, :, None, None] if maps else ALPHA)
        fusion.beta.weight.copy_(BETA[:, :, None, None] if maps else BETA)


def test_m_fusion_on_vectors_equals_the_formula_by_hand():
    fusion = MultiplicativeFusion(2, 1, width=2, maps=False)
    _set_weights(fusion, maps=False)
    # C_1 = (1 + 1*1 + 0*2) * (1 + 2*3) = 14;  C_2 = (1 + 0.5*1 - 1*2) * (1 + 1*3) = -2
    out = fusion(torch.tensor([[1.0, 2.0]]), torch.tensor([[3.0]]))
    assert out.tolist() == [[14.0, -2.0]]


def test_m_fusion_on_maps_applies_the_formula_at_every_position():
    fusion = MultiplicativeFusion(2, 1, width=2, maps=True)
    _set_weights(fusion, maps=True)
    a = torch.tensor([[1.0, 0.0], [2.0, 1.0]]).reshape(1, 2, 1, 2)  # positions: (1, 2) and (0, 1)
    b = torch.tensor([3.0, -1.0]).reshape(1, 1, 1, 2)
    # position 2: C_1 = (1 + 0) * (1 - 2) = -1;  C_2 = (1 + 0 - 1) * (1 - 1) = 0
    assert fusion(a, b).reshape(2, 2).tolist() == [[14.0, -1.0], [-2.0, 0.0]]


def test_m_fusion_refuses_features_that_do_not_pair():
    with pytest.raises(FusionError, match="do not pair"):
        MultiplicativeFusion(2, 2, width=4)(torch.randn(1, 2, 3, 3), torch.randn(1, 2, 4, 4))


@pytest.mark.parametrize("maps", [True, False])
def test_feature_heads_give_class_logits_for_maps_and_vectors(maps):
    torch.manual_seed(0)
    a, b = (torch.randn(5, 6, 3, 3), torch.randn(5, 4, 3, 3)) if maps else (torch.randn(5, 6), torch.randn(5, 4))
    heads = [
        multiplicative_fusion_head(6, 4, 7, width=16, maps=maps, hidden=(8,)),
        baseline_a_head(6, 4, 7, hidden=(8,)),
        baseline_b_head(6, 4, 7, maps=maps, hidden=()),
    ]
    for head in heads:
        assert head(a, b).shape == (5, 7)
    assert heads[0].front.out_dim == 16 and heads[1].front.out_dim == 10 and heads[2].front.out_dim == 6


def test_default_m_fusion_width_is_2048():
    assert multiplicative_fusion_head(6, 4, 7).front.out_dim == 2048


def test_baseline_b_is_a_linear_combination_of_the_concatenation():
    front = LinearCombinationFront(2, 1, out_dim=1, maps=False)
    with torch.no_grad():
        front.combine.weight.copy_(torch.tensor([[1.0, -2.0, 0.5]]))
        front.combine.bias.fill_(0.25)
    assert front(torch.tensor([[1.0, 2.0]]), torch.tensor([[4.0]])).tolist() == [[1.0 - 4.0 + 2.0 + 0.25]]


def test_amplification_multiplies_maps_by_one_plus_the_magnitude():
    maps = torch.tensor([[1.0, 2.0], [3.0, -4.0]]).reshape(1, 1, 2, 2).repeat(1, 2, 1, 1)
    maps[0, 1] *= 10
    magnitude = torch.tensor([[[0.0, 1.0], [0.5, 2.0]]])
    expected_channel = torch.tensor([[1.0, 4.0], [4.5, -12.0]])
    out = amplify(maps, magnitude)
    torch.testing.assert_close(out[0, 0], expected_channel)
    torch.testing.assert_close(out[0, 1], 10 * expected_channel)


def test_amplification_resizes_the_magnitude_to_the_map_grid():
    maps = torch.ones(1, 3, 4, 4)
    out = amplify(maps, torch.full((1, 2, 2), 0.5))
    torch.testing.assert_close(out, torch.full((1, 3, 4, 4), 1.5))
    with pytest.raises(FusionError, match="amplify needs"):
        amplify(maps, torch.ones(1, 1, 2, 2))


def test_amplification_head_feeds_pooled_amplified_maps_to_the_spatial_fc():
    fc = nn.Linear(2, 3)
    head = FeatureAmplificationHead(fc)
    maps, magnitude = torch.randn(4, 2, 3, 3), torch.rand(4, 3, 3)
    torch.testing.assert_close(head(maps, magnitude), fc((maps * (1 + magnitude[:, None])).mean(dim=(2, 3))))

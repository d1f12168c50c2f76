"""The pooled gate body: both maps pooled side by side, standardised on training data, one hidden layer."""
from __future__ import annotations

import pytest
import torch

from twostream.fusion.errors import FusionError
from twostream.fusion.heads.gating import GatedFusionHead
from twostream.fusion.heads.pooled_body import PooledPairBody, Standardise


def test_standardise_centres_and_scales_each_feature_and_keeps_constant_ones():
    samples = torch.tensor([[1.0, 5.0, 2.0], [3.0, 5.0, 4.0], [5.0, 5.0, 9.0]])
    standardise = Standardise(3)
    standardise.fit(samples)
    out = standardise(samples)
    torch.testing.assert_close(out[:, [0, 2]].mean(dim=0), torch.zeros(2))
    torch.testing.assert_close(out[:, [0, 2]].std(dim=0), torch.ones(2))
    assert torch.equal(out[:, 1], torch.zeros(3))  # a constant feature: centred, not divided by zero
    with pytest.raises(FusionError, match="standardisation needs"):
        standardise.fit(torch.zeros(1, 3))


def test_the_body_pools_each_channel_of_both_maps_then_its_hidden_layer():
    torch.manual_seed(0)
    body = PooledPairBody(channels=6, hidden=4)
    maps = torch.randn(5, 6, 3, 3)
    assert torch.equal(body.pooled(maps), maps.mean(dim=(2, 3)))
    expected = torch.relu(body.hidden(body.pooled(maps)))  # the standardisation starts as the identity
    torch.testing.assert_close(body(maps), expected)
    with pytest.raises(FusionError, match="positive widths"):
        PooledPairBody(channels=0)


def test_a_gate_on_the_pooled_body_keeps_the_streams_apart_and_its_state_travels():
    torch.manual_seed(0)
    body = PooledPairBody(channels=2 * 5, hidden=8)
    body.standardise.fit(torch.randn(20, 10) * 3 + 1)
    head = GatedFusionHead(body, body_dim=8, num_classes=4, rgb_channels=5, flow_channels=5, fusion="concat",
                           activation="softmax")
    rgb, flow = torch.randn(3, 5, 2, 2), torch.randn(3, 5, 2, 2)
    head.eval()
    out = head(rgb, flow)
    assert out.gate.shape == (3, 2) and out.logits.shape == (3, 4)
    swapped = head(flow, rgb)  # the body sees which map is which: swapping the streams changes the gate
    assert not torch.allclose(out.gate, swapped.gate)
    state = head.state_dict()
    assert {"body.standardise.mean", "body.standardise.std"} <= set(state)
    copy = GatedFusionHead(PooledPairBody(channels=10, hidden=8), body_dim=8, num_classes=4, rgb_channels=5,
                           flow_channels=5, fusion="concat", activation="softmax")
    copy.load_state_dict(state)
    copy.eval()
    torch.testing.assert_close(copy(rgb, flow).gate, out.gate)

"""The gated fusion head: map fusion, shapes, the ReLU and softmax gates, the zero-gate guard."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from twostream.fusion.errors import FusionError
from twostream.fusion.heads.gating import GatedFusionHead, fuse_scores, gate_weights
from twostream.fusion.heads.map_fusion import ConvFusion, body_for_concat, make_map_fusion, widen_conv_input
from twostream.pipeline.backbones import build_backbone


def _body(channels: int, width: int = 6) -> nn.Module:
    return nn.Sequential(nn.Conv2d(channels, width, 3, padding=1), nn.ReLU())


@pytest.mark.parametrize("fusion, body_channels", [("conv", 5), ("concat", 10)])
def test_head_output_shapes_for_both_map_fusions(fusion, body_channels):
    torch.manual_seed(0)
    head = GatedFusionHead(_body(body_channels), body_dim=6, num_classes=7, rgb_channels=5, fusion=fusion)
    assert head.body_channels == body_channels
    out = head(torch.randn(4, 5, 3, 3), torch.randn(4, 5, 3, 3))
    assert out.gate.shape == (4, 2) and out.logits.shape == (4, 7)


def test_conv_fusion_starts_as_the_mean_of_the_streams():
    rgb, flow = torch.randn(2, 4, 3, 3), torch.randn(2, 4, 3, 3)
    torch.testing.assert_close(ConvFusion(4, 4)(rgb, flow), (rgb + flow) / 2)
    with pytest.raises(FusionError, match="equal rgb, flow and output widths"):
        ConvFusion(4, 6)


def test_widened_conv_on_concatenated_maps_equals_the_conv_on_their_mean():
    torch.manual_seed(0)
    conv = nn.Conv2d(4, 3, 3, padding=1)
    rgb, flow = torch.randn(2, 4, 5, 5), torch.randn(2, 4, 5, 5)
    wide = widen_conv_input(conv)
    torch.testing.assert_close(wide(make_map_fusion("concat", 4)(rgb, flow)), conv((rgb + flow) / 2))


def test_concat_at_the_last_map_tap_gives_the_heads_both_pooled_maps_side_by_side():
    pooling = build_backbone("tiny", "rgb", 3).layers_after("conv4")  # the last map tap: pooling follows
    body, width = body_for_concat(pooling, 2, 2, 3, 3)
    assert width == 4
    head = GatedFusionHead(body, width, 3, 2, fusion="concat", dropout=0.0)
    rgb = torch.tensor([1.0, 2.0])[None, :, None, None].expand(1, 2, 3, 3)
    flow = torch.tensor([[[3.0, 3.0, 3.0]] * 3, [[4.0, 0.0, 8.0]] * 3])[None]  # pools to 3 and 4
    assert head.features(rgb, flow).tolist() == [[1.0, 2.0, 3.0, 4.0]]
    assert head(rgb, flow).gate.shape == (1, 2)


def test_concat_into_a_body_refuses_what_it_cannot_widen():
    with pytest.raises(FusionError, match="needs equal widths, got rgb 4 and flow 6"):
        body_for_concat(_body(4), 4, 6, 3, 3)
    with pytest.raises(FusionError, match="no convolution of the body reads the 4-channel tap"):
        body_for_concat(nn.Conv2d(8, 3, 1), 4, 4, 3, 3)  # reads 8 channels: not the tap


def test_map_fusion_refuses_unknown_kinds_and_mismatched_grids():
    with pytest.raises(FusionError, match="unknown map fusion"):
        make_map_fusion("sum", 4)
    with pytest.raises(FusionError, match="do not pair"):
        make_map_fusion("concat", 4)(torch.randn(1, 4, 3, 3), torch.randn(1, 4, 4, 4))


def test_relu_gate_keeps_positive_parts_and_softmax_gate_normalises():
    raw = torch.tensor([[1.5, -2.0], [0.25, 3.0]])
    relu = gate_weights(raw, "relu")
    assert relu.weights.tolist() == [[1.5, 0.0], [0.25, 3.0]]
    assert not relu.fallback.any()
    soft = gate_weights(raw, "softmax")
    torch.testing.assert_close(soft.weights, torch.softmax(raw, dim=1))
    with pytest.raises(FusionError, match="unknown gate activation"):
        gate_weights(raw, "sigmoid")


def test_zero_gate_falls_back_to_equal_weights_and_is_flagged():
    raw = torch.tensor([[-1.0, -0.5], [2.0, -1.0], [0.0, 0.0]])
    guarded = gate_weights(raw, "relu")
    assert guarded.fallback.tolist() == [True, False, True]
    assert guarded.weights.tolist() == [[0.5, 0.5], [2.0, 0.0], [0.5, 0.5]]
    rgb, flow = torch.tensor([[4.0, 0.0]] * 3), torch.tensor([[0.0, 2.0]] * 3)
    fused = fuse_scores(guarded.weights, rgb, flow)
    assert fused.tolist() == [[2.0, 1.0], [8.0, 0.0], [2.0, 1.0]], "no sample gets an all-zero score"


def test_head_gate_starts_near_equal_weights():
    torch.manual_seed(0)
    head = GatedFusionHead(_body(5), 6, 3, 5, dropout=0.0)
    weights = head.weights(head(torch.randn(8, 5, 3, 3), torch.randn(8, 5, 3, 3)).gate)
    torch.testing.assert_close(weights.weights, torch.full((8, 2), 0.5), atol=0.05, rtol=0)
    assert not weights.fallback.any()


def test_head_refuses_bad_settings():
    with pytest.raises(FusionError, match="dropout"):
        GatedFusionHead(_body(5), 6, 3, 5, dropout=1.0)
    with pytest.raises(FusionError, match="activation"):
        GatedFusionHead(_body(5), 6, 3, 5, activation="tanh")


def _batch_norm_body() -> nn.BatchNorm2d:
    """A body that only normalises: running mean (1, -1), running variance 4 (epsilon 1e-5 aside)."""
    body = nn.BatchNorm2d(2)
    body.running_mean.copy_(torch.tensor([1.0, -1.0]))
    body.running_var.fill_(4.0)
    return body


@pytest.mark.parametrize("frozen, pooled, running_mean", [
    (True, [0.5, 1.5], [1.0, -1.0]),  # (2 - 1) / 2 and (2 + 1) / 2 with the running statistics, kept
    (False, [0.0, 0.0], [1.1, -0.7]),  # a constant batch normalised by its own statistics; 0.9 * old + 0.1 * 2
])
def test_the_body_batch_norm_is_frozen_by_default_while_the_head_trains(frozen, pooled, running_mean):
    head = GatedFusionHead(_batch_norm_body(), 2, 3, 2, dropout=0.0, frozen_bn=frozen).train()
    assert head.body.training is not frozen and head.classifier.training
    rgb, flow = torch.full((2, 2, 3, 3), 3.0), torch.ones(2, 2, 3, 3)  # conv fusion starts as the mean: 2
    features = head.features(rgb, flow)
    torch.testing.assert_close(features, torch.tensor([pooled, pooled]))
    torch.testing.assert_close(head.body.running_mean, torch.tensor(running_mean))
    features.sum().backward()
    assert head.fusion.conv.weight.grad is not None
    assert all((parameter.grad is None) is frozen for parameter in head.body.parameters())

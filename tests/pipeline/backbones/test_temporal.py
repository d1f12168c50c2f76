"""Temporal (flow) variants: 10 input channels, cross-modality initialisation from the RGB weights."""
from __future__ import annotations

import pytest
import torch

from twostream.pipeline.backbones import (
    BACKBONES,
    FLOW_CHANNELS,
    BackboneError,
    build_backbone,
    cross_modality_weight,
    to_flow,
)

NUM_CLASSES = 5


@pytest.mark.parametrize("name", BACKBONES)
def test_flow_variant_is_the_rgb_net_with_an_averaged_first_conv(name: str) -> None:
    torch.manual_seed(3)
    rgb = build_backbone(name, "rgb", NUM_CLASSES)
    torch.manual_seed(3)
    flow = build_backbone(name, "flow", NUM_CLASSES)
    channels = 2 if name == "i3d" else FLOW_CHANNELS  # I3D reads one flow field (x, y) per frame of a clip
    assert (flow.modality, flow.in_channels, rgb.modality) == ("flow", channels, "rgb")
    first = f"{rgb.FIRST_CONV}.weight"
    rgb_weights, flow_weights = rgb.state_dict(), flow.state_dict()
    assert flow_weights[first].shape[1] == channels
    mean = rgb_weights[first].mean(dim=1)
    for channel in range(channels):
        torch.testing.assert_close(flow_weights[first][:, channel], mean)
    assert rgb_weights.keys() == flow_weights.keys()
    for key in rgb_weights.keys() - {first}:
        assert torch.equal(rgb_weights[key], flow_weights[key]), key


def test_flow_net_runs_on_flow_stacks() -> None:
    flow = build_backbone("bninception", "flow", NUM_CLASSES).eval()
    with torch.no_grad():
        outputs = flow.forward_taps(torch.randn(1, FLOW_CHANNELS, 224, 224), flow.default_taps)
    assert outputs["inception4e"].shape == (1, 1056, 7, 7)
    assert outputs["logits"].shape == (1, NUM_CLASSES)
    assert flow.tap_shape("inception4e") == (1056, 7, 7)


def test_flow_default_dropout_follows_tsn() -> None:
    assert build_backbone("bninception", "rgb", 3).config["dropout"] == 0.8
    assert build_backbone("bninception", "flow", 3).config["dropout"] == 0.7
    assert build_backbone("tiny", "flow", 3, dropout=0.25).config["dropout"] == 0.25


def test_flow_from_pretrained_weights_keeps_them() -> None:
    rgb = build_backbone("efficientnet_lite0", "rgb", 1000, pretrained=True)
    flow = build_backbone("efficientnet_lite0", "flow", 1000, pretrained=True)
    torch.testing.assert_close(flow._conv_stem.weight[:, 4], rgb._conv_stem.weight.mean(dim=1))
    torch.testing.assert_close(flow._fc.weight, rgb._fc.weight)


def test_cross_modality_weight_and_to_flow_refuse_non_rgb_input() -> None:
    with pytest.raises(BackboneError, match="needs RGB conv weights"):
        cross_modality_weight(torch.zeros(4, 10, 3, 3))
    with pytest.raises(BackboneError, match="already a flow network"):
        to_flow(build_backbone("tiny", "flow", 3))
    with pytest.raises(BackboneError, match="needs the full network"):
        to_flow(build_backbone("tiny", "rgb", 3).layers_after("conv2"))

"""Cross-modality initialisation: a temporal (flow) network made from an RGB one."""
from __future__ import annotations

import torch

from twostream.pipeline.backbones.base import FLOW_CHANNELS, RGB_CHANNELS, Backbone
from twostream.pipeline.backbones.errors import BackboneError


def cross_modality_weight(rgb_weight: torch.Tensor, in_channels: int = FLOW_CHANNELS) -> torch.Tensor:
    """First-conv weights for `in_channels` inputs: the mean over the RGB channels, repeated."""
    if rgb_weight.dim() != 4 or rgb_weight.shape[1] != RGB_CHANNELS:
        raise BackboneError(f"cross-modality initialisation needs RGB conv weights (out, 3, kh, kw), got {tuple(rgb_weight.shape)}")
    return rgb_weight.mean(dim=1, keepdim=True).repeat(1, in_channels, 1, 1)


def to_flow(rgb: Backbone, in_channels: int = FLOW_CHANNELS) -> Backbone:
    """A new temporal network with the RGB network's weights, its first conv cross-modality initialised."""
    if rgb.modality != "rgb":
        raise BackboneError(f"backbone {rgb.name!r} is already a {rgb.modality} network; cross-modality initialisation starts from RGB")
    if rgb.stages != rgb.taps:
        raise BackboneError(f"backbone {rgb.name!r}: cross-modality initialisation needs the full network, not a part")
    weights = rgb.state_dict()
    first = f"{rgb.FIRST_CONV}.weight"
    weights[first] = cross_modality_weight(weights[first], in_channels)
    return rgb.rebuild_with(weights, in_channels=in_channels)

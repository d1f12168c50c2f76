"""Cross-modality initialisation: a temporal (flow) network made from an RGB one."""
from __future__ import annotations

import torch

from twostream.pipeline.backbones.base import FLOW_CHANNELS, RGB_CHANNELS, Backbone
from twostream.pipeline.backbones.errors import BackboneError


def cross_modality_weight(rgb_weight: torch.Tensor, in_channels: int = FLOW_CHANNELS) -> torch.Tensor:
    """First-conv weights for `in_channels` inputs: the mean over the RGB channels, repeated (2D or 3D kernels)."""
    if rgb_weight.dim() not in (4, 5) or rgb_weight.shape[1] != RGB_CHANNELS:
        raise BackboneError("cross-modality initialisation needs RGB conv weights (out, 3, kh, kw) or (out, 3, kt, kh, "
                            f"kw), got {tuple(rgb_weight.shape)}")
    return rgb_weight.mean(dim=1, keepdim=True).repeat(1, in_channels, *(1,) * (rgb_weight.dim() - 2))


def to_flow(rgb: Backbone, in_channels: int | None = None) -> Backbone:
    """A new temporal network with the RGB network's weights, its first conv cross-modality initialised for
    `in_channels` inputs (default: the architecture's FLOW_INPUT)."""
    in_channels = rgb.FLOW_INPUT if in_channels is None else in_channels
    if rgb.modality != "rgb":
        raise BackboneError(f"backbone {rgb.name!r} is already a {rgb.modality} network; cross-modality initialisation starts from RGB")
    if rgb.stages != rgb.taps:
        raise BackboneError(f"backbone {rgb.name!r}: cross-modality initialisation needs the full network, not a part")
    weights = rgb.state_dict()
    first = f"{rgb.FIRST_CONV}.weight"
    weights[first] = cross_modality_weight(weights[first], in_channels)
    return rgb.rebuild_with(weights, in_channels=in_channels)

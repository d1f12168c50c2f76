"""Feature amplification after Park et al.: spatial maps scaled by (1 + optical-flow magnitude)."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from twostream.fusion.errors import FusionError
from twostream.fusion.heads.layers import pool_features


def amplify(maps: torch.Tensor, flowmag: torch.Tensor) -> torch.Tensor:
    """Return maps (N, C, H, W) * (1 + flowmag), the (N, H', W') magnitude resized bilinearly to H x W."""
    if maps.ndim != 4 or flowmag.ndim != 3 or maps.shape[0] != flowmag.shape[0]:
        raise FusionError(f"amplify needs maps (N, C, H, W) and flowmag (N, H, W); got {tuple(maps.shape)}, "
                          f"{tuple(flowmag.shape)}")
    magnitude = flowmag[:, None]
    if magnitude.shape[2:] != maps.shape[2:]:
        magnitude = F.interpolate(magnitude, size=maps.shape[2:], mode="bilinear", align_corners=False)
    return maps * (1 + magnitude)


class FeatureAmplificationHead(nn.Module):
    """Amplified spatial maps through the spatial net's fully connected layers (`fc`), fine-tuned.

    With `pool` the maps are global-average-pooled first (pass the backbone's final linear layer,
    initialised from its weights); without, `fc` receives the maps (N, C, H, W) as they are.
    """

    def __init__(self, fc: nn.Module, pool: bool = True) -> None:
        """Wrap the spatial net's fully connected layers `fc`."""
        super().__init__()
        self.fc = fc
        self.pool = pool

    def forward(self, rgb_map: torch.Tensor, flowmag: torch.Tensor) -> torch.Tensor:
        """Return class logits for spatial maps amplified by the flow magnitude."""
        amplified = amplify(rgb_map, flowmag)
        return self.fc(pool_features(amplified) if self.pool else amplified)

"""A tiny convolutional backbone with the full backbone interface, for fast tests and demos."""
from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from twostream.pipeline.backbones.base import RGB_CHANNELS, Backbone
from twostream.pipeline.backbones.normalization import IMAGENET

# (tap, output channels, stride) of each conv-BN-ReLU unit.
UNITS = (("conv1", 8, 2), ("conv2", 16, 2), ("conv3", 32, 2), ("conv4", 32, 1))


class ConvUnit(nn.Module):
    """3x3 convolution, batch norm, ReLU."""

    def __init__(self, in_channels: int, out_channels: int, stride: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1, bias=False)
        self.bn = nn.BatchNorm2d(out_channels)

    def forward(self, x: Tensor) -> Tensor:
        """Apply the unit to a feature map."""
        return F.relu(self.bn(self.conv(x)))


class TinyNet(Backbone):
    """Four conv units; taps conv1..conv4, global_pool, logits; conv3 is the map tap, conv4 the last map."""

    TAPS = (*(unit[0] for unit in UNITS), "global_pool", "logits")
    DEFAULT_TAPS = ("conv3", "conv4", "global_pool", "logits")
    MAP_TAP = "conv3"
    LAST_MAP_TAP = "conv4"
    FIRST_CONV = "conv1.conv"
    CLASSIFIER = "fc"

    def __init__(
        self,
        num_classes: int,
        in_channels: int = RGB_CHANNELS,
        dropout: float = 0.0,
        stages: Sequence[str] | None = None,
    ) -> None:
        config = {"num_classes": num_classes, "in_channels": in_channels, "dropout": dropout}
        super().__init__("tiny", IMAGENET, config, stages)
        channels = in_channels
        for tap, width, stride in UNITS:
            if self.builds(tap):
                self.add_module(tap, ConvUnit(channels, width, stride))
            channels = width
        if self.builds("logits"):
            self.dropout = nn.Dropout(dropout)
            self.fc = nn.Linear(channels, num_classes)

    def _forward_stage(self, stage: str, x: Tensor) -> Tensor:
        if stage == "global_pool":
            return torch.flatten(F.adaptive_avg_pool2d(x, 1), 1)
        if stage == "logits":
            return self.fc(self.dropout(x))
        return self._modules[stage](x)

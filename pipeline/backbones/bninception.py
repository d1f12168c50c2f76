"""BN-Inception as trained by TSN (Caffe TSN, tsn-pytorch, mmaction 0.x), with tsn-pytorch's parameter names.

Every convolution is followed by a batch norm named `<conv>_bn` and a ReLU; the reduction blocks
inception3c and inception4e halve the resolution, so at 224x224 input inception4e gives 1056x7x7.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from twostream.pipeline.backbones.base import RGB_CHANNELS, Backbone
from twostream.pipeline.backbones.normalization import CAFFE_TSN


@dataclass(frozen=True)
class InceptionSpec:
    """Widths of one inception block; zero width means the branch is absent."""

    name: str
    in_channels: int
    c1x1: int
    c3x3_reduce: int
    c3x3: int
    double_reduce: int
    double: int
    pool: str
    pool_proj: int
    stride: int = 1

    @property
    def out_channels(self) -> int:
        """Channels of the concatenated output."""
        pooled = self.pool_proj or self.in_channels
        return self.c1x1 + self.c3x3 + self.double + pooled


BLOCKS: tuple[InceptionSpec, ...] = (
    InceptionSpec("3a", 192, 64, 64, 64, 64, 96, "avg", 32),
    InceptionSpec("3b", 256, 64, 64, 96, 64, 96, "avg", 64),
    InceptionSpec("3c", 320, 0, 128, 160, 64, 96, "max", 0, stride=2),
    InceptionSpec("4a", 576, 224, 64, 96, 96, 128, "avg", 128),
    InceptionSpec("4b", 576, 192, 96, 128, 96, 128, "avg", 128),
    InceptionSpec("4c", 576, 160, 128, 160, 128, 160, "avg", 128),
    InceptionSpec("4d", 608, 96, 128, 192, 160, 192, "avg", 128),
    InceptionSpec("4e", 608, 0, 128, 192, 192, 256, "max", 0, stride=2),
    InceptionSpec("5a", 1056, 352, 192, 320, 160, 224, "avg", 128),
    InceptionSpec("5b", 1024, 352, 192, 320, 192, 224, "max", 128),
)
_BLOCK_BY_TAP = {f"inception{spec.name}": spec for spec in BLOCKS}
FEATURE_DIM = BLOCKS[-1].out_channels


class BNInception(Backbone):
    """TSN's BN-Inception; taps conv1, conv2, inception3a..5b, global_pool, logits."""

    TAPS = ("conv1", "conv2", *_BLOCK_BY_TAP, "global_pool", "logits")
    DEFAULT_TAPS = ("inception4e", "inception5b", "global_pool", "logits")
    MAP_TAP = "inception4e"
    LAST_MAP_TAP = "inception5b"
    FIRST_CONV = "conv1_7x7_s2"
    CLASSIFIER = "fc"

    def __init__(
        self,
        num_classes: int,
        in_channels: int = RGB_CHANNELS,
        dropout: float = 0.8,
        stages: Sequence[str] | None = None,
    ) -> None:
        config = {"num_classes": num_classes, "in_channels": in_channels, "dropout": dropout}
        super().__init__("bninception", CAFFE_TSN, config, stages)
        if self.builds("conv1"):
            self._add_unit("conv1_7x7_s2", in_channels, 64, 7, stride=2, padding=3)
        if self.builds("conv2"):
            self._add_unit("conv2_3x3_reduce", 64, 64, 1)
            self._add_unit("conv2_3x3", 64, 192, 3, padding=1)
        for tap, spec in _BLOCK_BY_TAP.items():
            if self.builds(tap):
                self._add_block(spec)
        if self.builds("logits"):
            self.dropout = nn.Dropout(dropout)
            self.fc = nn.Linear(FEATURE_DIM, num_classes)

    def _add_unit(self, name: str, in_channels: int, out_channels: int, kernel: int, stride: int = 1, padding: int = 0) -> None:
        self.add_module(name, nn.Conv2d(in_channels, out_channels, kernel, stride=stride, padding=padding))
        self.add_module(f"{name}_bn", nn.BatchNorm2d(out_channels))

    def _add_block(self, spec: InceptionSpec) -> None:
        prefix = f"inception_{spec.name}"
        if spec.c1x1:
            self._add_unit(f"{prefix}_1x1", spec.in_channels, spec.c1x1, 1)
        self._add_unit(f"{prefix}_3x3_reduce", spec.in_channels, spec.c3x3_reduce, 1)
        self._add_unit(f"{prefix}_3x3", spec.c3x3_reduce, spec.c3x3, 3, stride=spec.stride, padding=1)
        self._add_unit(f"{prefix}_double_3x3_reduce", spec.in_channels, spec.double_reduce, 1)
        self._add_unit(f"{prefix}_double_3x3_1", spec.double_reduce, spec.double, 3, padding=1)
        self._add_unit(f"{prefix}_double_3x3_2", spec.double, spec.double, 3, stride=spec.stride, padding=1)
        if spec.pool_proj:
            self._add_unit(f"{prefix}_pool_proj", spec.in_channels, spec.pool_proj, 1)

    def _unit(self, name: str, x: Tensor) -> Tensor:
        modules = self._modules
        return F.relu(modules[f"{name}_bn"](modules[name](x)), inplace=True)

    def _block(self, spec: InceptionSpec, x: Tensor) -> Tensor:
        prefix = f"inception_{spec.name}"
        branches = []
        if spec.c1x1:
            branches.append(self._unit(f"{prefix}_1x1", x))
        branches.append(self._unit(f"{prefix}_3x3", self._unit(f"{prefix}_3x3_reduce", x)))
        double = self._unit(f"{prefix}_double_3x3_reduce", x)
        branches.append(self._unit(f"{prefix}_double_3x3_2", self._unit(f"{prefix}_double_3x3_1", double)))
        if spec.pool == "max":
            pooled = F.max_pool2d(x, 3, stride=spec.stride, padding=1 if spec.stride == 1 else 0, ceil_mode=True)
        else:
            pooled = F.avg_pool2d(x, 3, stride=1, padding=1, ceil_mode=True, count_include_pad=True)
        branches.append(self._unit(f"{prefix}_pool_proj", pooled) if spec.pool_proj else pooled)
        return torch.cat(branches, 1)

    def _forward_stage(self, stage: str, x: Tensor) -> Tensor:
        if stage == "conv1":
            return self._unit("conv1_7x7_s2", x)
        if stage == "conv2":
            x = F.max_pool2d(x, 3, stride=2, ceil_mode=True)
            return self._unit("conv2_3x3", self._unit("conv2_3x3_reduce", x))
        if stage == "inception3a":
            x = F.max_pool2d(x, 3, stride=2, ceil_mode=True)
        if stage in _BLOCK_BY_TAP:
            return self._block(_BLOCK_BY_TAP[stage], x)
        if stage == "global_pool":
            return torch.flatten(F.adaptive_avg_pool2d(x, 1), 1)
        return self.fc(self.dropout(x))

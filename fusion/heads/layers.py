"""Small building blocks shared by the fusion heads: pooling, pointwise maps, the classifier stack."""
from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from twostream.fusion.errors import FusionError


def pool_features(features: torch.Tensor) -> torch.Tensor:
    """Global-average-pool (N, F, H, W) maps to (N, F); pass (N, F) vectors through."""
    if features.ndim == 4:
        return features.mean(dim=(2, 3))
    if features.ndim == 2:
        return features
    raise FusionError(f"expected (N, F, H, W) maps or (N, F) vectors, got {tuple(features.shape)}")


def check_pair(a: torch.Tensor, b: torch.Tensor, maps: bool | None = None) -> None:
    """Raise FusionError unless a and b pair up: same batch, both maps or both vectors, same map grid.

    `maps` True or False also requires (N, C, H, W) maps or (N, D) vectors.
    """
    wanted = {True: (4,), False: (2,), None: (2, 4)}[maps]
    if a.ndim not in wanted or a.ndim != b.ndim or a.shape[0] != b.shape[0] or a.shape[2:] != b.shape[2:]:
        kind = {True: "maps (N, C, H, W)", False: "vectors (N, D)", None: "maps or vectors"}[maps]
        raise FusionError(
            f"the two streams' features do not pair as {kind} of one batch and grid: "
            f"{tuple(a.shape)} vs {tuple(b.shape)}; cache both at taps of the same resolution"
        )


class Concat(nn.Module):
    """Concatenation of two streams' features along channels (maps) or features (vectors)."""

    def __init__(self, a_dim: int, b_dim: int) -> None:
        """Join a_dim and b_dim channels; `out_dim` is their sum."""
        super().__init__()
        self.out_dim = a_dim + b_dim

    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        """Return the concatenation (N, a_dim + b_dim[, H, W])."""
        check_pair(a, b)
        return torch.cat([a, b], dim=1)


def pointwise(in_dim: int, out_dim: int, maps: bool, bias: bool = True) -> nn.Module:
    """Return a 1x1 convolution (maps) or a linear layer (vectors) from in_dim to out_dim features."""
    if in_dim < 1 or out_dim < 1:
        raise FusionError(f"layer widths must be positive, got {in_dim} -> {out_dim}")
    if maps:
        return nn.Conv2d(in_dim, out_dim, kernel_size=1, bias=bias)
    return nn.Linear(in_dim, out_dim, bias=bias)


def mlp_classifier(in_dim: int, num_classes: int, hidden: Sequence[int] = (1024,),
                   dropout: float = 0.5) -> nn.Sequential:
    """Return fully connected layers in_dim -> hidden... -> num_classes, ReLU and dropout after each hidden one.

    Without hidden layers, dropout is applied to the input of the single linear layer.
    """
    if not 0.0 <= dropout < 1.0:
        raise FusionError(f"dropout must be in [0, 1), got {dropout}")
    layers: list[nn.Module] = [] if hidden else [nn.Dropout(dropout)]
    width = in_dim
    for size in hidden:
        layers += [nn.Linear(width, size), nn.ReLU(inplace=True), nn.Dropout(dropout)]
        width = size
    layers.append(nn.Linear(width, num_classes))
    return nn.Sequential(*layers)

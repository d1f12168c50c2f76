"""Feature-level fusion heads after Park et al.: multiplicative fusion and baselines A and B.

Every head here takes the spatial features A and the temporal features B, either both maps
(N, C, H, W) at a tap (conv5 for VGG-like backbones, any cached map tap otherwise) or both vectors
(N, D) (fc7, or the pooled feature vector), joins them with its `front`, global-average-pools maps,
and classifies with fully connected layers and dropout.
"""
from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from twostream.fusion.heads.layers import Concat, check_pair, mlp_classifier, pointwise, pool_features

DEFAULT_MFUSION_WIDTH = 2048


class MultiplicativeFusion(nn.Module):
    """C_k = (1 + sum_i alpha_ik a_i) * (1 + sum_j beta_jk b_j) for k = 1..K, per position of a map."""

    def __init__(self, a_dim: int, b_dim: int, width: int = DEFAULT_MFUSION_WIDTH, maps: bool = True) -> None:
        """Mix a_dim spatial and b_dim temporal channels into `width` products (1x1 convs, or linear for vectors)."""
        super().__init__()
        self.alpha = pointwise(a_dim, width, maps, bias=False)
        self.beta = pointwise(b_dim, width, maps, bias=False)
        self.out_dim = width

    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        """Return the (N, K[, H, W]) multiplicative fusion of spatial `a` and temporal `b`."""
        check_pair(a, b)
        return (1 + self.alpha(a)) * (1 + self.beta(b))


class LinearCombinationFront(nn.Module):
    """Baseline B's join: a learned 1x1 linear combination (conv, or linear for vectors) of the concatenation."""

    def __init__(self, a_dim: int, b_dim: int, out_dim: int, maps: bool = True) -> None:
        """Combine a_dim + b_dim concatenated channels into out_dim."""
        super().__init__()
        self.concat = Concat(a_dim, b_dim)
        self.combine = pointwise(a_dim + b_dim, out_dim, maps)
        self.out_dim = out_dim

    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        """Return the combined features (N, out_dim[, H, W])."""
        return self.combine(self.concat(a, b))


class TwoStreamClassifier(nn.Module):
    """A front joining spatial and temporal features, global average pooling of maps, then FC layers."""

    def __init__(self, front: nn.Module, num_classes: int, hidden: Sequence[int] = (1024,),
                 dropout: float = 0.5) -> None:
        """Classify the output of `front` (which has an `out_dim` attribute) into num_classes."""
        super().__init__()
        self.front = front
        self.classifier = mlp_classifier(front.out_dim, num_classes, hidden, dropout)

    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        """Return class logits (N, num_classes) for spatial `a` and temporal `b`."""
        return self.classifier(pool_features(self.front(a, b)))


def multiplicative_fusion_head(
    a_dim: int, b_dim: int, num_classes: int, *, width: int = DEFAULT_MFUSION_WIDTH, maps: bool = True,
    hidden: Sequence[int] = (1024,), dropout: float = 0.5,
) -> TwoStreamClassifier:
    """Return the m-fusion head: multiplicative fusion of `width` channels, then FC layers with dropout."""
    return TwoStreamClassifier(MultiplicativeFusion(a_dim, b_dim, width, maps), num_classes, hidden, dropout)


def baseline_a_head(
    a_dim: int, b_dim: int, num_classes: int, hidden: Sequence[int] = (1024,), dropout: float = 0.5,
) -> TwoStreamClassifier:
    """Return baseline A: concatenated features, then FC layers with dropout."""
    return TwoStreamClassifier(Concat(a_dim, b_dim), num_classes, hidden, dropout)


def baseline_b_head(
    a_dim: int, b_dim: int, num_classes: int, *, out_dim: int | None = None, maps: bool = True,
    hidden: Sequence[int] = (1024,), dropout: float = 0.5,
) -> TwoStreamClassifier:
    """Return baseline B: a 1x1 linear combination of the concatenation (to out_dim, default a_dim), then FC layers."""
    front = LinearCombinationFront(a_dim, b_dim, out_dim or a_dim, maps)
    return TwoStreamClassifier(front, num_classes, hidden, dropout)

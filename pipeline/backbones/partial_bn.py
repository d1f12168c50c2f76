"""Frozen and partial batch normalisation (TSN): BatchNorm layers that keep their statistics and scale.

Partial BN: only the first BatchNorm layer keeps learning. With few training videos, re-estimating
every BatchNorm's statistics on the new modality and data overfits; TSN freezes the statistics and
the affine parameters of all BatchNorm layers but the first, which adapts to the new input
distribution (flow fields instead of RGB frames). Frozen BN: all of them keep theirs (the gated TSN
release's `bn_param { frozen: true }` in the gate's body).
"""
from __future__ import annotations

from collections.abc import Iterable

from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm


def batch_norms(model: nn.Module) -> list[_BatchNorm]:
    """The model's BatchNorm layers in registration order (the first is the one nearest the input)."""
    return [module for module in model.modules() if isinstance(module, _BatchNorm)]


def freeze_batch_norms(layers: Iterable[_BatchNorm]) -> int:
    """Freeze BatchNorm layers: eval mode (normalise with the running statistics, never update them)
    and affine parameters without gradient.

    Call it after each `model.train()`, which would switch the layers back to updating their
    statistics, and before building the optimiser. Returns the number of frozen layers.
    """
    count = 0
    for layer in layers:
        layer.eval()
        for parameter in layer.parameters(recurse=False):
            parameter.requires_grad_(False)
        count += 1
    return count


def freeze_partial_bn(model: nn.Module) -> int:
    """Freeze every BatchNorm but the first (see `freeze_batch_norms`); return the number frozen."""
    return freeze_batch_norms(batch_norms(model)[1:])


def quicken_statistics(model: nn.Module, momentum: float = 0.1) -> None:
    """Let BatchNorm layers that are still learning follow their new input within a short run.

    EfficientNet's TensorFlow-style momentum (0.01) would leave the running statistics of the
    first layer near ImageNet's RGB values after a few hundred steps on flow, so that evaluation
    (which uses them) would see inputs on another scale than training did.
    """
    for layer in batch_norms(model):
        if layer.momentum is not None and layer.momentum < momentum:
            layer.momentum = momentum

"""A light body for the gating network: both streams' maps pooled, standardised, and one hidden layer.

The gate has to tell, per video, which stream a degradation misleads: traces that sit in either
stream's maps (black bars in the frames, a zoom in the flow). Pooling each channel of the two
maps side by side keeps both streams' evidence apart (a 1x1 conv initialised to their mean, read
by the spatial net's later layers, mixes them into features trained to name classes), and a
standardisation fixed from the training videos puts channels of both networks on one scale, so a
small hidden layer learns from a few hundred videos in a few hundred steps.
"""
from __future__ import annotations

import torch
from torch import nn

from twostream.fusion.errors import FusionError
from twostream.fusion.heads.layers import pool_features

DEFAULT_HIDDEN = 256


class Standardise(nn.Module):
    """(x - mean) / std per feature, with mean and std fixed buffers (set from training data)."""

    def __init__(self, features: int) -> None:
        """Start as the identity on `features` features."""
        super().__init__()
        self.register_buffer("mean", torch.zeros(features))
        self.register_buffer("std", torch.ones(features))

    def fit(self, samples: torch.Tensor) -> None:
        """Set mean and std from samples (N, features); a constant feature keeps std 1."""
        if samples.ndim != 2 or samples.shape[1] != self.mean.numel() or samples.shape[0] < 2:
            raise FusionError(f"standardisation needs (N >= 2, {self.mean.numel()}) samples, got {tuple(samples.shape)}")
        samples = samples.float()
        std = samples.std(dim=0)
        with torch.no_grad():
            self.mean.copy_(samples.mean(dim=0))
            self.std.copy_(torch.where(std > 1e-6, std, torch.ones_like(std)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Return the standardised features."""
        return (x - self.mean) / self.std


class PooledPairBody(nn.Module):
    """Global average pooling of the concatenated maps (N, rgb + flow, H, W), standardisation, a hidden layer."""

    def __init__(self, channels: int, hidden: int = DEFAULT_HIDDEN) -> None:
        """Read `channels` concatenated channels; output `hidden` features after a ReLU."""
        super().__init__()
        if channels < 1 or hidden < 1:
            raise FusionError(f"the pooled gate body needs positive widths, got {channels} -> {hidden}")
        self.standardise = Standardise(channels)
        self.hidden = nn.Linear(channels, hidden)
        self.out_dim = hidden

    def pooled(self, maps: torch.Tensor) -> torch.Tensor:
        """Return the pooled, unstandardised input features (N, channels) of maps or vectors."""
        return pool_features(maps).float()

    def forward(self, maps: torch.Tensor) -> torch.Tensor:
        """Return the hidden features (N, hidden) of (N, channels, H, W) maps."""
        return torch.relu(self.hidden(self.standardise(self.pooled(maps))))

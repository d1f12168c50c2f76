"""Gated fusion (after Zhu et al., gated TSN): a small ConvNet on both streams' maps weighs their scores.

The head fuses the two maps at a tap (``concat`` or ``conv``), runs a trainable body (the backbone's
layers after the tap), pools, applies dropout and two independent linear heads: a gate with two
outputs and a classifier. The gate's outputs, after an activation, weigh the streams' cached
pre-softmax scores: G = w1 * G_rgb + w2 * G_flow.

Body input width: with ``conv`` fusion the body receives maps of the rgb tap's width (the 1x1 conv
starts as the mean of the streams), so the spatial net's own layers fit unchanged. With ``concat``
the body receives rgb + flow channels; build it for that width, e.g. by replacing each conv that
reads the tap with :func:`twostream.fusion.heads.map_fusion.widen_conv_input`, or, after a
network's last map tap, let a pooling body give the two streams' pooled maps side by side
(:func:`twostream.fusion.heads.map_fusion.body_for_concat`).

Frozen BatchNorm: by default the body's BatchNorm layers stay in eval mode while the head trains
(they normalise with the running statistics of the network the body came from and do not update
them) and their scale and shift get no gradient, as the authors' release (`bn_param { frozen: true }`).

Zero-gate guard: with the ReLU activation both weights can be zero, which would give a zero score
and a prediction decided by ties. Such a sample is detected, counted, and fused with equal weights
(0.5, 0.5) instead: the plain average of the two streams' scores. Softmax weights never vanish.
"""
from __future__ import annotations

from typing import NamedTuple

import torch
from torch import nn

from twostream.fusion.errors import FusionError
from twostream.fusion.heads.layers import check_pair, pool_features
from twostream.fusion.heads.map_fusion import make_map_fusion
from twostream.pipeline.backbones.partial_bn import batch_norms, freeze_batch_norms

GATE_ACTIVATIONS: tuple[str, ...] = ("relu", "softmax")
FALLBACK_WEIGHT = 0.5


class GateOutput(NamedTuple):
    """The head's raw outputs for N views: gate pre-activations (N, 2) and class logits (N, C)."""

    gate: torch.Tensor
    logits: torch.Tensor


class GateWeights(NamedTuple):
    """Stream weights (N, 2) after activation and guard, and which rows fell back to equal weights (N,)."""

    weights: torch.Tensor
    fallback: torch.Tensor


def _check_activation(activation: str) -> None:
    if activation not in GATE_ACTIVATIONS:
        raise FusionError(f"unknown gate activation {activation!r}; expected one of {', '.join(GATE_ACTIVATIONS)}")


def gate_weights(gate: torch.Tensor, activation: str = "relu") -> GateWeights:
    """Turn gate pre-activations (N, 2) into stream weights, replacing all-zero ReLU rows by (0.5, 0.5)."""
    if gate.ndim != 2 or gate.shape[1] != 2:
        raise FusionError(f"gate outputs must be (N, 2), got {tuple(gate.shape)}")
    _check_activation(activation)
    if activation == "softmax":
        weights = torch.softmax(gate, dim=1)
        return GateWeights(weights, torch.zeros(gate.shape[0], dtype=torch.bool, device=gate.device))
    weights = torch.relu(gate)
    fallback = (weights == 0).all(dim=1)
    weights = torch.where(fallback[:, None], torch.full_like(weights, FALLBACK_WEIGHT), weights)
    return GateWeights(weights, fallback)


def fuse_scores(weights: torch.Tensor, rgb_scores: torch.Tensor, flow_scores: torch.Tensor) -> torch.Tensor:
    """Return w1 * rgb_scores + w2 * flow_scores for weights (N, 2) and scores (N, C)."""
    return weights[:, :1] * rgb_scores + weights[:, 1:] * flow_scores


class GatedFusionHead(nn.Module):
    """Map fusion, a trainable body, pooling, dropout, and independent gate (2) and class (C) heads."""

    def __init__(
        self,
        body: nn.Module,
        body_dim: int,
        num_classes: int,
        rgb_channels: int,
        flow_channels: int | None = None,
        fusion: str = "conv",
        dropout: float = 0.8,
        activation: str = "relu",
        gate_bias_init: float = FALLBACK_WEIGHT,
        frozen_bn: bool = True,
    ) -> None:
        """Build the head around `body`, whose pooled output has `body_dim` features.

        The body takes maps of `self.body_channels` channels (see the module docstring).
        `gate_bias_init` starts the ReLU gate near equal weights, away from the dead zone; the
        softmax gate's bias starts at zero (equal weights as well). `frozen_bn` keeps the body's
        BatchNorm layers frozen (False: they train, statistics and affine parameters).
        """
        super().__init__()
        _check_activation(activation)
        if not 0.0 <= dropout < 1.0:
            raise FusionError(f"dropout must be in [0, 1), got {dropout}")
        self.activation = activation
        self.fusion = make_map_fusion(fusion, rgb_channels, flow_channels)
        self.body = body
        self.frozen_bn = frozen_bn
        self.dropout = nn.Dropout(dropout)
        self.gate = nn.Linear(body_dim, 2)
        self.classifier = nn.Linear(body_dim, num_classes)
        with torch.no_grad():
            nn.init.normal_(self.gate.weight, std=0.001)
            self.gate.bias.fill_(gate_bias_init if activation == "relu" else 0.0)
        self.train(self.training)

    def train(self, mode: bool = True) -> GatedFusionHead:
        """Set training (or evaluation) mode, keeping a frozen body's BatchNorm layers in eval mode."""
        super().train(mode)
        if self.frozen_bn:
            freeze_batch_norms(batch_norms(self.body))
        return self

    @property
    def body_channels(self) -> int:
        """Width of the maps the body receives."""
        return self.fusion.out_dim

    def features(self, rgb_map: torch.Tensor, flow_map: torch.Tensor) -> torch.Tensor:
        """Return the gating ConvNet's last feature layer (N, body_dim): the pooled body output, before dropout."""
        check_pair(rgb_map, flow_map, maps=True)
        return pool_features(self.body(self.fusion(rgb_map, flow_map)))

    def forward(self, rgb_map: torch.Tensor, flow_map: torch.Tensor) -> GateOutput:
        """Return gate pre-activations (N, 2) and class logits (N, C) for N pairs of (N, C, H, W) maps."""
        features = self.dropout(self.features(rgb_map, flow_map))
        return GateOutput(self.gate(features), self.classifier(features))

    def weights(self, gate: torch.Tensor) -> GateWeights:
        """Return the stream weights for gate pre-activations, with this head's activation and guard."""
        return gate_weights(gate, self.activation)

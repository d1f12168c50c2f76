"""What the shared training loop needs of a fusion method: its fields, its loss, and per-view scores.

A task wraps one head. `training_loss` takes a batch of K-segment samples, fields shaped
(B, K, ...), and applies the segment consensus (averaging over K); `view_scores` takes the views of
one video, fields shaped (V, ...), and returns one fused score row per view, which evaluation
averages over views (TSN test protocol).
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple, Protocol

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from twostream.data.metrics import VideoScores
from twostream.fusion.errors import FusionError
from twostream.fusion.features import FIELDS
from twostream.fusion.heads.gating import GatedFusionHead, fuse_scores
from twostream.fusion.training.datasets import Sample
from twostream.fusion.training.losses import gated_fusion_loss
from twostream.fusion.training.train_scores import DroppedOutScores, OutOfFoldScores

STREAM_LOGITS: tuple[str, str] = ("rgb_logits", "flow_logits")
DEFAULT_SCORE_WEIGHTS: tuple[float, float, float] = (2.0, 3.0, 4.0)
# What a head's final score averages: each network's softmax per view (Park et al.), or its logits.
FINAL_SCORES: tuple[str, ...] = ("probabilities", "logits")


def checked_score_weights(weights: Sequence[float] | None) -> tuple[float, float, float] | None:
    """Return (head, spatial, temporal) final-score weights as floats, refusing any but three non-negative
    numbers not all zero; None (score with the head alone) passes through."""
    if weights is None:
        return None
    if len(weights) != 3 or min(weights) < 0 or sum(weights) <= 0:
        raise FusionError(f"score_weights are three non-negative (head, spatial, temporal) weights, got "
                          f"{list(weights)}")
    return tuple(float(w) for w in weights)


class ViewScores(NamedTuple):
    """Scores (V, C) of V views; for gated fusion also the stream weights (V, 2) and zero-gate fallbacks (V,);
    for a head whose final score mixes in the streams', the head's own scores (V, C)."""

    scores: torch.Tensor
    gate_weights: torch.Tensor | None = None
    fallback: torch.Tensor | None = None
    head_scores: torch.Tensor | None = None


class FusionTask(Protocol):
    """A trainable fusion method as the training loop and evaluation see it."""

    model: nn.Module
    fields: tuple[str, ...]

    def training_loss(self, batch: Sample, lam: float) -> tuple[torch.Tensor, dict[str, float]]:
        """Return the loss of a K-segment batch and its parts as numbers (batch means, counts as totals)."""
        ...

    def view_scores(self, views: Sample) -> ViewScores:
        """Return the fused scores of each view of one video."""
        ...

    def validation_loss(self, scored: VideoScores) -> float:
        """Return the mean loss of videos scored by `view_scores` (model selection breaks ties with it)."""
        ...

    def describe(self) -> dict:
        """Return a JSON-ready description of the method for the run's configuration."""
        ...


def probability_loss(probabilities: np.ndarray, labels: np.ndarray) -> float:
    """Mean negative log of each video's probability of its label (scores that are already probabilities)."""
    chosen = np.asarray(probabilities, dtype=np.float64)[np.arange(len(labels)), np.asarray(labels)]
    return float(-np.log(np.clip(chosen, 1e-12, None)).mean())


def _segments(batch: Sample, name: str) -> tuple[torch.Tensor, int, int]:
    """Return field `name` with batch and segments flattened together, and the batch and segment counts."""
    tensor = batch[name]
    return tensor.flatten(0, 1), tensor.shape[0], tensor.shape[1]


def _consensus(per_segment: torch.Tensor, batch: int, segments: int) -> torch.Tensor:
    return per_segment.reshape(batch, segments, -1).mean(dim=1)


class GateTask:
    """Gated fusion: the gate's consensus weights the streams' segment-averaged scores.

    Training fuses the cached logits (out-of-fold ones when the sources serve them, `OutOfFoldScores`
    recording it), or with `DroppedOutScores` the logits it recomputes from the cached pooled vectors
    under dropout; evaluation always fuses the cached logits its source serves.
    """

    fields: tuple[str, ...] = ("rgb_map", "flow_map", *STREAM_LOGITS)

    def __init__(self, head: GatedFusionHead, train_scores: DroppedOutScores | OutOfFoldScores | None = None) -> None:
        """Train and evaluate `head`, on dropped-out training scores when `train_scores` is `DroppedOutScores`."""
        self.model = head
        self.train_scores = train_scores
        self.recomputed = isinstance(train_scores, DroppedOutScores)
        if self.recomputed:
            self.fields = (*GateTask.fields, "rgb_vec", "flow_vec")

    def _training_logits(self, batch: Sample, stream: str) -> torch.Tensor:
        """A stream's segment-averaged training scores (B, C): cached, or recomputed under dropout."""
        if not self.recomputed:
            return batch[f"{stream}_logits"].mean(dim=1)
        pooled, size, segments = _segments(batch, f"{stream}_vec")
        self.train_scores.to(pooled.device)
        return _consensus(self.train_scores(stream, pooled), size, segments)

    def training_loss(self, batch: Sample, lam: float) -> tuple[torch.Tensor, dict[str, float]]:
        """Return CE(G) + lam * CE(head logits) with gate and head logits averaged over the K segments."""
        rgb_map, size, segments = _segments(batch, "rgb_map")
        output = self.model(rgb_map, batch["flow_map"].flatten(0, 1))
        weights = self.model.weights(_consensus(output.gate, size, segments))
        fused = fuse_scores(weights.weights, self._training_logits(batch, "rgb"), self._training_logits(batch, "flow"))
        loss = gated_fusion_loss(fused, _consensus(output.logits, size, segments), batch["label"], lam)
        parts = {"fused_ce": loss.fused.item(), "head_ce": loss.head.item(),
                 "zero_gate_count": float(weights.fallback.sum())}
        return loss.total, parts

    def view_scores(self, views: Sample) -> ViewScores:
        """Return per-view w1 * rgb + w2 * flow, the gate applied to each view on its own."""
        output = self.model(views["rgb_map"], views["flow_map"])
        weights = self.model.weights(output.gate)
        scores = fuse_scores(weights.weights, views["rgb_logits"], views["flow_logits"])
        return ViewScores(scores, weights.weights, weights.fallback)

    def validation_loss(self, scored: VideoScores) -> float:
        """Cross-entropy of each video's fused scores (mean over views of w1 * rgb + w2 * flow)."""
        return scored.loss

    def describe(self) -> dict:
        """Return the method's name and its head's settings."""
        head = self.model
        return {
            "method": "gated_fusion",
            "body": type(head.body).__name__,
            "fusion": type(head.fusion).__name__,
            "activation": head.activation,
            "dropout": head.dropout.p,
            "body_channels": head.body_channels,
            "body_batch_norm": "frozen" if head.frozen_bn else "trained",
            "train_scores": self.train_scores.describe() if self.train_scores is not None else {"mode": "clean"},
        }


class HeadTask:
    """A head that maps two inputs (spatial, temporal) to class logits, trained with cross-entropy.

    `inputs` names the two fields the head reads: ("rgb_map", "flow_map") or ("rgb_vec", "flow_vec")
    for m-fusion and baselines A and B, ("rgb_map", "flowmag") for feature amplification. A view's
    score is the head's softmax (`final_score` "probabilities", Park et al.) or its logits; with
    `score_weights` (head, spatial, temporal) it is that weighted average of the head's and the
    streams' cached scores, each taken the same way (Park et al.'s final score, 2:3:4 by default).
    """

    def __init__(self, head: nn.Module, inputs: Sequence[str], name: str,
                 score_weights: Sequence[float] | None = DEFAULT_SCORE_WEIGHTS,
                 final_score: str = "probabilities") -> None:
        """Train and evaluate `head` on fields `inputs`, reported as method `name`."""
        if len(inputs) != 2 or any(field not in FIELDS for field in inputs):
            raise FusionError(f"a head reads two of {', '.join(FIELDS)}; got {list(inputs)}")
        if final_score not in FINAL_SCORES:
            raise FusionError(f"final score {final_score!r}: use one of {', '.join(FINAL_SCORES)}")
        self.final_score = final_score
        self.score_weights = checked_score_weights(score_weights)
        self.model = head
        self.inputs = tuple(inputs)
        self.name = name
        self.fields = self.inputs + (STREAM_LOGITS if self.score_weights else ())

    def training_loss(self, batch: Sample, lam: float) -> tuple[torch.Tensor, dict[str, float]]:
        """Return the cross-entropy of the head's logits averaged over the K segments (`lam` is unused)."""
        first, size, segments = _segments(batch, self.inputs[0])
        logits = _consensus(self.model(first, batch[self.inputs[1]].flatten(0, 1)), size, segments)
        loss = F.cross_entropy(logits.float(), batch["label"])
        return loss, {"head_ce": loss.item()}

    def _score(self, logits: torch.Tensor) -> torch.Tensor:
        """One network's view scores as the final score reads them: softmax or logits."""
        return torch.softmax(logits.float(), dim=1) if self.final_score == "probabilities" else logits.float()

    def view_scores(self, views: Sample) -> ViewScores:
        """Return per-view head scores, or their weighted average with the streams' (and the head's own)."""
        head = self._score(self.model(views[self.inputs[0]], views[self.inputs[1]]))
        if self.score_weights is None:
            return ViewScores(head)
        head_w, rgb_w, flow_w = self.score_weights
        fused = (head_w * head + rgb_w * self._score(views["rgb_logits"])
                 + flow_w * self._score(views["flow_logits"])) / sum(self.score_weights)
        return ViewScores(fused, head_scores=head)

    def validation_loss(self, scored: VideoScores) -> float:
        """Negative log-likelihood of the label: of the scores themselves when they are probabilities,
        else of their softmax (cross-entropy of logits)."""
        if self.final_score == "probabilities":
            return probability_loss(scored.scores, scored.labels)
        return scored.loss

    def describe(self) -> dict:
        """Return the method's name, inputs, score weights, what they average, and the head class."""
        return {"method": self.name, "inputs": list(self.inputs), "score_weights": self.score_weights,
                "final_score": self.final_score, "head": type(self.model).__name__}

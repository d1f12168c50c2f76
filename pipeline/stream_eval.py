"""Scoring a stream on whole videos: consensus scores, accuracy, per-class accuracy and confusions."""
from __future__ import annotations

from contextlib import nullcontext
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader

from twostream.pipeline.backbones import Backbone


@dataclass(frozen=True)
class Evaluation:
    """Consensus scores (N, C) of N videos and their labels."""

    scores: np.ndarray
    labels: np.ndarray

    @property
    def num_classes(self) -> int:
        """Number of classes scored."""
        return int(self.scores.shape[1])

    @property
    def predictions(self) -> np.ndarray:
        """The highest-scoring class of each video."""
        return self.scores.argmax(axis=1)

    @property
    def loss(self) -> float:
        """Mean cross-entropy of the consensus scores."""
        return float(F.cross_entropy(torch.from_numpy(self.scores), torch.from_numpy(self.labels)))

    @property
    def accuracy(self) -> float:
        """Overall top-1 accuracy."""
        return float((self.predictions == self.labels).mean())

    @property
    def confusion(self) -> np.ndarray:
        """Counts (C, C) of videos of class i predicted as class j."""
        matrix = np.zeros((self.num_classes, self.num_classes), dtype=np.int64)
        np.add.at(matrix, (self.labels, self.predictions), 1)
        return matrix

    def per_class_accuracy(self) -> dict[int, float]:
        """Accuracy of each class that has videos here."""
        matrix = self.confusion
        totals = matrix.sum(axis=1)
        return {int(c): float(matrix[c, c] / totals[c]) for c in np.flatnonzero(totals)}

    @property
    def mean_class_accuracy(self) -> float:
        """Mean over the classes present of each class's accuracy."""
        return float(np.mean(list(self.per_class_accuracy().values())))


def autocast(device: torch.device, amp: bool):
    """bf16 autocast on CUDA when `amp` is set and the GPU supports it; CPU stays exact."""
    if amp and device.type == "cuda" and torch.cuda.is_bf16_supported():
        return torch.autocast(device_type="cuda", dtype=torch.bfloat16)
    return nullcontext()


def segment_consensus(model: Backbone, clips: torch.Tensor, modality: str) -> torch.Tensor:
    """Scores (N, classes) of uint8 clips (N, K, C, H, W): the model's logits averaged over the K snippets."""
    count, segments = clips.shape[:2]
    inputs = model.normalization.apply(clips.flatten(0, 1), modality)
    if clips.device.type == "cuda":
        inputs = inputs.contiguous(memory_format=torch.channels_last)
    return model(inputs).view(count, segments, -1).mean(dim=1)


@torch.no_grad()
def evaluate_stream(model: Backbone, loader: DataLoader, modality: str, device: torch.device,
                    amp: bool = False) -> Evaluation:
    """Score every video the loader serves with the model in eval mode (its mode is restored after)."""
    was_training = model.training
    model.eval()
    scores, labels = [], []
    try:
        for clips, batch_labels in loader:
            with autocast(device, amp):
                batch_scores = segment_consensus(model, clips.to(device, non_blocking=True), modality)
            scores.append(batch_scores.float().cpu().numpy())
            labels.append(np.asarray(batch_labels))
    finally:
        model.train(was_training)
    return Evaluation(np.concatenate(scores), np.concatenate(labels).astype(np.int64))

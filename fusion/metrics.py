"""Accuracy measures of the field: mean per-class accuracy (the headline number) and overall top-1."""
from __future__ import annotations

import numpy as np

from twostream.fusion.errors import FusionError


def _predictions(scores: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    scores = np.asarray(scores)
    labels = np.asarray(labels)
    if scores.ndim != 2 or labels.ndim != 1 or scores.shape[0] != labels.shape[0]:
        raise FusionError(f"need scores (N, C) and labels (N,); got {scores.shape} and {labels.shape}")
    if labels.size == 0:
        raise FusionError("accuracy of an empty set is undefined")
    return scores.argmax(axis=1), labels


def top1_accuracy(scores: np.ndarray, labels: np.ndarray) -> float:
    """Return the fraction of rows whose highest score is at the label."""
    predicted, labels = _predictions(scores, labels)
    return float((predicted == labels).mean())


def per_class_accuracy(scores: np.ndarray, labels: np.ndarray) -> dict[int, float]:
    """Return, for each class present among the labels, the fraction of its videos classified right."""
    predicted, labels = _predictions(scores, labels)
    return {int(c): float((predicted[labels == c] == c).mean()) for c in np.unique(labels)}


def mean_class_accuracy(scores: np.ndarray, labels: np.ndarray) -> float:
    """Return the mean over classes present among the labels of each class's accuracy."""
    return float(np.mean(list(per_class_accuracy(scores, labels).values())))

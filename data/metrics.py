"""Accuracy measures of the field and the one container of per-video scores they are computed on.

Mean per-class accuracy is the headline number (UCF101 and HMDB51 papers report it); overall
top-1 is given beside it. `VideoScores` holds one method's scores of N videos, with the optional
gate weights of gated fusion, and is what stream evaluation, fusion evaluation and the report share.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from twostream.data.errors import MetricsError


def _predictions(scores: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    scores = np.asarray(scores)
    labels = np.asarray(labels)
    if scores.ndim != 2 or labels.ndim != 1 or scores.shape[0] != labels.shape[0]:
        raise MetricsError(f"need scores (N, C) and labels (N,); got {scores.shape} and {labels.shape}")
    if labels.size == 0:
        raise MetricsError("accuracy of an empty set is undefined")
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


def confusion_matrix(labels: np.ndarray, predictions: np.ndarray, num_classes: int) -> np.ndarray:
    """Return the (C, C) count matrix: row = true class, column = predicted class."""
    labels, predictions = np.asarray(labels, dtype=np.int64), np.asarray(predictions, dtype=np.int64)
    if labels.shape != predictions.shape or labels.ndim != 1:
        raise MetricsError(f"labels and predictions must be two (N,) arrays, got {labels.shape} and "
                           f"{predictions.shape}")
    values = np.concatenate([labels, predictions])
    if len(values) and (values.min() < 0 or values.max() >= num_classes):
        raise MetricsError(f"labels and predictions must lie in 0..{num_classes - 1}")
    matrix = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(matrix, (labels, predictions), 1)
    return matrix


def spatial_share(weights: np.ndarray) -> np.ndarray:
    """Return w1 / (w1 + w2) per row of (N, 2) gate weights (spatial, temporal); 0.5 where both are zero."""
    weights = np.asarray(weights, dtype=np.float64)
    total = weights.sum(axis=1)
    return np.divide(weights[:, 0], total, out=np.full(len(weights), 0.5), where=total > 0)


@dataclass
class VideoScores:
    """One method's per-video results: labels (N,), scores (N, C), video ids when known, for gated
    fusion the mean gate weights (N, 2) and the count of views whose gate fell back to equal weights,
    and for a head whose final score mixes in the streams' scores, the head's own scores (N, C)."""

    labels: np.ndarray
    scores: np.ndarray
    video_ids: list[str] | None = None
    gate_weights: np.ndarray | None = None
    zero_gate_views: np.ndarray | None = None
    head_scores: np.ndarray | None = None

    @property
    def num_classes(self) -> int:
        """Number of classes scored."""
        return int(self.scores.shape[1])

    @property
    def predictions(self) -> np.ndarray:
        """The highest-scoring class of each video."""
        return self.scores.argmax(axis=1)

    @property
    def correct(self) -> np.ndarray:
        """Whether each video's prediction is its label."""
        return self.predictions == self.labels

    @property
    def top1(self) -> float:
        """Overall top-1 accuracy."""
        return top1_accuracy(self.scores, self.labels)

    @property
    def mean_class_accuracy(self) -> float:
        """Mean over the classes present of each class's accuracy."""
        return mean_class_accuracy(self.scores, self.labels)

    def per_class_accuracy(self) -> dict[int, float]:
        """Accuracy of each class that has videos here."""
        return per_class_accuracy(self.scores, self.labels)

    @property
    def confusion(self) -> np.ndarray:
        """Counts (C, C) of videos of class i predicted as class j."""
        return confusion_matrix(self.labels, self.predictions, self.num_classes)

    @property
    def loss(self) -> float:
        """Mean cross-entropy of the scores taken as logits."""
        import torch
        import torch.nn.functional as F

        return float(F.cross_entropy(torch.from_numpy(np.asarray(self.scores)),
                                     torch.from_numpy(np.asarray(self.labels))))

    @property
    def zero_gate_total(self) -> int:
        """Views, over all videos, whose ReLU gate gave both weights zero (0 for other methods)."""
        return 0 if self.zero_gate_views is None else int(self.zero_gate_views.sum())

    def aligned(self, video_ids: list[str]) -> "VideoScores":
        """Return these results reordered to `video_ids`, refusing a set that holds other videos."""
        position = {video_id: i for i, video_id in enumerate(self.video_ids or [])}
        if set(position) != set(video_ids):
            raise MetricsError("two methods were scored on different videos; score them on the same set")
        order = np.array([position[video_id] for video_id in video_ids], dtype=np.int64)
        pick = (lambda array: None if array is None else array[order])
        return VideoScores(self.labels[order], self.scores[order], list(video_ids), pick(self.gate_weights),
                           pick(self.zero_gate_views), pick(self.head_scores))

    def records(self) -> list[dict]:
        """Return one JSON-ready record per video: id, label, prediction, scores, gate weights and head scores if any."""
        if self.video_ids is None:
            raise MetricsError("per-video records need the videos' ids")
        predicted = self.predictions
        out = []
        for i, video_id in enumerate(self.video_ids):
            record = {"video_id": video_id, "label": int(self.labels[i]), "prediction": int(predicted[i]),
                      "scores": [round(float(s), 6) for s in self.scores[i]]}
            if self.gate_weights is not None:
                record["gate_weights"] = [float(w) for w in self.gate_weights[i]]
                if self.zero_gate_views is not None:
                    record["zero_gate_views"] = int(self.zero_gate_views[i])
            if self.head_scores is not None:
                record["head_scores"] = [round(float(s), 6) for s in self.head_scores[i]]
            out.append(record)
        return out

    @classmethod
    def from_records(cls, records: list[dict]) -> "VideoScores":
        """Rebuild results from `records`' JSON-ready rows (a run's predictions file, loaded)."""
        gated = bool(records) and "gate_weights" in records[0]
        zero = gated and "zero_gate_views" in records[0]
        head = bool(records) and "head_scores" in records[0]
        return cls(
            labels=np.array([int(r["label"]) for r in records], dtype=np.int64),
            scores=np.array([r["scores"] for r in records], dtype=np.float64).reshape(len(records), -1),
            video_ids=[str(r["video_id"]) for r in records],
            gate_weights=np.array([r["gate_weights"] for r in records], dtype=np.float64) if gated else None,
            zero_gate_views=np.array([int(r["zero_gate_views"]) for r in records], dtype=np.int64) if zero else None,
            head_scores=np.array([r["head_scores"] for r in records], dtype=np.float64) if head else None,
        )


@dataclass(frozen=True)
class Interval:
    """An estimate with its bootstrap interval (`level`, 0.95 for 95 %), all fractions."""

    estimate: float
    low: float
    high: float
    level: float = 0.95

    def to_dict(self) -> dict[str, float]:
        """Return the interval as plain data."""
        return {"estimate": self.estimate, "low": self.low, "high": self.high, "level": self.level}

    @classmethod
    def from_dict(cls, data: dict) -> "Interval":
        """Rebuild an interval from `to_dict`'s plain data."""
        return cls(float(data["estimate"]), float(data["low"]), float(data["high"]), float(data.get("level", 0.95)))


def bootstrap_samples(count: int, resamples: int = 1000, seed: int = 0) -> np.ndarray:
    """Return (resamples, count) indices of videos drawn with replacement, the same for the same seed."""
    if count < 1 or resamples < 1:
        raise MetricsError(f"a bootstrap needs at least one video and one resample; got {count} and {resamples}")
    return np.random.default_rng(seed).integers(count, size=(resamples, count))


def resampled_mean_class_accuracy(correct: np.ndarray, labels: np.ndarray, samples: np.ndarray) -> np.ndarray:
    """Return the mean class accuracy of each resample (rows of `samples`), over the classes each one holds."""
    correct, labels = np.asarray(correct, dtype=np.float64), np.asarray(labels, dtype=np.int64)
    classes = int(labels.max()) + 1
    rows = np.arange(samples.shape[0])[:, None] * classes
    flat = (labels[samples] + rows).ravel()
    totals = np.bincount(flat, minlength=samples.shape[0] * classes).reshape(-1, classes)
    right = np.bincount(flat, weights=correct[samples].ravel(), minlength=totals.size).reshape(-1, classes)
    with np.errstate(invalid="ignore", divide="ignore"):
        per_class = np.where(totals > 0, right / np.maximum(totals, 1), np.nan)
    return np.nanmean(per_class, axis=1)


def _interval(estimate: float, values: np.ndarray, level: float) -> Interval:
    tail = (1.0 - level) / 2 * 100
    low, high = np.percentile(values, [tail, 100 - tail])
    return Interval(float(estimate), float(low), float(high), level)


def mean_class_accuracy_of(correct: np.ndarray, labels: np.ndarray) -> float:
    """Return the mean class accuracy of per-video correctness (N,) bool, over the classes among `labels`."""
    correct, labels = np.asarray(correct, dtype=bool), np.asarray(labels)
    if correct.shape != labels.shape or labels.size == 0:
        raise MetricsError(f"need one correctness per label and at least one; got {correct.shape}, {labels.shape}")
    return float(np.mean([correct[labels == c].mean() for c in np.unique(labels)]))


def accuracy_interval(correct: np.ndarray, labels: np.ndarray, samples: np.ndarray, level: float = 0.95) -> Interval:
    """Return the mean class accuracy of per-video correctness `correct` with its percentile bootstrap interval."""
    correct = np.asarray(correct, dtype=bool)
    resampled = resampled_mean_class_accuracy(correct, labels, samples)
    return _interval(mean_class_accuracy_of(correct, labels), resampled, level)


def paired_difference_interval(correct_a: np.ndarray, correct_b: np.ndarray, labels: np.ndarray,
                               samples: np.ndarray, level: float = 0.95) -> Interval:
    """Return mean class accuracy of A minus that of B on the same videos, with the paired bootstrap interval
    (both measured on each resample, so what the two methods share cancels)."""
    correct_a, correct_b = np.asarray(correct_a, dtype=bool), np.asarray(correct_b, dtype=bool)
    a, b = mean_class_accuracy_of(correct_a, labels), mean_class_accuracy_of(correct_b, labels)
    differences = (resampled_mean_class_accuracy(correct_a, labels, samples)
                   - resampled_mean_class_accuracy(correct_b, labels, samples))
    return _interval(a - b, differences, level)


def oracle_correct(rgb_scores: np.ndarray, flow_scores: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Return, per video, whether either stream's top-1 is right: the ceiling of any per-video choice of stream."""
    rgb_right = np.asarray(rgb_scores).argmax(axis=1) == labels
    flow_right = np.asarray(flow_scores).argmax(axis=1) == labels
    return rgb_right | flow_right


def pooled_paired_difference(runs: list[tuple[np.ndarray, np.ndarray, np.ndarray]], resamples: int = 1000,
                             seed: int = 0, level: float = 0.95) -> Interval:
    """Return the mean over independent runs (seeds, say) of A's mean class accuracy minus B's, with a
    stratified paired bootstrap interval: each run's test videos are resampled on their own, both methods
    are measured on the same resamples, and the runs' differences are averaged per resample.

    `runs` holds one (correct_a, correct_b, labels) triple per run, each of its own videos.
    """
    if not runs:
        raise MetricsError("a pooled difference needs at least one run")
    estimates, resampled = [], []
    for index, (correct_a, correct_b, labels) in enumerate(runs):
        labels = np.asarray(labels, dtype=np.int64)
        samples = bootstrap_samples(len(labels), resamples, seed + index)
        estimates.append(mean_class_accuracy_of(correct_a, labels) - mean_class_accuracy_of(correct_b, labels))
        resampled.append(resampled_mean_class_accuracy(correct_a, labels, samples)
                         - resampled_mean_class_accuracy(correct_b, labels, samples))
    return _interval(float(np.mean(estimates)), np.mean(resampled, axis=0), level)

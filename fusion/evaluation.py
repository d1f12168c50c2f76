"""Scoring videos with a trained fusion task: per-view scores averaged over each video's views."""
from __future__ import annotations

from contextlib import nullcontext
from dataclasses import dataclass

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from twostream.fusion.datasets import Sample
from twostream.fusion.features import FeatureSource
from twostream.fusion.metrics import mean_class_accuracy, top1_accuracy
from twostream.fusion.tasks import FusionTask


@dataclass
class Predictions:
    """Per-video results: ids, labels, scores (N, C), and for gated fusion mean gate weights and fallbacks."""

    video_ids: list[str]
    labels: np.ndarray
    scores: np.ndarray
    gate_weights: np.ndarray | None = None
    zero_gate_views: np.ndarray | None = None

    @property
    def mean_class_accuracy(self) -> float:
        """Mean per-class accuracy."""
        return mean_class_accuracy(self.scores, self.labels)

    @property
    def top1(self) -> float:
        """Overall top-1 accuracy."""
        return top1_accuracy(self.scores, self.labels)

    @property
    def zero_gate_total(self) -> int:
        """Views, over all videos, whose ReLU gate gave both weights zero (0 for other methods)."""
        return 0 if self.zero_gate_views is None else int(self.zero_gate_views.sum())

    def records(self) -> list[dict]:
        """Return one JSON-ready record per video: id, label, prediction, scores, and gate weights if any."""
        predicted = self.scores.argmax(axis=1)
        out = []
        for i, video_id in enumerate(self.video_ids):
            record = {"video_id": video_id, "label": int(self.labels[i]), "prediction": int(predicted[i]),
                      "scores": [round(float(s), 6) for s in self.scores[i]]}
            if self.gate_weights is not None:
                record["gate_weights"] = [float(w) for w in self.gate_weights[i]]
                record["zero_gate_views"] = int(self.zero_gate_views[i])
            out.append(record)
        return out


def autocast_context(device: torch.device, amp: bool):
    """Return a bf16 autocast context on CUDA when `amp` is set, else a no-op (CPU stays exact)."""
    if amp and device.type == "cuda":
        return torch.autocast(device_type="cuda", dtype=torch.bfloat16)
    return nullcontext()


def _to_device(sample: Sample, device: torch.device) -> Sample:
    return {name: tensor.to(device, non_blocking=True) for name, tensor in sample.items()}


@torch.no_grad()
def predict(task: FusionTask, source: FeatureSource, views: Dataset[Sample], device: torch.device | str = "cpu",
            chunk: int = 256, amp: bool = False, num_workers: int = 0) -> Predictions:
    """Score every video of `source`, whose per-video views (V, ...) the dataset `views` serves.

    Views are scored `chunk` at a time; a video's score is the mean of its views' scores, its gate
    weights the mean of its views' weights.
    """
    device = torch.device(device)
    model = task.model
    was_training = model.training
    model.eval()
    scores, weights, fallbacks, indices = [], [], [], []
    loader = DataLoader(views, batch_size=None, shuffle=False, num_workers=num_workers)
    try:
        for video in loader:
            index = int(video.pop("index"))
            video.pop("label")
            video = _to_device(video, device)
            count = next(iter(video.values())).shape[0]
            parts = []
            with autocast_context(device, amp):
                for start in range(0, count, chunk):
                    parts.append(task.view_scores({k: v[start:start + chunk] for k, v in video.items()}))
            scores.append(torch.cat([p.scores.float() for p in parts]).mean(dim=0).cpu().numpy())
            if parts[0].gate_weights is not None:
                weights.append(torch.cat([p.gate_weights.float() for p in parts]).mean(dim=0).cpu().numpy())
                fallbacks.append(int(torch.cat([p.fallback for p in parts]).sum()))
            indices.append(index)
    finally:
        model.train(was_training)
    ids = source.video_ids
    return Predictions(
        video_ids=[ids[i] for i in indices],
        labels=source.labels[indices],
        scores=np.stack(scores),
        gate_weights=np.stack(weights) if weights else None,
        zero_gate_views=np.array(fallbacks, dtype=np.int64) if weights else None,
    )

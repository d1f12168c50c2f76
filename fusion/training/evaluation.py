"""Scoring videos with a trained fusion task: per-view scores averaged over each video's views."""
from __future__ import annotations

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from twostream.data.metrics import VideoScores
from twostream.data.runtime import autocast, resolve_device
from twostream.fusion.features import FeatureSource
from twostream.fusion.training.datasets import Sample
from twostream.fusion.training.tasks import FusionTask


def _to_device(sample: Sample, device: torch.device) -> Sample:
    return {name: tensor.to(device, non_blocking=True) for name, tensor in sample.items()}


@torch.no_grad()
def predict(task: FusionTask, source: FeatureSource, views: Dataset[Sample], *, device: torch.device | str = "cpu",
            chunk: int = 256, amp: bool = False, num_workers: int = 0) -> VideoScores:
    """Score every video of `source`, whose per-video views (V, ...) the dataset `views` serves.

    Views are scored `chunk` at a time; a video's score is the mean of its views' scores, its gate
    weights (and a head's own scores) the mean of its views'.
    """
    device = resolve_device(device)
    model = task.model
    was_training = model.training
    model.eval()
    scores, weights, fallbacks, head_scores, indices = [], [], [], [], []
    loader = DataLoader(views, batch_size=None, shuffle=False, num_workers=num_workers)
    try:
        for video in loader:
            index = int(video.pop("index"))
            video.pop("label")
            video = _to_device(video, device)
            count = next(iter(video.values())).shape[0]
            parts = []
            with autocast(device, amp):
                for start in range(0, count, chunk):
                    parts.append(task.view_scores({k: v[start:start + chunk] for k, v in video.items()}))
            scores.append(torch.cat([p.scores.float() for p in parts]).mean(dim=0).cpu().numpy())
            if parts[0].gate_weights is not None:
                weights.append(torch.cat([p.gate_weights.float() for p in parts]).mean(dim=0).cpu().numpy())
                fallbacks.append(int(torch.cat([p.fallback for p in parts]).sum()))
            if parts[0].head_scores is not None:
                head_scores.append(torch.cat([p.head_scores.float() for p in parts]).mean(dim=0).cpu().numpy())
            indices.append(index)
    finally:
        model.train(was_training)
    ids = source.video_ids
    return VideoScores(
        labels=source.labels[indices],
        scores=np.stack(scores),
        video_ids=[ids[i] for i in indices],
        gate_weights=np.stack(weights) if weights else None,
        zero_gate_views=np.array(fallbacks, dtype=np.int64) if weights else None,
        head_scores=np.stack(head_scores) if head_scores else None,
    )

"""Scoring a stream on whole videos: the segment consensus of its scores, as per-video results."""
from __future__ import annotations

import numpy as np
import torch
from torch.utils.data import DataLoader

from twostream.data.metrics import VideoScores
from twostream.data.runtime import autocast
from twostream.pipeline.backbones import Backbone


def segment_consensus(model: Backbone, clips: torch.Tensor, modality: str) -> torch.Tensor:
    """Scores (N, classes) of uint8 clips (N, K, C, H, W): the model's logits averaged over the K snippets."""
    count, segments = clips.shape[:2]
    inputs = model.normalization.apply(clips.flatten(0, 1), modality)
    if clips.device.type == "cuda":
        inputs = inputs.contiguous(memory_format=torch.channels_last)
    return model(inputs).view(count, segments, -1).mean(dim=1)


@torch.no_grad()
def evaluate_stream(model: Backbone, loader: DataLoader, modality: str, device: torch.device,
                    amp: bool = False) -> VideoScores:
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
    return VideoScores(np.concatenate(labels).astype(np.int64), np.concatenate(scores))

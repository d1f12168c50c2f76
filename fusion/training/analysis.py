"""Per-video quantities that figures need and predictions.json does not hold, kept in the run folder.

For each scored set ('val', 'test', ...): each stream's video-level summaries of its view scores
(`late.StreamScores`, so late fusion can be compared video by video with a trained head) and, for gated fusion, the gating
ConvNet's last feature layer averaged over the video's views (for a t-SNE of what the gate sees).
Written as `analysis.npz` beside the run's other outputs by `runs.write_analysis`.
"""
from __future__ import annotations

import numpy as np
import torch

from twostream.data.runtime import resolve_device
from twostream.fusion.features import FeatureSource, stream_scores
from twostream.fusion.heads.gating import GatedFusionHead
from twostream.fusion.training.datasets import AllViewsDataset
from twostream.fusion.training.runs import VideoAnalysis


@torch.no_grad()
def gate_features(head: GatedFusionHead, source: FeatureSource, device: torch.device | str = "cpu",
                  chunk: int = 256) -> np.ndarray:
    """Return each video's gate features (the head's `features`) averaged over all its views, shape (N, D)."""
    device = resolve_device(device)
    was_training = head.training
    head.eval()
    views = AllViewsDataset(source, ("rgb_map", "flow_map"))
    rows = []
    try:
        for index in range(len(views)):
            video = views[index]
            rgb, flow = video["rgb_map"].to(device), video["flow_map"].to(device)
            parts = [head.features(rgb[start:start + chunk], flow[start:start + chunk])
                     for start in range(0, rgb.shape[0], chunk)]
            rows.append(torch.cat(parts).float().mean(dim=0).cpu().numpy())
    finally:
        head.train(was_training)
    return np.stack(rows)


def analyse(source: FeatureSource, head: GatedFusionHead | None = None,
            device: torch.device | str = "cpu") -> VideoAnalysis:
    """Return the stream scores of every video of `source` and, with a gated `head`, its gate features."""
    return VideoAnalysis(
        video_ids=[str(video_id) for video_id in source.video_ids],
        labels=np.asarray(source.labels, dtype=np.int64),
        rgb=stream_scores(source, "rgb"),
        flow=stream_scores(source, "flow"),
        gate_features=gate_features(head, source, device) if head is not None else None,
    )

"""Per-video quantities that figures need and predictions.json does not hold, kept in the run folder.

For each scored set ('val', 'test', ...): each stream's video-level pre-softmax scores (so late
fusion can be compared video by video with a trained head) and, for gated fusion, the gating
ConvNet's last feature layer averaged over the video's views (for a t-SNE of what the gate sees).
Written as `analysis.npz` (runs.ANALYSIS) beside the run's other outputs; read back without pickling.
"""
from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from twostream.fusion.datasets import AllViewsDataset
from twostream.fusion.errors import FusionError
from twostream.fusion.features import FeatureSource, averaged_logits
from twostream.fusion.gating import GatedFusionHead
from twostream.fusion.runs import ANALYSIS

_SET_NAME = re.compile(r"^[A-Za-z0-9_-]+$")
_ARRAYS = ("video_ids", "labels", "rgb_scores", "flow_scores")


@dataclass
class VideoAnalysis:
    """One set's per-video ids, labels, stream scores (N, C) and, for gated fusion, gate features (N, D)."""

    video_ids: list[str]
    labels: np.ndarray
    rgb_scores: np.ndarray
    flow_scores: np.ndarray
    gate_features: np.ndarray | None = None

    def __post_init__(self) -> None:
        """Refuse arrays that do not describe the same videos."""
        count = len(self.video_ids)
        shapes = [self.labels.shape[:1], self.rgb_scores.shape[:1], self.flow_scores.shape[:1]]
        if self.gate_features is not None:
            shapes.append(self.gate_features.shape[:1])
        if any(shape != (count,) for shape in shapes) or self.rgb_scores.shape != self.flow_scores.shape:
            raise FusionError(f"analysis arrays disagree on the videos: {count} ids, shapes {shapes}, "
                              f"scores {self.rgb_scores.shape} and {self.flow_scores.shape}")


@torch.no_grad()
def gate_features(head: GatedFusionHead, source: FeatureSource, device: torch.device | str = "cpu",
                  chunk: int = 256) -> np.ndarray:
    """Return each video's gate features (the head's `features`) averaged over all its views, shape (N, D)."""
    device = torch.device(device)
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
        rgb_scores=averaged_logits(source, "rgb"),
        flow_scores=averaged_logits(source, "flow"),
        gate_features=gate_features(head, source, device) if head is not None else None,
    )


def write_analysis(run_dir: Path | str, analyses: Mapping[str, VideoAnalysis]) -> Path:
    """Write the analyses by set name into `run_dir/analysis.npz` (replacing it atomically); return its path."""
    arrays: dict[str, np.ndarray] = {}
    for name, analysis in analyses.items():
        if not _SET_NAME.match(name):
            raise FusionError(f"set name {name!r}: use letters, digits, '_' and '-'")
        arrays[f"{name}.video_ids"] = np.array(analysis.video_ids, dtype=str)
        arrays[f"{name}.labels"] = analysis.labels
        arrays[f"{name}.rgb_scores"] = analysis.rgb_scores.astype(np.float32)
        arrays[f"{name}.flow_scores"] = analysis.flow_scores.astype(np.float32)
        if analysis.gate_features is not None:
            arrays[f"{name}.gate_features"] = analysis.gate_features.astype(np.float32)
    target = Path(run_dir) / ANALYSIS
    partial = target.with_name(ANALYSIS + ".partial")
    with open(partial, "wb") as stream:
        np.savez_compressed(stream, **arrays)
    partial.replace(target)
    return target


def read_analysis(run_dir: Path | str) -> dict[str, VideoAnalysis]:
    """Return the analyses by set name from `run_dir/analysis.npz` (empty when the run has none)."""
    path = Path(run_dir) / ANALYSIS
    if not path.exists():
        return {}
    with np.load(path, allow_pickle=False) as stored:
        names = dict.fromkeys(key.rsplit(".", 1)[0] for key in stored.files)
        out = {}
        for name in names:
            missing = [part for part in _ARRAYS if f"{name}.{part}" not in stored.files]
            if missing:
                raise FusionError(f"{path}: set {name!r} lacks {', '.join(missing)}; rewrite it with write_analysis")
            features = stored.get(f"{name}.gate_features")
            out[name] = VideoAnalysis(
                video_ids=[str(v) for v in stored[f"{name}.video_ids"]],
                labels=stored[f"{name}.labels"],
                rgb_scores=stored[f"{name}.rgb_scores"],
                flow_scores=stored[f"{name}.flow_scores"],
                gate_features=None if features is None else np.asarray(features),
            )
    return out

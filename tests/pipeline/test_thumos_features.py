"""The THUMOS14 recipe: videos to dense two-stream I3D clip features to ActionFormer's and TriDet's per-video
.npy files, read back by a loader written from ActionFormer's THUMOS14 dataset code (libs/datasets/thumos14.py):
np.load(feat_folder + id + ".npy").astype(float32), every downsample_rate-th row, transposed to (C, T) with
C = input_dim (2048); an annotation at t seconds lies at grid position t * fps / feat_stride - 0.5 *
num_frames / feat_stride (feat_stride 4, num_frames 16 in configs/thumos_i3d.yaml). TriDet's
libs/datasets/thumos14.py loads the same way and writes the position as (t * fps - 0.5 * num_frames) /
feat_stride, with the same configuration."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

from tests.pipeline.backbones import i3d_formats as formats
from twostream.data.splits import index_ucf101
from twostream.data.synthetic import SyntheticConfig, make_synthetic
from twostream.pipeline.batch import Execution
from twostream.pipeline.export_features import ExportConfig, export_features
from twostream.pipeline.extract_features import FeatureExtractionConfig, extract_features
from twostream.pipeline.extract_frames import FrameExtractionConfig, extract_frames
from twostream.pipeline.stores.feature_store import FeatureStore
from twostream.pipeline.stores.video_store import EXPORT_KEY

IN_PROCESS = Execution(no_cluster=True, retries=0)
FEAT_STRIDE, NUM_FRAMES, INPUT_DIM = 4, 16, 2048  # ActionFormer's configs/thumos_i3d.yaml


def actionformer_features(feat_folder: Path, video_id: str, downsample_rate: int = 1) -> torch.Tensor:
    """A THUMOS14 video's features as ActionFormer's dataset returns them: (C, T) float32."""
    feats = np.load(feat_folder / f"{video_id}.npy").astype(np.float32)
    feats = feats[::downsample_rate, :]
    return torch.from_numpy(np.ascontiguousarray(feats.transpose()))


def actionformer_grid(seconds: float, fps: float, downsample_rate: int = 1) -> float:
    """Where ActionFormer places a time stamp on the feature grid."""
    feat_stride = FEAT_STRIDE * downsample_rate
    return seconds * fps / feat_stride - 0.5 * NUM_FRAMES / feat_stride


def tridet_grid(seconds: float, fps: float, downsample_rate: int = 1) -> float:
    """Where TriDet places a time stamp on the feature grid."""
    return (seconds * fps - 0.5 * NUM_FRAMES) / (FEAT_STRIDE * downsample_rate)


def test_videos_to_i3d_features_that_actionformer_s_thumos_loader_reads(tmp_path: Path):
    root = make_synthetic(tmp_path / "videos", SyntheticConfig(classes=2, videos_per_class=3, groups=3, width=64,
                                                                 height=48, frames=28, fps=10.0), workers=2)
    manifest = index_ucf101(root / "splits", root / "videos")
    two = manifest.subset([video.video_id for video in manifest.videos[:2]])
    assert extract_frames(two, tmp_path / "frames.zarr", config=FrameExtractionConfig(frame_size="native",
                                                                                     flow="farneback"),
                          execution=IN_PROCESS).ok
    for stream, channels in (("rgb", 3), ("flow", 2)):
        torch.save(formats.pytorch_i3d_state_dict(channels, 400, seed=channels), tmp_path / f"{stream}_imagenet.pt")
    config = FeatureExtractionConfig(rgb_checkpoint=str(tmp_path / "rgb_imagenet.pt"),
                                     flow_checkpoint=str(tmp_path / "flow_imagenet.pt"), any_classes=True,
                                     sampling="dense", stride=FEAT_STRIDE, crops=1, crop_size=48, input_size=64)
    assert extract_features(two, tmp_path / "frames.zarr", tmp_path / "i3d.zarr", config=config,
                            execution=IN_PROCESS).ok
    out = tmp_path / "i3d_features"
    summary = export_features(tmp_path / "i3d.zarr", out, config=ExportConfig(
        format="localization-npy", taps=["global_pool"], positions="native"))
    assert sorted(summary.written) == sorted(video.video_id for video in two)

    store = FeatureStore.open(tmp_path / "i3d.zarr")
    sidecar = json.loads((out / "store.json").read_text())[EXPORT_KEY]
    for video in two:
        feats = actionformer_features(out, video.video_id)
        clips = store.video(video.video_id).attrs["clip_starts"]
        assert clips == [0, 4, 8]  # 27 flow fields: clips of 16 every 4 frames
        assert feats.shape == (INPUT_DIM, len(clips)) and feats.dtype == torch.float32
        rgb, flow = (store.read(video.video_id, f"{stream}/global_pool")[:, 0] for stream in ("rgb", "flow"))
        np.testing.assert_array_equal(feats.numpy(), np.concatenate([rgb, flow], axis=1).T.astype(np.float32))
        recorded = sidecar["videos"][video.video_id]
        assert (recorded["stride"], recorded["clip_frames"]) == (FEAT_STRIDE, NUM_FRAMES)
        # ActionFormer puts row i at frame (i + 0.5 * num_frames / feat_stride) * feat_stride: the clip's centre.
        for row, start in enumerate(clips):
            centre_seconds = (start + NUM_FRAMES / 2) / 10.0
            assert actionformer_grid(centre_seconds, fps=10.0) == row == tridet_grid(centre_seconds, fps=10.0)
        assert actionformer_features(out, video.video_id, downsample_rate=2).shape == (INPUT_DIM, 2)

"""Fixtures shared by the whole suite."""
from __future__ import annotations

from pathlib import Path

import pytest

from twostream.data.reference_data import shared_data_dir, shared_data_required


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The real data in ../shared/data; skips (or fails under TWOSTREAM_REQUIRE_SHARED_DATA=1) when absent."""
    found = shared_data_dir()
    if found is None:
        message = "shared data not found: set TWOSTREAM_SHARED_DATA or place it at ../shared/data"
        if shared_data_required():
            pytest.fail(message)
        pytest.skip(message)
    return found


@pytest.fixture(scope="session")
def tiny_dataset(tmp_path_factory):
    """A tiny synthetic dataset on disk (videos, UCF101-style splits) and its manifest."""
    from twostream.data.splits import index_ucf101
    from twostream.data.synthetic import PRESETS, make_synthetic

    root = make_synthetic(tmp_path_factory.mktemp("synthetic"), PRESETS["tiny"], workers=2)
    manifest = index_ucf101(root / "splits", root / "videos")
    return root, manifest


@pytest.fixture(scope="session")
def streams_data(tmp_path_factory):
    """A synthetic set whose cues are all intact (3 classes, 6 groups, 64x48), its manifest, and a frames
    store (native size, Farneback flow) holding split 1's training videos."""
    from twostream.data.splits import index_ucf101
    from twostream.data.synthetic import SyntheticConfig, make_synthetic
    from twostream.pipeline.batch import Execution
    from twostream.pipeline.extract_frames import FrameExtractionConfig, extract_frames

    config = SyntheticConfig(classes=3, videos_per_class=24, groups=6, width=64, height=48, frames=12, fps=10.0,
                             degrade_fraction=0.0)
    folder = tmp_path_factory.mktemp("streams")
    root = make_synthetic(folder / "synthetic", config, workers=2)
    manifest = index_ucf101(root / "splits", root / "videos")
    training = manifest.subset(video.video_id for video in manifest.select(1, "train"))
    store = folder / "frames.zarr"
    summary = extract_frames(training, store, FrameExtractionConfig(frame_size="native", flow="farneback"),
                             Execution(no_cluster=True, retries=0))
    assert summary.ok
    manifest_path = manifest.save(folder / "manifest.json")
    return manifest, manifest_path, store

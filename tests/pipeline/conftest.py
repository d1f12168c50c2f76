"""Fixtures for the stage-one tests."""
import pytest

from twostream.pipeline.batch import Execution
from twostream.pipeline.extract_frames import FrameExtractionConfig, extract_frames


@pytest.fixture(scope="session")
def fast_frames_config() -> FrameExtractionConfig:
    """Native frame size and Farneback flow: the quickest real extraction."""
    return FrameExtractionConfig(frame_size="native", flow="farneback")


@pytest.fixture(scope="session")
def reference_store(tiny_dataset, tmp_path_factory, fast_frames_config):
    """The tiny dataset extracted once, uninterrupted, in-process."""
    _, manifest = tiny_dataset
    path = tmp_path_factory.mktemp("reference") / "frames.zarr"
    summary = extract_frames(manifest, path, fast_frames_config, Execution(no_cluster=True, retries=0))
    assert summary.ok and len(summary.written) == len(manifest)
    return path

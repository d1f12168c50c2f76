"""Fixtures shared by the whole suite."""
from __future__ import annotations

import importlib.util
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING

import pytest

from twostream.data.reference_data import shared_data_dir, shared_data_required

if TYPE_CHECKING:
    from twostream.pipeline.extract_frames import FrameExtractionConfig

# The pipeline's stores, decoder and cluster are imported by the fixtures that use them, so that the tests of
# TV-L1 collect where only torch, numpy and Triton are installed (a bare GPU machine).


def pytest_collection_modifyitems(config, items):
    """Skip the tests marked cuda where torch sees no CUDA device."""
    import torch

    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA device")
    for item in items:
        if item.get_closest_marker("cuda") is not None:
            item.add_marker(skip)


@pytest.fixture(scope="session", autouse=True)
def single_thread_torch():
    """Run torch on one thread: the networks and tensors of the tests are tiny, and on two shared cores
    thread hand-offs cost more than they save (and one thread gives one order of float sums)."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


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
def fast_frames_config() -> FrameExtractionConfig:
    """Native frame size and Farneback flow: the quickest real extraction."""
    from twostream.pipeline.extract_frames import FrameExtractionConfig

    return FrameExtractionConfig(frame_size="native", flow="farneback")


@pytest.fixture(scope="session")
def reference_store(tiny_dataset, tmp_path_factory, fast_frames_config):
    """The tiny dataset extracted once, uninterrupted, in-process."""
    from twostream.pipeline.batch import Execution
    from twostream.pipeline.extract_frames import extract_frames

    _, manifest = tiny_dataset
    path = tmp_path_factory.mktemp("reference") / "frames.zarr"
    summary = extract_frames(manifest, path, config=fast_frames_config, execution=Execution(no_cluster=True, retries=0))
    assert summary.ok and len(summary.written) == len(manifest)
    return path


@pytest.fixture(scope="session")
def features_config(checkpoints):
    """A function giving feature extraction settings for the tiny dataset (3 snippets, 10 crops of 40px
    resized to 56), with fields changed by keyword."""
    from twostream.pipeline.extract_features import FeatureExtractionConfig

    def make(**changes) -> FeatureExtractionConfig:
        settings = dict(rgb_checkpoint=str(checkpoints["rgb"]), flow_checkpoint=str(checkpoints["flow"]),
                        snippets=3, crops=10, crop_size=40, input_size=56, batch_size=16)
        return FeatureExtractionConfig(**{**settings, **changes})

    return make


@pytest.fixture(scope="session")
def checkpoints(tiny_dataset, tmp_path_factory):
    """Tiny spatial and temporal checkpoints (random weights, this dataset's classes)."""
    import torch

    from twostream.pipeline.backbones import build_backbone, save_checkpoint

    _, manifest = tiny_dataset
    folder = tmp_path_factory.mktemp("checkpoints")
    torch.manual_seed(0)
    paths = {}
    for modality in ("rgb", "flow"):
        paths[modality] = folder / f"{modality}.pt"
        save_checkpoint(paths[modality], build_backbone("tiny", modality, len(manifest.classes)),
                        class_names=manifest.classes)
    return paths


@pytest.fixture(scope="session")
def feature_store(tiny_dataset, reference_store, features_config, tmp_path_factory):
    """The tiny dataset's features from the tiny checkpoints."""
    from twostream.pipeline.batch import Execution
    from twostream.pipeline.extract_features import extract_features

    _, manifest = tiny_dataset
    path = tmp_path_factory.mktemp("features") / "features.zarr"
    summary = extract_features(manifest, reference_store, path, config=features_config(),
                               execution=Execution(no_cluster=True, retries=0))
    assert summary.ok and len(summary.written) == len(manifest)
    return path


@pytest.fixture(scope="session")
def streams_data(tmp_path_factory, fast_frames_config):
    """A synthetic set whose cues are all intact (3 classes, 6 groups, 64x48), its manifest, and a frames
    store (native size, Farneback flow) holding split 1's training videos."""
    from twostream.data.splits import index_ucf101
    from twostream.pipeline.batch import Execution
    from twostream.pipeline.extract_frames import extract_frames
    from twostream.data.synthetic import SyntheticConfig, make_synthetic
    config = SyntheticConfig(classes=3, videos_per_class=24, groups=6, width=64, height=48, frames=12, fps=10.0,
                             degrade_fraction=0.0)
    folder = tmp_path_factory.mktemp("streams")
    root = make_synthetic(folder / "synthetic", config, workers=2)
    manifest = index_ucf101(root / "splits", root / "videos")
    training = manifest.subset(video.video_id for video in manifest.select(1, "train"))
    store = folder / "frames.zarr"
    summary = extract_frames(training, store, config=fast_frames_config, execution=Execution(no_cluster=True,
                                                                                             retries=0))
    assert summary.ok
    manifest_path = manifest.save(folder / "manifest.json")
    return manifest, manifest_path, store


@pytest.fixture(scope="session")
def fold_checkpoints(tiny_dataset, tmp_path_factory):
    """What `train-streams --folds 2` leaves for the tiny dataset's split 1, without the training: folds.json
    and tiny random checkpoints per fold (fold k's weights drawn with seed k)."""
    import torch

    from twostream.data.folds import assign_folds, fold_checkpoint, write_folds
    from twostream.pipeline.backbones import build_backbone, save_checkpoint

    _, manifest = tiny_dataset
    folder = tmp_path_factory.mktemp("folds")
    folds = assign_folds(manifest, 1, 2)
    write_folds(folder, folds)
    for fold in range(1, folds.k + 1):
        torch.manual_seed(fold)
        for modality in ("rgb", "flow"):
            path = fold_checkpoint(folder, fold, modality)
            path.parent.mkdir(exist_ok=True)
            save_checkpoint(path, build_backbone("tiny", modality, len(manifest.classes)), class_names=manifest.classes)
    return folder


@pytest.fixture(scope="session")
def oof_feature_store(tiny_dataset, reference_store, features_config, fold_checkpoints, tmp_path_factory):
    """The tiny dataset's features with the out-of-fold arrays of `fold_checkpoints`."""
    from twostream.pipeline.batch import Execution
    from twostream.pipeline.extract_features import extract_features

    _, manifest = tiny_dataset
    path = tmp_path_factory.mktemp("oof-features") / "features.zarr"
    summary = extract_features(manifest, reference_store, path,
                               config=features_config(fold_checkpoints=str(fold_checkpoints)),
                               execution=Execution(no_cluster=True, retries=0))
    assert summary.ok and len(summary.written) == len(manifest)
    return path


@pytest.fixture(scope="session")
def dense_feature_store(tiny_dataset, reference_store, features_config, tmp_path_factory):
    """The tiny dataset's dense features: a snippet every 2 frames, the mean over 10 crops, pooled vector
    and logits."""
    from twostream.pipeline.batch import Execution
    from twostream.pipeline.extract_features import extract_features

    _, manifest = tiny_dataset
    path = tmp_path_factory.mktemp("dense-features") / "features.zarr"
    summary = extract_features(manifest, reference_store, path, config=features_config(sampling="dense", stride=2),
                               execution=Execution(no_cluster=True, retries=0))
    assert summary.ok and len(summary.written) == len(manifest)
    return path


def _load_script(path: Path) -> ModuleType:
    """The module of the script at `path` (a benchmark, the docs' hooks), loaded once as Python runs it: its
    folder first on the path, so that the helpers beside it import."""
    name = f"twostream_script_{path.parent.name}_{path.stem}"
    if name not in sys.modules:
        if str(path.parent) not in sys.path:
            sys.path.insert(0, str(path.parent))
        spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        sys.modules[name] = module
    return sys.modules[name]


@pytest.fixture(scope="session")
def load_script() -> Callable[[Path], ModuleType]:
    """Load a script that is not part of the package (bench/*.py, docs/hooks.py) by its path."""
    return _load_script

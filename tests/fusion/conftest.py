"""Synthetic cached features for the fusion tests: one stream is right for half the videos, the other for the rest."""
from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from twostream.fusion.features import InMemoryFeatureSource
from twostream.fusion.heads.gating import GatedFusionHead
from twostream.fusion.training.loop import FitResult, TrainConfig, train_gated_fusion
from twostream.fusion.training.runs import RunDir
from twostream.pipeline.stores.feature_store import FeatureStore, tap_dtype, write_array

SourceFactory = Callable[..., InMemoryFeatureSource]
LAST_MAP_TAPS = {"tiny": "conv4", "efficientnet_lite0": "head"}  # only pooling follows them


def switching_source(videos: int, seed: int, num_classes: int = 4, snippets: int = 5, crops: int = 2,
                     channels: int = 8, grid: int = 4) -> InMemoryFeatureSource:
    """Features where per video one stream's logits are right and the other's confidently wrong.

    Which stream is right is visible in the maps: channel 0 of the reliable stream's map is shifted
    up, the unreliable stream's down. Any fixed weighting of the two streams is right on about half
    the videos; a gate that reads the maps can be right on all.
    """
    rng = np.random.default_rng(seed)
    labels = rng.integers(num_classes, size=videos)
    reliable = rng.integers(2, size=videos)
    shape = (videos, snippets, crops, channels, grid, grid)
    maps = {stream: rng.normal(0.0, 1.0, shape).astype(np.float32) for stream in ("rgb", "flow")}
    logits = {}
    for index, stream in enumerate(("rgb", "flow")):
        cue = np.where(reliable == index, 2.0, -2.0)
        maps[stream][:, :, :, 0] += cue[:, None, None, None, None]
        wrong = (labels + rng.integers(1, num_classes, size=videos)) % num_classes
        peak = np.where(reliable == index, labels, wrong)
        stream_logits = rng.normal(0.0, 0.3, (videos, snippets, crops, num_classes)).astype(np.float32)
        stream_logits[np.arange(videos), :, :, peak] += rng.uniform(2.0, 4.0, size=videos)[:, None, None]
        logits[stream] = stream_logits
    flowmag = np.abs(rng.normal(0.0, 1.0, (videos, snippets, crops, grid, grid))).astype(np.float32)
    return InMemoryFeatureSource.from_arrays(
        [f"s{seed}_v{i:03d}" for i in range(videos)], labels, num_classes,
        rgb_map=maps["rgb"], flow_map=maps["flow"], rgb_vec=maps["rgb"].mean(axis=(-2, -1)),
        flow_vec=maps["flow"].mean(axis=(-2, -1)), rgb_logits=logits["rgb"], flow_logits=logits["flow"],
        flowmag=flowmag,
    )


@pytest.fixture(scope="session")
def quick_training() -> Callable[..., TrainConfig]:
    """A function giving the fusion tests' quick training settings (batch 16, a tenfold learning rate,
    12 epochs a phase at most, seed 3), with fields changed by keyword."""
    def make(**changes) -> TrainConfig:
        return TrainConfig(**{**dict(batch_size=16, lrs=(0.05, 0.005), patience=2, max_epochs_per_phase=12, seed=3),
                              **changes})

    return make


@pytest.fixture
def make_source() -> SourceFactory:
    """Factory for switching_source(videos, seed, ...)."""
    return switching_source


@pytest.fixture(scope="session")
def switching_splits() -> tuple[InMemoryFeatureSource, InMemoryFeatureSource, InMemoryFeatureSource]:
    """Train (96 videos), validation (48) and test (48) sets of switching_source, independently drawn."""
    return switching_source(96, seed=1), switching_source(48, seed=2), switching_source(48, seed=3)


TOO_SMALL_LRS = (1e-12, 1e-12)  # positive, yet no float32 weight of a head moves by them


@pytest.fixture(scope="session")
def stuck_gate_run(switching_splits, tmp_path_factory, quick_training) -> FitResult:
    """A gated run in a real run folder that cannot learn: its gate ignores the maps (zero weights, biases
    1 and 2) and its learning rates are too small to change any weight, so validation never improves
    after epoch 0 and every video gets the same stream weights."""
    train, val, test = switching_splits
    torch.manual_seed(0)
    head = GatedFusionHead(nn.Sequential(nn.Conv2d(8, 16, 1), nn.ReLU()), body_dim=16, num_classes=4, rgb_channels=8)
    with torch.no_grad():
        head.gate.weight.zero_()
        head.gate.bias.copy_(torch.tensor([1.0, 2.0]))
    run = RunDir.create(tmp_path_factory.mktemp("stuck"), "gate-stuck")
    return train_gated_fusion(head, train, val, config=quick_training(lrs=TOO_SMALL_LRS), run=run,
                              evaluate_on={"val": val, "test": test})


def tap_store(path: Path, backbone: str, maps: Sequence[str], vectors: Sequence[str]) -> FeatureStore:
    """A one-video, one-view features store of `backbone` caching `maps` (4 channels of 2x2), `vectors` (2 long)
    and logits for both streams, the first map recorded as the map tap. Each array is filled with its tap's
    place in maps, vectors, logits counted from 1, so a read tells which tap it hit."""
    taps = [*maps, *vectors, "logits"]
    streams = {stream: {"backbone": backbone, "taps": taps, "map_tap": maps[0], "num_classes": 2}
               for stream in ("rgb", "flow")}
    store = FeatureStore.create_or_open(path, {"streams": streams, "sampling": {"snippets": 1, "crops": 1}},
                                        classes=["a", "b"])
    with store.write_video("v0") as group:
        for number, tap in enumerate(taps, start=1):
            shape = (1, 1, 4, 2, 2) if tap in maps else (1, 1, 2)
            for stream in ("rgb", "flow"):
                write_array(group, f"{stream}/{tap}", np.full(shape, number), tap_dtype(tap))
        write_array(group, "flowmag", np.zeros((1, 1, 2, 2)), "float16")
        group.attrs.update({"label": 0, "class_name": "a"})
    return store


@pytest.fixture
def make_tap_store(tmp_path) -> Callable[..., FeatureStore]:
    """Factory for tap_store(a fresh path under tmp_path, backbone, maps, vectors)."""
    made = itertools.count()
    return lambda backbone, maps, vectors: tap_store(tmp_path / f"store{next(made)}.zarr", backbone, maps, vectors)


@pytest.fixture(scope="session")
def last_tap_stores(tiny_dataset, reference_store, features_config, tmp_path_factory) -> dict[str, Path]:
    """Features of the tiny dataset from random tiny and EfficientNet-Lite0 checkpoints, keeping each
    backbone's last map tap (LAST_MAP_TAPS) besides its default taps; by backbone name."""
    import torch

    from twostream.pipeline.backbones import build_backbone, save_checkpoint
    from twostream.pipeline.batch import Execution
    from twostream.pipeline.extract_features import extract_features

    _, manifest = tiny_dataset
    stores = {}
    for backbone, tap in LAST_MAP_TAPS.items():
        folder = tmp_path_factory.mktemp(backbone)
        torch.manual_seed(0)
        paths, taps = {}, ()
        for stream in ("rgb", "flow"):
            net = build_backbone(backbone, stream, len(manifest.classes))
            paths[stream] = folder / f"{stream}.pt"
            save_checkpoint(paths[stream], net, class_names=manifest.classes)
            taps = tuple(dict.fromkeys((*net.default_taps, tap)))
        config = features_config(rgb_checkpoint=str(paths["rgb"]), flow_checkpoint=str(paths["flow"]),
                                 rgb_taps=taps, flow_taps=taps)
        stores[backbone] = folder / "features.zarr"
        summary = extract_features(manifest, reference_store, stores[backbone], config=config,
                                   execution=Execution(no_cluster=True, retries=0))
        assert summary.ok
    return stores

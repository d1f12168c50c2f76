"""`verify --repair`: take the damaged videos `verify` found out of their store, then extract exactly those
again with the configuration the store records (frames from the manifest's video files; features from the
frames store and the recorded checkpoints, fold checkpoints included), leaving every other video untouched."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Callable

from twostream.data.manifest import Manifest
from twostream.pipeline.batch import Execution
from twostream.pipeline.extract_features import FeatureExtractionConfig, extract_features
from twostream.pipeline.extract_frames import FrameExtractionConfig, extract_frames
from twostream.pipeline.stores.feature_store import FeatureStore
from twostream.pipeline.stores.frame_store import FrameStore
from twostream.pipeline.stores.verify import VerifyReport, open_video_store, take_out_damaged
from twostream.pipeline.stores.video_store import StoreError


def frames_config(store: FrameStore) -> FrameExtractionConfig:
    """The extraction settings a frames store records, to extract more of its videos the same way."""
    recorded = store.config
    if recorded.get("flow") == "imported":
        raise StoreError(f"{store.path} was imported from rawframes folders: repair it by importing the damaged "
                         "videos again (`twostream extract-frames --from-rawframes`)")
    return FrameExtractionConfig(frame_size=recorded["frame_size"], flow=recorded["flow"],
                                 flow_params=dict(recorded["flow_params"]), bound=float(recorded["bound"]),
                                 rgb_encoding=recorded["rgb_encoding"], jpeg_quality=int(recorded["jpeg_quality"]))


def features_config(store: FeatureStore, rgb_checkpoint: str | None = None, flow_checkpoint: str | None = None,
                    fold_checkpoints: str | None = None) -> FeatureExtractionConfig:
    """The extraction settings a features store records, its checkpoints (and, for a store with out-of-fold
    arrays, its fold checkpoints' folder) where it recorded them unless given."""
    folds_folder = None
    if store.folds:
        folds_folder = fold_checkpoints or store.attrs.get("fold_checkpoints_dir")
        if not folds_folder or not Path(folds_folder).is_dir():
            raise StoreError(f"{store.path} holds out-of-fold arrays, and the fold checkpoints are not at "
                             f"{folds_folder!r}, where the store recorded them: name the folder with "
                             "--fold-checkpoints")
    streams, sampling = store.config["streams"], store.config["sampling"]
    recorded = store.attrs.get("checkpoints", {})
    checkpoints = {"rgb": rgb_checkpoint or recorded.get("rgb"), "flow": flow_checkpoint or recorded.get("flow")}
    for stream, checkpoint in checkpoints.items():
        if not checkpoint or not (Path(checkpoint).is_file() or checkpoint.startswith("imagenet")):
            raise StoreError(f"the {stream} checkpoint of {store.path} is not at {checkpoint!r}, where the store "
                             f"recorded it: name it with --{stream}-checkpoint")
    dense = sampling.get("kind") == "dense"
    return FeatureExtractionConfig(
        rgb_checkpoint=str(checkpoints["rgb"]), flow_checkpoint=str(checkpoints["flow"]),
        rgb_taps=tuple(streams["rgb"]["taps"]), flow_taps=tuple(streams["flow"]["taps"]),
        snippets=int(sampling.get("snippets", 25)), crops=int(sampling["crops"]), crop_size=sampling["crop_size"],
        input_size=sampling["input_size"], sampling="dense" if dense else "tsn",
        stride=int(sampling["stride"]) if dense else None,
        rgb_prefix=streams["rgb"].get("checkpoint_prefix"), flow_prefix=streams["flow"].get("checkpoint_prefix"),
        rgb_normalization=streams["rgb"]["normalization"]["name"],
        flow_normalization=streams["flow"]["normalization"]["name"], fold_checkpoints=folds_folder)


def repair_store(report: VerifyReport, manifest: Manifest, *, frames: str | os.PathLike | None = None,
                 rgb_checkpoint: str | None = None, flow_checkpoint: str | None = None,
                 fold_checkpoints: str | None = None, execution: Execution = Execution(),
                 progress: Callable[[int, int, int], None] | None = None) -> Any:
    """Re-extract the damaged videos of a verified store; return the extraction's summary (None: none damaged).

    Everything a repair needs (the videos in the manifest, the frames store, the checkpoints) is checked
    before any video is taken out, so a repair that cannot run changes nothing.
    """
    if not report.damaged:
        return None
    store = open_video_store(report.store)
    videos = manifest.subset(report.damaged)
    if isinstance(store, FrameStore):
        config: Any = frames_config(store)
    else:
        if frames is None:
            raise StoreError("repairing a features store extracts its damaged videos from their frames: give the "
                             "frames store (--frames)")
        config = features_config(store, rgb_checkpoint, flow_checkpoint, fold_checkpoints)
        FrameStore.open(frames)
    take_out_damaged(report)
    if isinstance(store, FrameStore):
        return extract_frames(videos, store.path, config=config, execution=execution, progress=progress)
    return extract_features(videos, frames, store.path, config=config, execution=execution, progress=progress)

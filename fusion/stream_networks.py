"""The frozen stream networks stage two reopens: from the checkpoint passed, the copy a features store
keeps or the file it records (checked against the store's sha256); the classifiers that give dropout
scores, the network the gate's body copies, and the training scores a gate fuses."""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Mapping, Sequence

from twostream.data.sampling import STREAMS
from twostream.fusion.checkpoint_location import locate_checkpoint
from twostream.fusion.configs import GateConfig
from twostream.fusion.errors import FusionError
from twostream.fusion.sources import OUT_OF_FOLD_ADVICE, pooled_tap
from twostream.fusion.training.train_scores import DroppedOutScores, OutOfFoldScores
from twostream.pipeline.backbones import (
    IMAGENET_BACKBONES,
    Backbone,
    LoadedCheckpoint,
    build_backbone,
    load_checkpoint,
    load_checkpoint_bytes,
)
from twostream.pipeline.stores.feature_store import FeatureReader

log = logging.getLogger(__name__)

_STREAM_NAMES = {"rgb": "spatial", "flow": "temporal"}


def stream_network(store: FeatureReader, checkpoint: str | None, stream: str = "rgb") -> LoadedCheckpoint:
    """The network a stream's features came from: `checkpoint`, else the one the store keeps, else the file the
    store records; a file is checked against the store's sha256."""
    recorded_path = store.attrs.get("checkpoints", {}).get(stream)
    name = _STREAM_NAMES[stream]
    kept = None if checkpoint else store.network(stream)
    if kept is not None:
        if kept.source_sha256 != store.stream_config(stream)["checkpoint_sha256"]:
            raise FusionError(f"{store.path}: the {name} network it keeps is not the one its features came from "
                              f"(sha256 differs); pass --{stream}-checkpoint with the checkpoint they were extracted "
                              "with")
        return load_checkpoint_bytes(kept.checkpoint, f"{store.path}/networks/{stream}")
    if checkpoint:
        path = checkpoint if Path(checkpoint).is_file() else None
    else:
        path = locate_checkpoint(recorded_path, store.path) if recorded_path else None
        if path is not None and str(path) != recorded_path:
            log.info("the %s checkpoint the store recorded at %s is at %s", name, recorded_path, path)
    if path is None:
        looked = checkpoint or (f"{recorded_path} (also looked for it below {Path(store.path).resolve().parent} and "
                                f"the folder above)" if recorded_path else "(not recorded in the store)")
        raise FusionError(f"the {name} checkpoint {looked} is not available; "
                          f"pass --{stream}-checkpoint with the checkpoint the features were extracted with")
    recorded = store.stream_config(stream)
    loaded = load_checkpoint(path, prefix=recorded.get("checkpoint_prefix"))
    if loaded.sha256 != recorded["checkpoint_sha256"]:
        raise FusionError(f"{path} is not the {name} checkpoint {store.path} was extracted with (sha256 differs)")
    return loaded


def dropped_out_scores(store: FeatureReader, checkpoints: Mapping[str, str | None],
                       dropout: Sequence[float]) -> DroppedOutScores:
    """Training-time scores from both streams' frozen classifiers on their cached pooled vectors, under dropout."""
    taps = {stream: pooled_tap(store, stream) for stream in STREAMS}
    for stream, tap in taps.items():
        if tap not in store.stream_config(stream)["taps"]:
            raise FusionError(f"{store.path} holds no {stream}/{tap}, which dropout scores need; extract "
                              f"features with --{stream}-taps ... {tap} logits, or use --train-scores clean")
    classifiers = {stream: stream_network(store, checkpoints.get(stream), stream).build()
                   .classifier_after(taps[stream]) for stream in STREAMS}
    return DroppedOutScores(classifiers, dict(zip(STREAMS, dropout)))


def gate_network(store: FeatureReader, config: GateConfig) -> Backbone:
    """The network whose layers the gate's body copies: the spatial one, or its architecture on ImageNet."""
    spatial = stream_network(store, config.checkpoint).build()
    if config.gate_init == "spatial":
        return spatial
    if spatial.name not in IMAGENET_BACKBONES:
        raise FusionError(f"gate init imagenet: no ImageNet weights for the {spatial.name} backbone of the spatial "
                          f"checkpoint install offline (only {', '.join(IMAGENET_BACKBONES)}); use --gate-init "
                          "spatial, or extract features with a checkpoint of one of those backbones")
    return build_backbone(spatial.name, "rgb", spatial.num_classes, pretrained=True)


def train_scores_of(store: FeatureReader, config: GateConfig) -> DroppedOutScores | OutOfFoldScores | None:
    """What the gate's training fuses besides the cached clean scores: dropped-out or out-of-fold ones (None: clean)."""
    if config.train_scores == "dropout":
        return dropped_out_scores(store, {"rgb": config.checkpoint, "flow": config.flow_checkpoint},
                                  config.score_dropout)
    if config.train_scores == "out-of-fold":
        return OutOfFoldScores(store_folds(store))
    return None


def store_folds(store: FeatureReader) -> dict:
    """The folds of a store's out-of-fold arrays; refused when it has none."""
    if store.folds is None:
        raise FusionError(f"{store.path} holds no out-of-fold arrays; {OUT_OF_FOLD_ADVICE}")
    return store.folds

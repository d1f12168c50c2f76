"""One split's videos as the fusion commands read them: validation carved from its training videos by
group, each part served from the features store, and the loop's settings the carve allows."""
from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass
from typing import Sequence

from twostream.data.manifest import Manifest
from twostream.data.selection import BY_LAST
from twostream.data.validation import ValidationPower, carve_validation, validation_power
from twostream.fusion.errors import FusionError
from twostream.fusion.features import FeatureSource, require_fields
from twostream.fusion.sources import StoredFeatureSource, TapChoice
from twostream.fusion.training.loop import TrainConfig
from twostream.pipeline.stores.feature_store import FeatureReader

log = logging.getLogger(__name__)

@dataclass
class SplitSources:
    """One split's training, validation and test videos as feature sources."""

    split: str
    train: FeatureSource
    val: FeatureSource
    test: FeatureSource
    centre_crop: int
    validation: ValidationPower | None = None  # whether the validation videos can tell epochs apart


def resolve_splits(manifest: Manifest, split: str) -> list[str]:
    """Expand a --split value ("1", "2", "3" or "all") into the manifest's split names."""
    if split == "all":
        return manifest.split_names
    if split not in manifest.split_names:
        raise FusionError(f"split {split} is not in the manifest; it has {', '.join(manifest.split_names)}")
    return [split]


def split_sources(store: FeatureReader, manifest: Manifest, split: str, fields: Sequence[str],
                  *, val_fraction: float = 0.2, seed: int = 0, map_tap: TapChoice = None,
                  vec_tap: TapChoice = None, preload: bool = False, out_of_fold: bool = False,
                  train_on_validation: bool = False) -> SplitSources:
    """Carve validation from a split's training videos by group; serve each part from the store.

    By default nothing is loaded here: training reads the views each step samples, evaluation one
    video at a time, so memory does not grow with the number of videos. With `preload` the `fields`
    of every video are read into memory once (faster for a small dataset, memory grows with it).
    With `out_of_fold`, training and validation read the fold models' oof/ arrays (maps, vectors and
    logits), the test videos the full models' arrays. With `train_on_validation` the training part holds the
    validation videos too (then validation only monitors training).
    """
    train_videos, val_videos = carve_validation(manifest, split, val_fraction, seed)
    if train_on_validation:
        train_videos = manifest.select(split, "train")  # the carve's two parts together, in the manifest's order
    test_videos = manifest.select(split, "test")
    sources: dict[str, FeatureSource] = {}
    for name, videos in (("train", train_videos), ("val", val_videos), ("test", test_videos)):
        lazy = StoredFeatureSource(store, [v.video_id for v in videos], map_tap, vec_tap,
                                 out_of_fold_arrays=out_of_fold and name != "test")
        require_fields(lazy, fields)
        sources[name] = lazy.in_memory(fields) if preload else lazy
    return SplitSources(split, sources["train"], sources["val"], sources["test"], lazy.centre_crop(),
                        validation_power(val_videos, manifest.classes))


def fit_settings(training: TrainConfig, sources: SplitSources) -> TrainConfig:
    """The loop's settings for a split: its centre crop for validation and, where the validation videos are too
    few to tell epochs apart, no early stopping (every phase runs its epochs, the rates stepping at equal
    fractions of them) and the epoch of lowest loss kept."""
    settings = dataclasses.replace(training, eval_crop=sources.centre_crop)
    power = sources.validation
    if power is None or power.sufficient or settings.selection == BY_LAST:
        return settings
    log.warning("split %s: the validation set is too small to tell epochs apart (%s): training runs every epoch "
                "of each phase (the learning rates stepping at equal fractions of them) and keeps the one of lowest "
                "validation loss", sources.split, "; ".join(power.problems()))
    return dataclasses.replace(settings, selection="loss", early_stopping=False)

"""A validation set carved out of a split's training videos, whole groups at a time.

UCF101's gNN groups share actors and scenes, and the same group number is held out across all
classes by the official splits (the synthetic set likewise shares a scene per group across
classes), so a group number is one unit over every class: it goes to validation or to training
whole. Videos without a group (HMDB51, folder trees) are units of their own.
"""
from __future__ import annotations

import hashlib
from collections import defaultdict

import numpy as np

from twostream.data.errors import TwostreamError
from twostream.data.manifest import Manifest, VideoEntry


class ValidationSplitError(TwostreamError):
    """A split's training videos cannot be divided into training and validation as asked."""


def carve_validation(manifest: Manifest, split: int | str, fraction: float = 0.2,
                     seed: int = 0) -> tuple[list[VideoEntry], list[VideoEntry]]:
    """Divide a split's training videos into (train, validation), keeping every group on one side.

    About `fraction` of each class's videos go to validation: whole groups are chosen first (one
    drawn by the seed, then those that bring the per-class counts closest to that share), then
    videos without a group fill what each class still lacks. The same manifest, split, fraction and seed give the same division.
    Both lists keep the manifest's order.
    """
    if not 0.0 < fraction < 1.0:
        raise ValidationSplitError(f"validation fraction {fraction} must lie strictly between 0 and 1")
    videos = manifest.select(split, "train")
    if not videos:
        raise ValidationSplitError(f"split {split} of this {manifest.dataset} manifest has no training videos")
    num_classes = len(manifest.classes)
    grouped: dict[int, list[VideoEntry]] = defaultdict(list)
    loose: list[VideoEntry] = []
    for video in videos:
        (grouped[video.group] if video.group is not None else loose).append(video)
    if len(grouped) == 1 and not loose:
        only = next(iter(grouped))
        raise ValidationSplitError(f"every training video of split {split} is in group {only}; "
                                   "a group-wise validation set needs at least two groups")
    target = fraction * _class_counts(videos, num_classes)
    chosen_groups = _choose_groups(grouped, target, num_classes, seed)
    held_out = {video.video_id for group in chosen_groups for video in grouped[group]}
    taken = _class_counts([v for g in chosen_groups for v in grouped[g]], num_classes)
    held_out |= _choose_loose(loose, target - taken, seed)
    validation = [video for video in videos if video.video_id in held_out]
    training = [video for video in videos if video.video_id not in held_out]
    if not validation or not training:
        raise ValidationSplitError(
            f"a validation fraction of {fraction} leaves split {split}'s {len(videos)} training videos "
            f"{'without a validation set' if not validation else 'with nothing to train on'}; choose another fraction"
        )
    return training, validation


def _class_counts(videos: list[VideoEntry], num_classes: int) -> np.ndarray:
    return np.bincount([video.label for video in videos], minlength=num_classes).astype(np.float64)


def stable_order(keys: list, seed: int) -> list:
    """The keys in an order fixed by the seed alone (no dependence on Python's hash randomisation)."""
    return sorted(keys, key=lambda key: hashlib.sha256(f"{seed}:{key}".encode()).hexdigest())


def _choose_groups(grouped: dict[int, list[VideoEntry]], target: np.ndarray, num_classes: int,
                   seed: int) -> list[int]:
    """A group picked by the seed, then greedily the groups that bring the per-class counts nearest the target.

    Never all groups: training keeps at least one.
    """
    counts = {group: _class_counts(members, num_classes) for group, members in grouped.items()}
    remaining = stable_order(list(grouped), seed)
    chosen: list[int] = []
    current = np.zeros(num_classes)
    while len(remaining) > 1:
        best = remaining[0] if not chosen else min(
            remaining, key=lambda g: float(np.square(target - current - counts[g]).sum()))
        if chosen and np.square(target - current - counts[best]).sum() >= np.square(target - current).sum():
            break
        chosen.append(best)
        remaining.remove(best)
        current += counts[best]
    return chosen


def _choose_loose(loose: list[VideoEntry], wanted: np.ndarray, seed: int) -> set[str]:
    """Per class, the ids of round(wanted) ungrouped videos in a seed-fixed order, always leaving one to train on."""
    by_class: dict[int, list[str]] = defaultdict(list)
    for video in loose:
        by_class[video.label].append(video.video_id)
    picked: set[str] = set()
    for label, ids in by_class.items():
        count = int(min(max(round(wanted[label]), 0), len(ids) - 1))
        picked.update(stable_order(ids, seed)[:count])
    return picked

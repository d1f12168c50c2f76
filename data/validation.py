"""The validation set of a split: carved out of its training videos class by class, whole groups at a time.

Videos of one (class, group) pair share actors and a scene (UCF101's gNN, the synthetic set's
groups), so such a pair is one unit: it goes to validation or to training whole. Group numbers
need not mean the same thing in every class (a folder dataset, a small real set), so each class
chooses its own units and every class is in validation. Videos without a group (HMDB51, folder
trees) are units of their own. `validation_power` says whether the result can tell epochs apart.
"""
from __future__ import annotations

import hashlib
import logging
import math
from collections import defaultdict
from dataclasses import dataclass
from typing import Sequence

from twostream.data.errors import TwostreamError
from twostream.data.manifest import Manifest, VideoEntry

log = logging.getLogger(__name__)

# Below these a validation set cannot tell epochs apart: with n videos an epoch's accuracy moves in
# steps of 1/n and its binomial standard error near 50 % is 0.5 / sqrt(n), 9 points at 30 videos,
# about what separates a good epoch from a mediocre one; and a class with a single validation video
# has a per-class accuracy of 0 or 1, so fewer than 2 videos per class on average is noise as well.
MIN_VALIDATION_VIDEOS = 30
MIN_VIDEOS_PER_CLASS = 2.0


class ValidationSplitError(TwostreamError):
    """A split's training videos cannot be divided into training and validation as asked."""


@dataclass(frozen=True)
class Carve:
    """A split's training videos divided into training and validation, both in the manifest's order.

    `fallbacks` names, by class, each class whose training videos all lie in one group: it gave
    single videos of that group to validation (not a whole group), and the value says so.
    """

    train: list[VideoEntry]
    validation: list[VideoEntry]
    fallbacks: dict[str, str]


def carve(manifest: Manifest, split: int | str, fraction: float = 0.2, seed: int = 0) -> Carve:
    """Divide a split's training videos into training and validation, every class on both sides.

    Per class, about `fraction` of its training videos go to validation, as whole units (a group of
    that class, or a video without a group) and never all of them: first the earliest unit, in an
    order fixed by the seed, no larger than the class's share rounded up (the smallest unit when every
    one is larger), then, in the same order, each unit that brings the class nearer its share. The order
    of groups depends on the group number alone, so classes that share group numbers (UCF101) hold
    out mostly the same ones. A class whose videos all lie in one group falls back to holding out
    round(fraction * videos) of them, at least one and never all, recorded in `fallbacks`. A class
    with a single training video cannot be on both sides: `ValidationSplitError` names it. The same
    manifest, split, fraction and seed give the same division.
    """
    if not 0.0 < fraction < 1.0:
        raise ValidationSplitError(f"validation fraction {fraction} must lie strictly between 0 and 1")
    videos = manifest.select(split, "train")
    if not videos:
        raise ValidationSplitError(f"split {split} of this {manifest.dataset} manifest has no training videos")
    by_class: dict[int, list[VideoEntry]] = defaultdict(list)
    for video in videos:
        by_class[video.label].append(video)
    held_out: set[str] = set()
    fallbacks: dict[str, str] = {}
    for label in sorted(by_class):
        members, name = by_class[label], manifest.classes[label]
        if len(members) == 1:
            raise ValidationSplitError(
                f"class {name!r} has a single training video in split {split} ({members[0].video_id}), which "
                "cannot be both trained on and validated; add videos of this class, or leave it out of the manifest")
        units = _units(members)
        if len(units) == 1:
            picked = stable_order([video.video_id for video in members], seed)[:_single_group_share(members, fraction)]
            fallbacks[name] = (f"all {len(members)} of its training videos are in group {members[0].group}, so "
                               f"{len(picked)} of them were held out one by one; they share their scene with its "
                               "training videos, so its validation accuracy is optimistic (give the class videos "
                               "of a second group to avoid this)")
            held_out.update(picked)
        else:
            chosen = _choose_units(units, fraction * len(members), seed)
            held_out.update(video.video_id for key in chosen for video in units[key])
    return Carve([video for video in videos if video.video_id not in held_out],
                 [video for video in videos if video.video_id in held_out], fallbacks)


def carve_validation(manifest: Manifest, split: int | str, fraction: float = 0.2,
                     seed: int = 0) -> tuple[list[VideoEntry], list[VideoEntry]]:
    """The (train, validation) lists of `carve`, with one warning logged per class that fell back."""
    carved = carve(manifest, split, fraction, seed)
    for name, reason in carved.fallbacks.items():
        log.warning("validation of split %s, class %s: %s", split, name, reason)
    return carved.train, carved.validation


def stable_order(keys: list, seed: int) -> list:
    """The keys in an order fixed by the seed alone (no dependence on Python's hash randomisation)."""
    return sorted(keys, key=lambda key: hashlib.sha256(f"{seed}:{key}".encode()).hexdigest())


def _units(members: list[VideoEntry]) -> dict[int | str, list[VideoEntry]]:
    """One class's videos by unit: its group number, or the video's id when it has no group."""
    units: dict[int | str, list[VideoEntry]] = defaultdict(list)
    for video in members:
        units[video.group if video.group is not None else video.video_id].append(video)
    return units


def _single_group_share(members: list[VideoEntry], fraction: float) -> int:
    """How many videos of a one-group class go to validation: round(fraction * videos), at least 1, never all."""
    return min(max(round(fraction * len(members)), 1), len(members) - 1)


def _choose_units(units: dict[int | str, list[VideoEntry]], target: float, seed: int) -> list[int | str]:
    """The keys of one class's held-out units (see `carve`); at least one, never all."""
    order = stable_order(list(units), seed)
    sizes = {key: len(units[key]) for key in order}
    limit = max(math.ceil(target), min(sizes.values()))
    first = next(key for key in order if sizes[key] <= limit)
    chosen, taken = [first], sizes[first]
    for key in order:
        if len(chosen) == len(units) - 1:
            break
        if key != first and abs(target - taken - sizes[key]) < abs(target - taken):
            chosen.append(key)
            taken += sizes[key]
    return chosen


@dataclass(frozen=True)
class ValidationPower:
    """How many videos and classes a validation set has, and whether that can tell epochs apart."""

    videos: int
    num_classes: int
    missing: tuple[str, ...]  # classes without a validation video

    @property
    def sufficient(self) -> bool:
        """Every class present, at least `MIN_VALIDATION_VIDEOS` videos and `MIN_VIDEOS_PER_CLASS` per class."""
        return not self.problems()

    def problems(self) -> list[str]:
        """Why the set is too small to tell epochs apart, one phrase per reason (none when it is big enough)."""
        problems = []
        if self.missing:
            problems.append(f"{len(self.missing)} of {self.num_classes} classes have no validation video "
                            f"(first: {self.missing[0]})")
        if self.videos < MIN_VALIDATION_VIDEOS:
            problems.append(f"{self.videos} videos, fewer than {MIN_VALIDATION_VIDEOS}")
        if self.videos < MIN_VIDEOS_PER_CLASS * self.num_classes:
            problems.append(f"{self.videos / max(self.num_classes, 1):.1f} videos per class, fewer than "
                            f"{MIN_VIDEOS_PER_CLASS:g}")
        return problems


def validation_power(videos: Sequence[VideoEntry], classes: Sequence[str]) -> ValidationPower:
    """Whether validation `videos` of a dataset with these class names can tell training epochs apart.

    Too small is: a class without a validation video, fewer than `MIN_VALIDATION_VIDEOS` videos, or
    fewer than `MIN_VIDEOS_PER_CLASS` per class on average (see their comment for why).
    """
    present = {video.label for video in videos}
    missing = tuple(name for label, name in enumerate(classes) if label not in present)
    return ValidationPower(len(videos), len(classes), missing)

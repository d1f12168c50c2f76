"""Folds of a split's training videos for out-of-fold stream scores (stacking), and the folds.json that records them.

`train-streams --folds K` trains, besides the full pair, one pair per fold on the split's training
videos minus that fold's; `extract-features --fold-checkpoints DIR` runs, for each video, the pair
that never saw it. Folds are made of whole groups (UCF101's gNN share actors and scenes, so a group
split across folds would let a fold model see the video's twins); videos without a group are units
of their own. Layout of a folds folder::

    DIR/folds.json               {"split", "k", "seed", "assignment": {video_id: fold number (1..K)}}
    DIR/fold<k>/<stream>.pt      fold k's checkpoints (rgb.pt, flow.pt)
    DIR/fold<k>/manifest.json    the manifest fold k trained on (its fold's videos "unused" in the split)
"""
from __future__ import annotations

import dataclasses
import os
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from twostream.data.errors import TwostreamError
from twostream.data.io import read_json, write_json_atomic
from twostream.data.manifest import Manifest, VideoEntry
from twostream.data.validation import stable_order

FOLDS_FILE = "folds.json"


class FoldError(TwostreamError):
    """Folds cannot be made as asked, or a folds file is missing or does not fit."""


@dataclass(frozen=True)
class Folds:
    """A split's training videos divided into `k` folds: `assignment` maps each video id to its fold (1..k)."""

    split: str
    k: int
    seed: int
    assignment: dict[str, int]

    def __post_init__(self) -> None:
        """Refuse a fold count below 2 or an assignment to a fold outside 1..k."""
        if self.k < 2:
            raise FoldError(f"out-of-fold scores need at least 2 folds, got {self.k}; pass --folds 2 or more "
                            "(or leave --folds out)")
        outside = sorted({fold for fold in self.assignment.values() if not 1 <= fold <= self.k})
        if outside:
            raise FoldError(f"fold {outside[0]} is outside 1..{self.k}; write the folds again with train-streams")

    def members(self, fold: int) -> list[str]:
        """Ids of fold `fold`'s videos, sorted."""
        return sorted(video_id for video_id, number in self.assignment.items() if number == fold)

    def to_json(self) -> dict[str, Any]:
        """The folds as JSON-ready values."""
        return {"split": self.split, "k": self.k, "seed": self.seed,
                "assignment": dict(sorted(self.assignment.items()))}

    def training_manifest(self, manifest: Manifest, fold: int) -> Manifest:
        """The manifest fold `fold`'s streams train on: that fold's videos become "unused" in the split."""
        held_out = set(self.members(fold))
        videos = [dataclasses.replace(video, splits={**video.splits, self.split: "unused"})
                  if video.video_id in held_out else video for video in manifest]
        return Manifest(manifest.dataset, manifest.root, list(manifest.classes), videos, manifest.schema)


def assign_folds(manifest: Manifest, split: int | str, k: int, seed: int = 0) -> Folds:
    """Divide a split's training videos into `k` folds of whole groups, balanced by video count.

    Units (a group, or an ungrouped video) are taken largest first, ties in an order fixed by the
    seed, each into the fold with the fewest videos so far. Every training video lands in exactly
    one fold; the same manifest, split, k and seed give the same folds.
    """
    units: dict[str, list[VideoEntry]] = defaultdict(list)
    for video in manifest.select(split, "train"):
        units[f"group {video.group}" if video.group is not None else f"video {video.video_id}"].append(video)
    if k < 2:
        raise FoldError(f"out-of-fold scores need at least 2 folds, got {k}; pass --folds 2 or more (or leave "
                        "--folds out)")
    if k > len(units):
        raise FoldError(f"split {split}'s training videos form {len(units)} groups, too few for {k} folds of whole "
                        f"groups; pass --folds {len(units)} or fewer")
    # Largest first; sorted() is stable, so units of one size keep the seed's order.
    ordered = sorted(stable_order(list(units), seed), key=lambda unit: -len(units[unit]))
    sizes = [0] * k
    assignment: dict[str, int] = {}
    for unit in ordered:
        fold = min(range(k), key=lambda index: (sizes[index], index))
        sizes[fold] += len(units[unit])
        assignment.update({video.video_id: fold + 1 for video in units[unit]})
    return Folds(str(split), k, seed, assignment)


def fold_dir(folder: str | os.PathLike, fold: int) -> Path:
    """Where fold `fold`'s run lives inside a train-streams output folder."""
    return Path(folder) / f"fold{fold}"


def fold_checkpoint(folder: str | os.PathLike, fold: int, stream: str) -> Path:
    """Fold `fold`'s checkpoint of `stream` ("rgb" or "flow") inside a train-streams output folder."""
    return fold_dir(folder, fold) / f"{stream}.pt"


def write_folds(folder: str | os.PathLike, folds: Folds) -> Path:
    """Write `folder/folds.json` atomically; return its path."""
    return write_json_atomic(Path(folder) / FOLDS_FILE, folds.to_json(), indent=1)


def read_folds(folder: str | os.PathLike) -> Folds:
    """Read `folder/folds.json` as written by `write_folds` (train-streams --folds K)."""
    path = Path(folder) / FOLDS_FILE
    advice = "write it with `twostream train-streams --folds K --out FOLDER`"
    payload = read_json(path, FoldError, missing=f"{folder} holds no {FOLDS_FILE}; {advice}",
                        invalid=f"{path} is not valid JSON ({{error}}); {advice}")
    try:
        return Folds(str(payload["split"]), int(payload["k"]), int(payload["seed"]),
                     {str(video): int(fold) for video, fold in payload["assignment"].items()})
    except (KeyError, TypeError, ValueError, AttributeError) as error:
        raise FoldError(f"{path} lacks a field or holds a wrong one ({error}); {advice}") from None

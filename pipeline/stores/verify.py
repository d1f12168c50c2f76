"""`verify`: read every chunk of every video of a frames or features store and name what is damaged; and the
first step of a repair, taking the damaged videos out so that the command that made them writes them again.

A video is damaged when its group's metadata is gone, an array it must hold is gone, a node under it has lost
its metadata, or an array has a missing chunk or one that fails its checksum or does not decode.
"""
from __future__ import annotations

import concurrent.futures
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable

import zarr

from twostream.data.io import writer_token
from twostream.pipeline.stores.feature_store import FeatureStore
from twostream.pipeline.stores.frame_store import FrameStore
from twostream.pipeline.stores.integrity import array_damage, chunk_checksummed, damage_text
from twostream.pipeline.stores.video_store import ATTRS_KEY, GROUP, METADATA_GONE, StoreError, VideoStore

DAMAGED = "damaged: "  # how a repair's failure record begins


@dataclass
class VerifyReport:
    """What `verify_store` found: the store, its kind, the videos read and, per damaged video, each damaged
    array (its path under the video, or GROUP) with what is wrong."""

    store: Path
    kind: str
    videos: int
    damaged: dict[str, dict[str, str]] = field(default_factory=dict)
    unchecked: int = 0  # arrays read whose chunks carry no checksum (written by an earlier version)

    def unchecked_text(self) -> str:
        """What the arrays without chunk checksums mean, in one line ("" when every array has them)."""
        if not self.unchecked:
            return ""
        return (f"{self.unchecked} arrays carry no chunk checksums (written by an earlier version): damage inside "
                "them can read as wrong numbers, which no check sees; extract the store again to add them")

    def to_dict(self) -> dict[str, Any]:
        """The report as plain data (verify --out)."""
        return {"store": str(self.store), "kind": self.kind, "videos": self.videos, "damaged": self.damaged,
                "arrays_without_checksums": self.unchecked}


def open_video_store(path: str | os.PathLike) -> FrameStore | FeatureStore:
    """Open a frames or a features store, whichever `path` holds."""
    location = Path(path)
    if not (location / "zarr.json").is_file():
        raise StoreError(f"{location} is not a zarr store (no zarr.json); give a frames.zarr or features.zarr folder")
    try:
        kind = zarr.open_group(str(location), mode="r").attrs.get(ATTRS_KEY, {}).get("kind")
    except Exception as error:  # its root metadata does not parse
        raise StoreError(f"{location}: its root metadata cannot be read ({damage_text(error)})") from None
    kinds: dict[str, type[FrameStore] | type[FeatureStore]] = {"frames": FrameStore, "features": FeatureStore}
    if kind not in kinds:
        raise StoreError(f"{location} is a {kind or 'foreign'} store; verify reads frames and features stores")
    return kinds[kind].open(location)


def video_damage(store: VideoStore, video_id: str, expected: list[str]) -> tuple[dict[str, str], int]:
    """Each damaged array of one video (its path under the video, or GROUP) with what is wrong (empty if
    none), and how many of its arrays carry no chunk checksums."""
    folder = store.path / "videos" / video_id
    if not (folder / "zarr.json").is_file():
        return {GROUP: METADATA_GONE}, 0
    damage: dict[str, str] = {}
    arrays: dict[str, zarr.Array] = {}
    _walk(folder, "", damage, arrays)
    for name in expected:
        if name not in arrays and name not in damage:
            damage[name] = "the array is gone"
    unchecked = 0
    for name, array in arrays.items():
        try:
            unchecked += not chunk_checksummed(array.metadata.to_dict())
            problem = array_damage(array)
        except Exception as error:  # listing its chunks failed
            problem = damage_text(error)
        if problem:
            damage[name] = problem
    return damage, unchecked


def _walk(folder: Path, prefix: str, damage: dict[str, str], arrays: dict[str, zarr.Array]) -> None:
    """Open the arrays under the group at `folder` (by path from the video), and note each node whose metadata
    is gone or does not parse."""
    for entry in sorted(os.scandir(folder), key=lambda item: item.name):
        if not entry.is_dir():
            continue
        name = f"{prefix}{entry.name}"
        meta = Path(entry.path) / "zarr.json"
        if not meta.is_file():
            damage[name] = METADATA_GONE
            continue
        try:
            node = zarr.open(str(entry.path), mode="r")
        except Exception as error:
            damage[name] = f"its metadata does not parse ({damage_text(error)})"
            continue
        if isinstance(node, zarr.Group):
            _walk(Path(entry.path), f"{name}/", damage, arrays)
        else:
            arrays[name] = node


def verify_store(path: str | os.PathLike, workers: int | None = None,
                 progress: Callable[[int, int, int], None] | None = None,
                 only: Iterable[str] | None = None) -> VerifyReport:
    """Read every chunk of every video of the store at `path` (of those in `only`, when given) in `workers`
    threads (default: one per core) and report the damaged ones, with the published videos that lost their
    metadata among them."""
    store = open_video_store(path)
    folder = store.path / "videos"
    video_ids = sorted(entry.name for entry in os.scandir(folder) if entry.is_dir()) if folder.is_dir() else []
    if only is not None:
        wanted = set(only)
        video_ids = [video_id for video_id in video_ids if video_id in wanted]
    expected = store.expected_arrays()
    report = VerifyReport(store.path, store.kind, len(video_ids))
    failed = 0
    with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, workers or os.cpu_count() or 1)) as pool:
        futures = {pool.submit(video_damage, store, video_id, expected): video_id for video_id in video_ids}
        for done, future in enumerate(concurrent.futures.as_completed(futures), 1):
            damage, unchecked = future.result()
            report.unchecked += unchecked
            if damage:
                report.damaged[futures[future]] = damage
                failed += 1
            if progress:
                progress(done, len(video_ids), failed)
    report.damaged = dict(sorted(report.damaged.items()))
    return report


def take_out_damaged(report: VerifyReport) -> list[str]:
    """Remove each damaged video of a verified store and record it as failed with its damage, so that rerunning
    the command that made the store writes exactly those videos again; return their ids."""
    store = open_video_store(report.store)
    for video_id, damage in report.damaged.items():
        retired = store.path / "staging" / f"{video_id}@retired-{writer_token()}"
        retired.parent.mkdir(parents=True, exist_ok=True)
        os.rename(store.path / "videos" / video_id, retired)  # out of readers' sight at once, then deleted
        shutil.rmtree(retired, ignore_errors=True)
        store.record_failure(video_id, DAMAGED + "; ".join(f"{name}: {what}" for name, what in damage.items()), 0)
    return list(report.damaged)

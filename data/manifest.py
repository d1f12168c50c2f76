"""The manifest: one JSON file listing a dataset's videos, labels, classes and split membership."""
from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Iterable, Iterator

from twostream.data.errors import ManifestError
from twostream.data.io import read_json, write_text_atomic

MANIFEST_SCHEMA = 1
SPLIT_ROLES = ("train", "test", "unused")


@dataclass(frozen=True)
class VideoEntry:
    """One video: its id (unique, used as the store group name), path relative to the root, and labels."""

    video_id: str
    path: str
    label: int
    class_name: str
    splits: dict[str, str] = field(default_factory=dict)  # split number -> "train" | "test" | "unused"
    group: int | None = None  # UCF101's gNN: videos of one group share actors and scenes
    attributes: dict[str, str] = field(default_factory=dict)  # name -> value, see twostream.data.attributes

    def role(self, split: int | str) -> str:
        """Return this video's role ("train", "test" or "unused") in a split."""
        return self.splits.get(str(split), "unused")


@dataclass
class Manifest:
    """A dataset's class list and videos; paths resolve against `root`."""

    dataset: str
    root: str
    classes: list[str]
    videos: list[VideoEntry]
    schema: int = MANIFEST_SCHEMA

    def __post_init__(self) -> None:
        seen: set[str] = set()
        for video in self.videos:
            if video.video_id in seen:
                raise ManifestError(f"video id {video.video_id!r} appears twice; video ids must be unique")
            seen.add(video.video_id)

    def __len__(self) -> int:
        return len(self.videos)

    def __iter__(self) -> Iterator[VideoEntry]:
        return iter(self.videos)

    @property
    def split_names(self) -> list[str]:
        """The splits any video belongs to, sorted."""
        return sorted({name for video in self.videos for name in video.splits}, key=_split_sort_key)

    def video_path(self, video: VideoEntry) -> Path:
        """Return the absolute path of a video's file."""
        return Path(self.root) / video.path

    def select(self, split: int | str, role: str) -> list[VideoEntry]:
        """Return the videos with the given role ("train", "test", "unused") in a split."""
        if role not in SPLIT_ROLES:
            raise ManifestError(f"unknown split role {role!r}; expected one of {', '.join(SPLIT_ROLES)}")
        if str(split) not in self.split_names:
            raise ManifestError(
                f"split {split} is not in this {self.dataset} manifest; it has splits {', '.join(self.split_names) or 'none'}"
            )
        return [video for video in self.videos if video.role(split) == role]

    def subset(self, video_ids: Iterable[str]) -> "Manifest":
        """Return a manifest with only the named videos, in this manifest's order."""
        wanted = set(video_ids)
        unknown = wanted - {video.video_id for video in self.videos}
        if unknown:
            raise ManifestError(f"{len(unknown)} video ids are not in the manifest, e.g. {sorted(unknown)[0]!r}")
        return Manifest(self.dataset, self.root, list(self.classes), [v for v in self.videos if v.video_id in wanted])

    def to_json(self) -> dict:
        """Return the manifest as a JSON-serialisable dict."""
        return {
            "schema": self.schema,
            "dataset": self.dataset,
            "root": self.root,
            "classes": list(self.classes),
            "videos": [_entry_json(video) for video in self.videos],
        }

    def save(self, path: str | os.PathLike) -> Path:
        """Write the manifest to a JSON file, atomically (a reader never sees half a file)."""
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        write_text_atomic(target, json.dumps(self.to_json(), indent=1, ensure_ascii=False) + "\n")
        return target


def load_manifest(path: str | os.PathLike) -> Manifest:
    """Read a manifest written by `Manifest.save` (the `twostream index` command)."""
    source = Path(path)
    payload = read_json(source, ManifestError,
                        missing=f"manifest {source} does not exist; write one with `twostream index`",
                        invalid=f"manifest {source} is not valid JSON ({{error}}); rewrite it with `twostream index`")
    if not isinstance(payload, dict) or payload.get("schema") != MANIFEST_SCHEMA:
        raise ManifestError(
            f"manifest {source} has schema {payload.get('schema') if isinstance(payload, dict) else None!r}, "
            f"expected {MANIFEST_SCHEMA}; rewrite it with `twostream index`"
        )
    try:
        videos = [VideoEntry(**video) for video in payload["videos"]]
        return Manifest(payload["dataset"], payload["root"], list(payload["classes"]), videos)
    except (KeyError, TypeError) as error:
        raise ManifestError(f"manifest {source} lacks a field ({error}); rewrite it with `twostream index`") from None


def _entry_json(video: VideoEntry) -> dict:
    """A video entry as JSON; without attributes the key is left out, so tools that predate it still read the file."""
    entry = asdict(video)
    if not entry["attributes"]:
        del entry["attributes"]
    return entry


def _split_sort_key(name: str) -> tuple[int, str]:
    return (int(name), name) if name.isdigit() else (1 << 30, name)

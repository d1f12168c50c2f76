"""What every per-video zarr store shares: root attributes, atomic publication of a video's group,
the completion mark, and the record of failed videos.

Layout of a store on a local (or shared) filesystem::

    <store>/zarr.json          root attributes: {"twostream": {kind, schema, tool_version, config, ...}}
    <store>/videos/<video_id>/ one complete group per video (attribute "complete": true)
    <store>/failures/<video_id>/  attributes {error, attempts, time} of videos that failed
    <store>/staging/           groups being written; published by an atomic rename into videos/
    <store>/leases/<video_id>  which job is working on a video (see `leases`)

A video's group is written under staging/, marked complete last, then renamed into videos/, so a
killed writer never leaves a group that readers count, and two writers of one video never mix.
"""
from __future__ import annotations

import contextlib
import importlib.metadata
import os
import shutil
import time
import warnings
from pathlib import Path
from typing import Any, Callable, Iterator

import zarr
from zarr.codecs import BloscCodec, Crc32cCodec

from twostream.data.errors import TwostreamError
from twostream.data.io import writer_gone, writer_token

STORE_SCHEMA = 1
ATTRS_KEY = "twostream"
EXPORT_KEY = "export"  # what an export of a store took (source, time, skipped videos)
COMPLETE = "complete"
COMPRESSOR = BloscCodec(cname="zstd", shuffle="shuffle")
# Every chunk carries a crc32c checksum after its compression, so damage is detected on reading, never read as
# wrong numbers (the shards' index carries its own); and every chunk is written, empty ones too, so a chunk file
# that is gone is damage rather than an array of fill values.
CHECKSUM = Crc32cCodec()
EVERY_CHUNK = {"write_empty_chunks": True}

# zarr marks variable-length bytes as not yet in the v3 specification; the store documents its use.
warnings.filterwarnings("ignore", message=r".*VariableLengthBytes.*", category=UserWarning)
warnings.filterwarnings("ignore", message=r".*does not have a Zarr V3 specification.*")


class StoreError(TwostreamError):
    """A store is missing, of another kind, or was written with another configuration."""


class StoreDamageError(StoreError):
    """Part of a store cannot be read as written: it names the store, the video, the array and the damage."""

    def __init__(self, store: str | os.PathLike, video_id: str, array: str, damage: str, kind: str) -> None:
        """Damage `damage` to array `array` (or GROUP) of video `video_id` in the `kind` ("frames" or
        "features") store at `store`."""
        self.store, self.video_id, self.array, self.damage = Path(store), video_id, array, damage
        where = array if array == GROUP else f"array {array}"
        super().__init__(f"{store}: video {video_id}, {where} is damaged ({damage}); re-extract that video "
                         f"(`twostream verify MANIFEST --{kind} {store} --repair` finds and re-extracts "
                         "every damaged one)")


GROUP = "its group"  # the name damage to a video's group itself goes by
METADATA_GONE = "its metadata, zarr.json, is gone"  # the damage of a group or array whose zarr.json is gone


def create_array(group: zarr.Group, name: str, *, compress: bool = True, **spec: Any) -> zarr.Array:
    """Create array `name` in `group` as every store array is: Blosc zstd (unless `compress` is False: data that
    is already compressed, such as JPEG bytes), then a crc32c checksum per chunk, every chunk written; `spec`
    gives its shape, chunks, shards and dtype."""
    compressors = (COMPRESSOR, CHECKSUM) if compress else (CHECKSUM,)
    return group.create_array(name, compressors=compressors, config=EVERY_CHUNK, **spec)


def tool_version() -> str:
    """The installed twostream-fusion version."""
    try:
        return importlib.metadata.version("twostream-fusion")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


class VideoStore:
    """A per-video zarr store of one kind ("frames", "features"); see the module docstring for the layout."""

    kind = "video"

    def __init__(self, path: str | os.PathLike, root: zarr.Group) -> None:
        self.path = Path(path)
        self.root = root
        self.attrs: dict[str, Any] = dict(root.attrs.get(ATTRS_KEY, {}))

    # ---- opening ---------------------------------------------------------------------------
    @classmethod
    def open(cls, path: str | os.PathLike) -> "VideoStore":
        """Open an existing store for reading, checking that it is of this class's kind."""
        location = Path(path)
        if not (location / "zarr.json").is_file():
            raise StoreError(f"{location} is not a zarr store; create it with `twostream extract-{cls.kind}`")
        root = zarr.open_group(str(location), mode="r")
        attrs = root.attrs.get(ATTRS_KEY)
        if not isinstance(attrs, dict) or attrs.get("kind") != cls.kind:
            found = attrs.get("kind") if isinstance(attrs, dict) else "no twostream"
            raise StoreError(f"{location} is a {found} store, not a {cls.kind} store")
        if attrs.get("schema") != STORE_SCHEMA:
            raise StoreError(f"{location} has store schema {attrs.get('schema')}, this version reads {STORE_SCHEMA}; "
                             "re-create it with this version")
        return cls(location, root)

    @classmethod
    def create_or_open(cls, path: str | os.PathLike, config: dict[str, Any],
                       fill: Callable[[zarr.Group], None] | None = None, **extra: Any) -> "VideoStore":
        """Open a store for writing, creating it with `config`; refuse one written with another config.

        A new store is built beside its final path, given `fill`'s contents (arrays beside the videos)
        and renamed into place, so a killed job never leaves a store without its attributes or contents.
        """
        location = Path(path)
        if not (location / "zarr.json").is_file():
            location.parent.mkdir(parents=True, exist_ok=True)
            building = location.with_name(f".{location.name}.{writer_token()}")
            root = zarr.open_group(str(building), mode="w")
            for name in ("videos", "failures", "staging"):
                root.require_group(name)
            root.attrs[ATTRS_KEY] = {"kind": cls.kind, "schema": STORE_SCHEMA, "tool_version": tool_version(),
                                     "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                                     "config": config, **extra}
            if fill is not None:
                try:
                    fill(root)
                except BaseException:
                    shutil.rmtree(building, ignore_errors=True)
                    raise
            try:
                os.rename(building, location)
            except OSError:  # another job created it first (or the folder holds something else): open that
                shutil.rmtree(building, ignore_errors=True)
        store = cls.open(location)
        if store.attrs.get("config") != config:
            differing = sorted(k for k in set(config) | set(store.attrs.get("config", {}))
                               if config.get(k) != store.attrs.get("config", {}).get(k))
            raise StoreError(
                f"{location} was written with another configuration (differs in: {', '.join(differing)}); "
                "write to a new store, or delete this one"
            )
        return cls(location, zarr.open_group(str(location), mode="r+"))

    @property
    def config(self) -> dict[str, Any]:
        """The configuration the store was written with."""
        return dict(self.attrs.get("config", {}))

    # ---- reading ---------------------------------------------------------------------------
    def video_ids(self) -> list[str]:
        """Ids of the videos whose groups are complete, sorted."""
        folder = self.path / "videos"
        if not folder.is_dir():
            return []
        return sorted(name for name in os.listdir(folder) if self.is_complete(name))

    def incomplete_ids(self) -> list[str]:
        """Ids of groups under videos/ that lack the completion mark (left by an older layout or a crash), sorted."""
        folder = self.path / "videos"
        if not folder.is_dir():
            return []
        return sorted(name for name in os.listdir(folder) if (folder / name).is_dir() and not self.is_complete(name))

    def is_complete(self, video_id: str) -> bool:
        """Whether a video's group is published and marked complete."""
        meta = self.path / "videos" / video_id / "zarr.json"
        if not meta.is_file():
            return False
        return bool(zarr.open_group(str(self.path / "videos" / video_id), mode="r").attrs.get(COMPLETE))

    def video(self, video_id: str) -> zarr.Group:
        """The group of a complete video, for reading."""
        if not self.is_complete(video_id):
            if (self.path / "videos" / video_id).is_dir() and not (self.path / "videos" / video_id / "zarr.json").is_file():
                raise StoreDamageError(self.path, video_id, GROUP, METADATA_GONE, self.kind)
            failure = self.failures().get(video_id)
            reason = f"it failed: {failure['error']}" if failure else "it is not in the store (or incomplete)"
            raise StoreError(f"video {video_id!r} cannot be read from {self.path}: {reason}")
        return zarr.open_group(str(self.path / "videos" / video_id), mode="r")

    def failures(self) -> dict[str, dict[str, Any]]:
        """Videos recorded as failed, with their error text and attempts."""
        folder = self.path / "failures"
        if not folder.is_dir():
            return {}
        found = {}
        for name in sorted(os.listdir(folder)):
            if (folder / name / "zarr.json").is_file():
                found[name] = dict(zarr.open_group(str(folder / name), mode="r").attrs)
        return found

    # ---- writing ---------------------------------------------------------------------------
    def record_failure(self, video_id: str, error: str, attempts: int) -> None:
        """Record that a video failed (driver side)."""
        group = zarr.open_group(str(self.path / "failures" / video_id), mode="w")
        group.attrs.update({"error": error, "attempts": attempts,
                            "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())})

    def clear_failure(self, video_id: str) -> None:
        """Forget an earlier failure of a video that has now succeeded."""
        shutil.rmtree(self.path / "failures" / video_id, ignore_errors=True)

    def remove_stale_staging(self) -> list[str]:
        """Delete staging groups left by writers on this host that are no longer running."""
        folder = self.path / "staging"
        removed = []
        if not folder.is_dir():
            return removed
        for name in os.listdir(folder):
            if writer_gone(name.rpartition("@")[2].removeprefix("retired-")):  # <video>@[retired-]<token>
                shutil.rmtree(folder / name, ignore_errors=True)
                removed.append(name)
        return removed

    @contextlib.contextmanager
    def write_video(self, video_id: str, overwrite: bool = False) -> Iterator[zarr.Group]:
        """Yield a fresh group to fill with one video's arrays; publish it atomically when the block ends.

        If the block raises, nothing is published. If another writer published the video first,
        that version is kept (unless `overwrite`).
        """
        staging = self.path / "staging" / f"{video_id}@{writer_token()}"
        group = zarr.open_group(str(staging), mode="w")
        try:
            yield group
            group.attrs[COMPLETE] = True  # the completion mark, written last
            self._publish(staging, video_id, overwrite)
        finally:
            shutil.rmtree(staging, ignore_errors=True)

    def _publish(self, staging: Path, video_id: str, overwrite: bool) -> None:
        target = self.path / "videos" / video_id
        if target.exists() and overwrite:
            retired = self.path / "staging" / f"{video_id}@retired-{writer_token()}"
            with contextlib.suppress(FileNotFoundError):
                os.rename(target, retired)
            shutil.rmtree(retired, ignore_errors=True)
        try:
            os.rename(staging, target)
        except OSError:
            if not self.is_complete(video_id):
                # An incomplete leftover from an older layout or a crash between steps: replace it.
                shutil.rmtree(target, ignore_errors=True)
                os.rename(staging, target)

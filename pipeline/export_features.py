"""export-features: copy a features store out to per-video npy files or one HDF5 file.

The export streams video by video and, within a video, snippet block by snippet block, so memory stays
bounded whatever the store's size. Failed and incomplete videos are skipped and reported. The output is
built under a hidden temporary name beside `out` and renamed into place when complete, so an
interrupted export leaves nothing that looks like a finished one.
"""
from __future__ import annotations

import copy
import json
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import h5py

from twostream.data.errors import TwostreamError
from twostream.data.io import atomic_path
from twostream.data.sampling import STREAMS
from twostream.pipeline.stores.feature_h5 import COMPRESSIONS, EXPORT_KEY, VIDEOS, create_dataset, write_attrs
from twostream.pipeline.stores.feature_npy import ROOT_SIDECAR, SIDECAR, npy_name, video_sidecar, write_npy
from twostream.pipeline.stores.feature_store import FLOWMAG, FeatureStore, out_of_fold, snippet_blocks
from twostream.pipeline.stores.video_store import ATTRS_KEY, COMPLETE, tool_version

FORMATS = ("npy", "h5")
BLOCK_BYTES = 64 << 20


class ExportError(TwostreamError):
    """An export cannot start: the output exists, or the selection names what the store lacks."""


@dataclass
class ExportSummary:
    """The outcome of one export."""

    out: str
    format: str
    arrays: list[str]
    written: list[str] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)  # video id -> why
    seconds: float = 0.0


def select_arrays(store: FeatureStore, streams: Sequence[str] = STREAMS,
                  taps: Sequence[str] | None = None) -> list[str]:
    """The store arrays to export: every tap of `streams` and flowmag, or those `taps` name ("tap",
    "stream/tap" or "flowmag"); each chosen stream array with its out-of-fold twin when the store has them."""
    for stream in streams:
        store.stream_config(stream)  # refuses an unknown or absent stream
    every = [f"{s}/{t}" for s in streams for t in store.taps(s)]
    if taps is None:
        chosen = [*every, FLOWMAG]
    else:
        chosen = []
        for tap in taps:
            matches = [FLOWMAG] if tap == FLOWMAG else [n for n in every if n == tap or n.split("/")[1] == tap]
            if not matches:
                raise ExportError(f"{store.path} holds no tap {tap!r} in {', '.join(streams)}; "
                                  f"it has {', '.join([*every, FLOWMAG])}")
            chosen += [m for m in matches if m not in chosen]
    if store.folds is not None:
        chosen += [out_of_fold(name) for name in chosen if name != FLOWMAG]
    return chosen


def select_videos(store: FeatureStore, video_ids: Sequence[str] | None = None) -> tuple[list[str], dict[str, str]]:
    """The complete videos to export, and the failed or incomplete ones to skip with the reason."""
    complete = store.video_ids()
    problems = {v: f"failed: {f.get('error', 'no error recorded')}" for v, f in store.failures().items()}
    problems.update({v: "incomplete: its group has no completion mark" for v in store.incomplete_ids()})
    for video_id in complete:
        problems.pop(video_id, None)
    if video_ids is None:
        return complete, problems
    unknown = [v for v in video_ids if v not in problems and v not in complete]
    if unknown:
        raise ExportError(f"{len(unknown)} requested videos are not in {store.path}, e.g. {unknown[0]!r}")
    return ([v for v in video_ids if v in complete and v not in problems],
            {v: problems[v] for v in video_ids if v in problems})


def exported_attrs(store: FeatureStore, arrays: Sequence[str]) -> dict[str, Any]:
    """The store's root attributes with the config listing only the exported streams and taps."""
    attrs = copy.deepcopy(store.attrs)
    streams = attrs.get("config", {}).get("streams", {})
    for stream in list(streams):
        kept = [t for t in streams[stream]["taps"] if f"{stream}/{t}" in arrays]
        if kept:
            streams[stream]["taps"] = kept
        else:
            del streams[stream]
    return attrs


class _NpyWriter:
    def __init__(self, folder: Path, store: FeatureStore, arrays: Sequence[str], block_bytes: int) -> None:
        self.folder, self.store, self.arrays, self.block_bytes = folder, store, arrays, block_bytes

    def add_video(self, video_id: str) -> None:
        group = self.store.video(video_id)
        target = self.folder / video_id
        target.mkdir()
        sources = {name: group[name] for name in self.arrays if name in group}  # oof/ only for fold videos
        for name, source in sources.items():
            write_npy(target / npy_name(name), source, self.block_bytes)
        sidecar = video_sidecar(video_id, dict(group.attrs), sources)
        (target / SIDECAR).write_text(json.dumps(sidecar, indent=1))

    def finish(self, export: dict[str, Any]) -> None:
        attrs = exported_attrs(self.store, self.arrays)
        (self.folder / ROOT_SIDECAR).write_text(json.dumps({ATTRS_KEY: attrs, EXPORT_KEY: export}, indent=1))


class _H5Writer:
    # The file is opened per video, so that nothing stays open when a video's copy is interrupted.
    def __init__(self, path: Path, store: FeatureStore, arrays: Sequence[str], block_bytes: int,
                 compression: str) -> None:
        self.path, self.store, self.arrays = path, store, arrays
        self.block_bytes, self.compression = block_bytes, compression
        with h5py.File(path, "w") as handle:
            write_attrs(handle.attrs, {ATTRS_KEY: exported_attrs(store, arrays)})
            handle.create_group(VIDEOS)

    def add_video(self, video_id: str) -> None:
        source_group = self.store.video(video_id)
        with h5py.File(self.path, "r+") as handle:
            group = handle[VIDEOS].create_group(video_id)
            for name in (name for name in self.arrays if name in source_group):  # oof/ only for fold videos
                source = source_group[name]
                dataset = create_dataset(group, name, source.shape, source.dtype, self.compression)
                for block in snippet_blocks(source.shape, source.dtype.itemsize, self.block_bytes):
                    dataset[block] = source[block]
            write_attrs(group.attrs, dict(source_group.attrs))  # holds the completion mark

    def finish(self, export: dict[str, Any]) -> None:
        with h5py.File(self.path, "r+") as handle:
            write_attrs(handle.attrs, {EXPORT_KEY: export})
            handle.attrs[COMPLETE] = True  # written last


@dataclass(frozen=True, kw_only=True)
class ExportConfig:
    """What export-features writes: the format, which taps, streams and videos, compression, overwriting."""

    format: str  # npy: a folder of .npy files per video; h5: one HDF5 file
    taps: tuple[str, ...] | None = None  # TAP, STREAM/TAP or flowmag (None: every tap and flowmag)
    streams: tuple[str, ...] = STREAMS
    video_ids: tuple[str, ...] | None = None  # None: every complete video
    compression: str | None = None  # h5 only: gzip (the default) or lzf
    overwrite: bool = False
    block_bytes: int = BLOCK_BYTES  # at most this much of an array is read at once

    def __post_init__(self) -> None:
        """Refuse a format, compression or block size that cannot be written."""
        if self.format not in FORMATS:
            raise ExportError(f"unknown format {self.format!r}; use one of {', '.join(FORMATS)}")
        if self.format == "npy" and self.compression:
            raise ExportError("npy files are written uncompressed; --compression applies to --format h5")
        if self.compression and self.compression not in COMPRESSIONS:
            raise ExportError(f"unknown compression {self.compression!r}; use one of {', '.join(COMPRESSIONS)}")
        if self.block_bytes < 1:
            raise ExportError(f"block_bytes must be positive, got {self.block_bytes}")
        for name in ("taps", "streams", "video_ids"):
            value = getattr(self, name)
            if value is not None:
                object.__setattr__(self, name, tuple(value))


def export_features(store_path: str | os.PathLike, out: str | os.PathLike, config: ExportConfig,
                    progress: Callable[[int, int, int], None] | None = None) -> ExportSummary:
    """Export a features store's complete videos as npy files (a folder) or one HDF5 file, atomically.

    `config` narrows what is exported; an existing `out` is refused unless `config.overwrite`.
    """
    format, taps, streams, video_ids = config.format, config.taps, config.streams, config.video_ids
    compression, overwrite, block_bytes = config.compression, config.overwrite, config.block_bytes
    store = FeatureStore.open(store_path)
    arrays = select_arrays(store, streams, taps)
    wanted, skipped = select_videos(store, video_ids)
    if not wanted:
        raise ExportError(f"{store.path} has no complete video to export"
                          + (f" ({len(skipped)} skipped)" if skipped else ""))
    out = Path(out)
    if out.resolve() == store.path.resolve() or store.path.resolve() in out.resolve().parents:
        raise ExportError(f"{out} is the store being exported (or inside it); write the export elsewhere")
    if out.exists() and not overwrite:
        raise ExportError(f"{out} exists; pass --overwrite to replace it")
    out.parent.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    with atomic_path(out, directory=format == "npy") as partial:
        writer = (_NpyWriter(partial, store, arrays, block_bytes) if format == "npy"
                  else _H5Writer(partial, store, arrays, block_bytes, compression or "gzip"))
        for done, video_id in enumerate(wanted, 1):
            writer.add_video(video_id)
            if progress:
                progress(done, len(wanted), 0)
        export = {"source": str(store.path.resolve()), "format": format, "arrays": arrays, "skipped": skipped,
                  "tool_version": tool_version(), "exported": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
        writer.finish(export)
    return ExportSummary(str(out), format, arrays, wanted, skipped, time.monotonic() - started)

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
import shutil
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import h5py

from twostream.data.errors import TwostreamError
from twostream.pipeline.feature_h5 import COMPRESSIONS, EXPORT_KEY, VIDEOS, create_dataset, write_attrs
from twostream.pipeline.feature_npy import ROOT_SIDECAR, SIDECAR, npy_name, video_sidecar, write_npy
from twostream.pipeline.feature_store import FLOWMAG, STREAMS, FeatureStore, snippet_blocks
from twostream.pipeline.video_store import ATTRS_KEY, COMPLETE, tool_version

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
    "stream/tap" or "flowmag")."""
    for stream in streams:
        store.stream_config(stream)  # refuses an unknown or absent stream
    every = [f"{s}/{t}" for s in streams for t in store.taps(s)]
    if taps is None:
        return [*every, FLOWMAG]
    chosen = []
    for tap in taps:
        matches = [FLOWMAG] if tap == FLOWMAG else [n for n in every if n == tap or n.split("/")[1] == tap]
        if not matches:
            raise ExportError(f"{store.path} holds no tap {tap!r} in {', '.join(streams)}; "
                              f"it has {', '.join([*every, FLOWMAG])}")
        chosen += [m for m in matches if m not in chosen]
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
        sources = {name: group[name] for name in self.arrays}
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
            for name in self.arrays:
                source = source_group[name]
                dataset = create_dataset(group, name, source.shape, source.dtype, self.compression)
                for block in snippet_blocks(source.shape, source.dtype.itemsize, self.block_bytes):
                    dataset[block] = source[block]
            write_attrs(group.attrs, dict(source_group.attrs))  # holds the completion mark

    def finish(self, export: dict[str, Any]) -> None:
        with h5py.File(self.path, "r+") as handle:
            write_attrs(handle.attrs, {EXPORT_KEY: export})
            handle.attrs[COMPLETE] = True  # written last


def export_features(store_path: str | os.PathLike, out: str | os.PathLike, format: str,
                    taps: Sequence[str] | None = None, streams: Sequence[str] = STREAMS,
                    video_ids: Sequence[str] | None = None, compression: str | None = None,
                    overwrite: bool = False, progress: Callable[[int, int, int], None] | None = None,
                    block_bytes: int = BLOCK_BYTES) -> ExportSummary:
    """Export a features store's complete videos as npy files (a folder) or one HDF5 file.

    `taps`, `streams` and `video_ids` narrow what is exported; `compression` (gzip, lzf) applies to h5;
    at most `block_bytes` of an array are read at once. An existing `out` is refused unless `overwrite`.
    """
    if format not in FORMATS:
        raise ExportError(f"unknown format {format!r}; use one of {', '.join(FORMATS)}")
    if format == "npy" and compression:
        raise ExportError("npy files are written uncompressed; --compression applies to --format h5")
    if compression and compression not in COMPRESSIONS:
        raise ExportError(f"unknown compression {compression!r}; use one of {', '.join(COMPRESSIONS)}")
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
    partial = _partial_path(out, format)
    try:
        writer = (_NpyWriter(partial, store, arrays, block_bytes) if format == "npy"
                  else _H5Writer(partial, store, arrays, block_bytes, compression or "gzip"))
        for done, video_id in enumerate(wanted, 1):
            writer.add_video(video_id)
            if progress:
                progress(done, len(wanted), 0)
        export = {"source": str(store.path.resolve()), "format": format, "arrays": arrays, "skipped": skipped,
                  "tool_version": tool_version(), "exported": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
        writer.finish(export)
        _move_into_place(partial, out)
    except BaseException:
        _remove(partial)
        raise
    return ExportSummary(str(out), format, arrays, wanted, skipped, time.monotonic() - started)


def _partial_path(out: Path, format: str) -> Path:
    partial = out.with_name(f".{out.name}.partial-{os.getpid()}-{uuid.uuid4().hex[:8]}")
    if format == "npy":
        partial.mkdir()
    return partial


def _move_into_place(partial: Path, out: Path) -> None:
    if out.is_dir() and not out.is_symlink():
        aside = out.with_name(f".{out.name}.replaced-{os.getpid()}-{uuid.uuid4().hex[:8]}")
        os.rename(out, aside)
        os.rename(partial, out)
        shutil.rmtree(aside, ignore_errors=True)
        return
    if partial.is_dir() and out.exists():
        out.unlink()
    os.replace(partial, out)


def _remove(path: Path) -> None:
    if path.is_dir():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)

"""export-features: copy a features store out to per-video npy files or one HDF5 file, or write a dense
store's per-video (positions, features) matrices for temporal-localisation trainers.

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
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from twostream.data.errors import TwostreamError
from twostream.data.io import atomic_path
from twostream.data.rescale import rescale_positions
from twostream.data.sampling import DENSE, STREAMS
from twostream.pipeline.stores.feature_h5 import COMPRESSIONS, EXPORT_KEY, VIDEOS, create_dataset, write_attrs
from twostream.pipeline.stores.feature_localization import (
    DEFAULT_POSITIONS,
    LOCALIZATION_FORMATS,
    NATIVE,
    localization_file,
    write_localization,
)
from twostream.pipeline.stores.feature_npy import SIDECAR, npy_name, video_sidecar, write_npy, write_root_sidecar
from twostream.pipeline.stores.feature_store import FLOWMAG, OOF, FeatureStore, out_of_fold, snippet_blocks
from twostream.pipeline.stores.video_store import ATTRS_KEY, COMPLETE, StoreDamageError, tool_version

FORMATS = ("npy", "h5", *LOCALIZATION_FORMATS)
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
    flowmag = [FLOWMAG] if store.has_flowmag else []
    if taps is None:
        chosen = [*every, *flowmag]
    else:
        chosen = []
        for tap in taps:
            matches = flowmag if tap == FLOWMAG else [n for n in every if n == tap or n.split("/")[1] == tap]
            if not matches:
                raise ExportError(f"{store.path} holds no tap {tap!r} in {', '.join(streams)}; "
                                  f"it has {', '.join([*every, *flowmag])}")
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


def video_arrays(store: FeatureStore, group: Any, video_id: str, names: Sequence[str]) -> dict[str, Any]:
    """The arrays `names` of one video (whose group is open), their reads checked; an out-of-fold array only where
    the video has one (fold videos), every other one where the store must hold it."""
    return {name: store.array_in(group, video_id, name) for name in names
            if name in group or not name.startswith(f"{OOF}/")}


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


def localization_arrays(store: FeatureStore, streams: Sequence[str] = STREAMS,
                        taps: Sequence[str] | None = None) -> list[str]:
    """The one vector array per stream that a localisation export writes, in column order (rgb, then flow):
    the `taps` named ("tap" for both streams, or "stream/tap" each), logits by default; a TSN store is refused."""
    if store.sampling_kind != DENSE:
        raise ExportError(f"{store.path} holds TSN snippets (evenly spaced per video); localisation features need a "
                          "fixed stride: extract them with `extract-features --sampling dense --stride N`")
    chosen = select_arrays(store, streams, taps or ("logits",))
    arrays = []
    for stream in (s for s in STREAMS if s in streams):
        mine = [name for name in chosen if name.split("/")[0] == stream]
        if len(mine) != 1:
            raise ExportError(f"a localisation export holds one tap per stream, rgb columns then flow columns; "
                              f"--taps gives {len(mine)} for {stream} ({', '.join(mine) or 'none'}): name one tap "
                              "(logits) or one per stream (rgb/global_pool flow/global_pool)")
        arrays += mine
    return arrays


class _LocalizationWriter:
    def __init__(self, folder: Path, store: FeatureStore, arrays: Sequence[str], format: str,
                 positions: int | None) -> None:
        self.folder, self.store, self.arrays = folder, store, arrays
        self.format, self.positions = format, positions
        self.videos: dict[str, dict[str, int]] = {}
        self.widths: dict[str, int] = {}

    def add_video(self, video_id: str) -> None:
        columns = []
        for name in self.arrays:
            values = self.store.read(video_id, name)
            if values.ndim != 3:
                raise ExportError(f"{name} of {video_id!r} is a map; localisation columns are vectors: choose "
                                  "a pooled tap or logits with --taps")
            self.widths.setdefault(name, values.shape[2])
            columns.append(values.mean(axis=1))  # over the crop axis (a dense store keeps their mean: length 1)
        snippets = np.concatenate(columns, axis=1)
        matrix = snippets if self.positions is None else rescale_positions(snippets, self.positions)
        write_localization(self.folder / localization_file(video_id, self.format), matrix, self.format)
        attrs = self.store.video(video_id).attrs
        stride = int(attrs["stride"])
        self.videos[video_id] = {"snippets": len(snippets), "stride": stride, "frames": int(attrs["frames"]),
                                 "feature_frame": len(snippets) * stride,
                                 **({"clip_frames": int(attrs["clip_frames"])} if "clip_frames" in attrs else {})}

    def discard(self, video_id: str) -> None:
        """Nothing to take back: a video's matrix is written only once all its arrays were read."""

    def finish(self, export: dict[str, Any]) -> None:
        ranges, first = {}, 0
        for name in self.arrays:
            ranges[name] = [first, first + self.widths[name]]
            first += self.widths[name]
        described = {**export, "positions": self.positions or NATIVE, "columns": ranges, "videos": self.videos}
        write_root_sidecar(self.folder, exported_attrs(self.store, self.arrays), described)


class _NpyWriter:
    def __init__(self, folder: Path, store: FeatureStore, arrays: Sequence[str], block_bytes: int) -> None:
        self.folder, self.store, self.arrays, self.block_bytes = folder, store, arrays, block_bytes

    def add_video(self, video_id: str) -> None:
        group = self.store.video(video_id)
        target = self.folder / video_id
        target.mkdir()
        sources = video_arrays(self.store, group, video_id, self.arrays)
        for name, source in sources.items():
            write_npy(target / npy_name(name), source, self.block_bytes)
        sidecar = video_sidecar(video_id, dict(group.attrs), sources)
        (target / SIDECAR).write_text(json.dumps(sidecar, indent=1))

    def discard(self, video_id: str) -> None:
        """Remove what was written of a video whose export failed."""
        shutil.rmtree(self.folder / video_id, ignore_errors=True)

    def finish(self, export: dict[str, Any]) -> None:
        write_root_sidecar(self.folder, exported_attrs(self.store, self.arrays), export)


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
            for name, source in video_arrays(self.store, source_group, video_id, self.arrays).items():
                dataset = create_dataset(group, name, source.shape, source.dtype, self.compression)
                for block in snippet_blocks(source.shape, source.dtype.itemsize, self.block_bytes):
                    dataset[block] = source[block]
            write_attrs(group.attrs, dict(source_group.attrs))  # holds the completion mark

    def discard(self, video_id: str) -> None:
        """Remove what was written of a video whose export failed."""
        with h5py.File(self.path, "r+") as handle:
            if video_id in handle[VIDEOS]:
                del handle[VIDEOS][video_id]

    def finish(self, export: dict[str, Any]) -> None:
        with h5py.File(self.path, "r+") as handle:
            write_attrs(handle.attrs, {EXPORT_KEY: export})
            handle.attrs[COMPLETE] = True  # written last


@dataclass(frozen=True, kw_only=True)
class ExportConfig:
    """What export-features writes: the format, which taps, streams and videos, compression, overwriting."""

    format: str  # npy: a folder of .npy files per video; h5: one HDF5 file; localization-csv/-npy: a file per video
    taps: tuple[str, ...] | None = None  # TAP, STREAM/TAP or flowmag (None: every tap and flowmag)
    streams: tuple[str, ...] = STREAMS
    video_ids: tuple[str, ...] | None = None  # None: every complete video
    compression: str | None = None  # h5 only: gzip (the default) or lzf
    overwrite: bool = False
    block_bytes: int = BLOCK_BYTES  # at most this much of an array is read at once
    # localization formats only: rows per video, "native" for one per snippet (None: DEFAULT_POSITIONS)
    positions: int | str | None = None

    def __post_init__(self) -> None:
        """Refuse a format, compression, block size or number of positions that cannot be written."""
        if self.format not in FORMATS:
            raise ExportError(f"unknown format {self.format!r}; use one of {', '.join(FORMATS)}")
        if self.format in LOCALIZATION_FORMATS:
            if self.compression:
                raise ExportError(f"{self.format} files are written uncompressed; --compression applies to --format h5")
            positions = DEFAULT_POSITIONS if self.positions is None else self.positions
            if positions != NATIVE and (not isinstance(positions, int) or positions < 1):
                raise ExportError(f"--positions must be a positive number of rows or {NATIVE!r}, got {positions!r}")
            object.__setattr__(self, "positions", positions)
        elif self.positions is not None:
            raise ExportError(f"--positions applies to the localization formats, not {self.format}")
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


def export_features(store_path: str | os.PathLike, out: str | os.PathLike, *, config: ExportConfig,
                    progress: Callable[[int, int, int], None] | None = None) -> ExportSummary:
    """Export a features store's complete videos as npy files (a folder), one HDF5 file or, from a dense
    store, localisation matrices (a folder of csv or npy files), atomically.

    `config` narrows what is exported; an existing `out` is refused unless `config.overwrite`.
    """
    format, taps, streams, video_ids = config.format, config.taps, config.streams, config.video_ids
    compression, overwrite, block_bytes = config.compression, config.overwrite, config.block_bytes
    store = FeatureStore.open(store_path)
    localization = format in LOCALIZATION_FORMATS
    arrays = localization_arrays(store, streams, taps) if localization else select_arrays(store, streams, taps)
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
    with atomic_path(out, directory=format != "h5") as partial:
        writer: _LocalizationWriter | _NpyWriter | _H5Writer
        if localization:
            rows = None if config.positions == NATIVE else int(config.positions)
            writer = _LocalizationWriter(partial, store, arrays, format, rows)
        elif format == "npy":
            writer = _NpyWriter(partial, store, arrays, block_bytes)
        else:
            writer = _H5Writer(partial, store, arrays, block_bytes, compression or "gzip")
        exported = []
        for done, video_id in enumerate(wanted, 1):
            try:
                writer.add_video(video_id)
                exported.append(video_id)
            except StoreDamageError as error:  # recorded like a failed video; the others are exported
                writer.discard(video_id)
                skipped[video_id] = f"damaged: {error.array}: {error.damage}"
            if progress:
                progress(done, len(wanted), len(skipped))
        export = {"source": str(store.path.resolve()), "format": format, "arrays": arrays, "skipped": skipped,
                  "tool_version": tool_version(), "exported": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
        writer.finish(export)
    return ExportSummary(str(out), format, arrays, exported, skipped, time.monotonic() - started)

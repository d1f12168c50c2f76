"""The HDF5 export of a features store: one file mirroring features.zarr's groups, read and written.

Layout (h5py)::

    /                            attributes: "twostream" (the store's root attributes), "export" (source
                                 store, time, videos skipped and why), "complete" (written last)
    /videos/<video_id>/          the zarr group's attributes (label, class_name, frames, flow_stack_starts,
                                 rgb_frames, crops, complete)
    /videos/<video_id>/rgb/<tap>, /flow/<tap>, /flowmag
                                 datasets in the stored dtype (float16 maps and vectors, float32 logits),
                                 chunked by snippet, gzip or lzf compressed, dimensions labelled
                                 snippet, crop, channel | class, y, x

Attributes that are not a string, number or boolean are stored as JSON text, their names listed in
the group's "json_attrs", so that they read back as the same dicts and lists. The root's config lists
the streams and taps the file holds (all of the store's unless the export chose some).
"""
from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from twostream.pipeline.stores.feature_store import FeatureReader, axis_names
from twostream.pipeline.stores.video_store import ATTRS_KEY, COMPLETE, EXPORT_KEY, STORE_SCHEMA, StoreError

JSON_ATTRS = "json_attrs"
VIDEOS = "videos"
COMPRESSIONS = ("gzip", "lzf")
GZIP_LEVEL = 4
# Chunks hold one snippet's crops, or one crop when that exceeds this many bytes (h5py's chunk cache is 1 MiB).
CHUNK_BYTES = 1 << 20


def write_attrs(target: h5py.AttributeManager, attrs: Mapping[str, Any]) -> None:
    """Store (add to) attributes of an HDF5 object, JSON-encoding those that are not plain scalars."""
    encoded = json.loads(target[JSON_ATTRS]) if JSON_ATTRS in target else []
    for key, value in attrs.items():
        plain = isinstance(value, (str, bool, int, float))
        target[key] = value if plain else json.dumps(value)
        encoded = [k for k in encoded if k != key] + ([] if plain else [key])
    if encoded:
        target[JSON_ATTRS] = json.dumps(encoded)


def read_attrs(source: h5py.AttributeManager) -> dict[str, Any]:
    """Attributes of an HDF5 object as written by `write_attrs` (JSON-encoded ones decoded)."""
    encoded = set(json.loads(source[JSON_ATTRS])) if JSON_ATTRS in source else set()
    found = {}
    for key, value in source.items():
        if key == JSON_ATTRS:
            continue
        value = value.item() if isinstance(value, np.generic) else value
        found[key] = json.loads(value) if key in encoded else value
    return found


def create_dataset(group: h5py.Group, name: str, shape: tuple[int, ...], dtype: np.dtype,
                   compression: str) -> h5py.Dataset:
    """Create one (S, crops, ...) dataset of a video, chunked by snippet, compressed, each chunk with HDF5's
    Fletcher-32 checksum (damage is detected on reading, never read as wrong numbers), its axes labelled."""
    if compression not in COMPRESSIONS:
        raise StoreError(f"unknown compression {compression!r}; use one of {', '.join(COMPRESSIONS)}")
    crop_bytes = int(np.prod(shape[2:], dtype=np.int64)) * np.dtype(dtype).itemsize
    chunks = (1, shape[1] if crop_bytes * shape[1] <= CHUNK_BYTES else 1, *shape[2:])
    options = {"compression_opts": GZIP_LEVEL, "shuffle": True} if compression == "gzip" else {}
    dataset = group.create_dataset(name, shape=shape, dtype=dtype, chunks=chunks, compression=compression,
                                   fletcher32=True, **options)
    for axis, label in enumerate(axis_names(name, len(shape))):
        dataset.dims[axis].label = label
    return dataset


class H5FeatureStore(FeatureReader):
    """Reader of a features HDF5 export, with the read interface of `FeatureStore`."""

    kind = "features"

    def __init__(self, path: str | os.PathLike, handle: h5py.File) -> None:
        self.path = Path(path)
        self._handle = handle
        self._pid = os.getpid()
        root = read_attrs(handle.attrs)
        self.attrs: dict[str, Any] = dict(root.get(ATTRS_KEY, {}))
        self.export: dict[str, Any] = dict(root.get(EXPORT_KEY, {}))

    @classmethod
    def open(cls, path: str | os.PathLike) -> "H5FeatureStore":
        """Open a complete HDF5 export for reading, checking that it holds features of this schema."""
        location = Path(path)
        if not location.is_file():
            raise StoreError(f"{location} does not exist; create it with `twostream export-features --format h5`")
        if not h5py.is_hdf5(location):
            raise StoreError(f"{location} is not an HDF5 file")
        unreadable = f"{location} cannot be read as an HDF5 export; export it again"  # e.g. cut short by a kill
        try:
            handle = h5py.File(location, "r")
        except OSError as error:
            raise StoreError(f"{unreadable} ({error})") from error
        try:
            root = read_attrs(handle.attrs)
        except (OSError, ValueError) as error:
            handle.close()
            raise StoreError(f"{unreadable} ({error})") from error
        attrs = root.get(ATTRS_KEY)
        problem = None
        if not isinstance(attrs, dict) or attrs.get("kind") != cls.kind:
            problem = f"{location} holds no twostream features"
        elif attrs.get("schema") != STORE_SCHEMA:
            problem = f"{location} has store schema {attrs.get('schema')}, this version reads {STORE_SCHEMA}"
        elif not root.get(COMPLETE):
            problem = f"{location} is an unfinished export (no completion mark); export it again"
        if problem:
            handle.close()
            raise StoreError(problem)
        return cls(location, handle)

    @property
    def handle(self) -> h5py.File:
        """The open file; a forked process (a DataLoader worker) opens its own, as HDF5 handles are not fork-safe."""
        if os.getpid() != self._pid:
            self._handle = h5py.File(self.path, "r")
            self._pid = os.getpid()
        return self._handle

    def __reduce__(self) -> tuple[Any, tuple[str]]:
        # An open h5py file does not pickle: worker processes reopen the export by its path.
        return (type(self).open, (str(self.path),))

    def close(self) -> None:
        """Close the file."""
        self.handle.close()

    def __enter__(self) -> "H5FeatureStore":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def video_ids(self) -> list[str]:
        """Ids of the videos the file holds, sorted."""
        return sorted(v for v in self.handle[VIDEOS] if self.handle[VIDEOS][v].attrs.get(COMPLETE))

    def video(self, video_id: str) -> h5py.Group:
        """The group of one video."""
        group = self.handle[VIDEOS].get(video_id)
        if group is None or not group.attrs.get(COMPLETE):
            failure = self.failures().get(video_id)
            reason = f"it was skipped: {failure['error']}" if failure else "it is not in the export"
            raise StoreError(f"video {video_id!r} cannot be read from {self.path}: {reason}")
        return group

    def failures(self) -> dict[str, dict[str, Any]]:
        """Videos of the source store that the export skipped, with the reason."""
        return {video_id: {"error": reason} for video_id, reason in self.export.get("skipped", {}).items()}

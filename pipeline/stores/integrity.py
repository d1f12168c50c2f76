"""Damage in a store, named where it is: a chunk that fails its checksum or does not decode, a chunk file
or an array's zarr.json that is gone. Every read of a video's array goes through `CheckedArray`, so any
command that meets damage stops with (or a batch records) one line naming the store, the video and the
array, and what to do; `array_damage` is what `twostream verify` checks of each array.
"""
from __future__ import annotations

import os
from typing import Any, Callable, TypeVar

import numpy as np

from twostream.pipeline.stores.video_store import METADATA_GONE, StoreDamageError, StoreError

T = TypeVar("T")
VERIFY_BLOCK_BYTES = 64 << 20  # verify decodes an array this much at a time
SELECTIONS = ("get_basic_selection", "get_orthogonal_selection", "get_coordinate_selection", "get_mask_selection")


def damage_text(error: BaseException) -> str:
    """A one-line description of why a read failed, from the error the storage library raised."""
    text = " ".join(str(error).split()) or type(error).__name__
    return text if len(text) <= 160 else text[:157] + "..."


class CheckedArray:
    """A video's array whose reads name the store, video and array when they fail or find chunks missing.

    Reads (`[...]`, and zarr's `get_*_selection` where the wrapped array has them) go to the wrapped array;
    anything else (shape, dtype, attrs) is the wrapped array's own. A zarr array's first read also checks that none of its chunk
    files is gone (zarr would read a missing chunk as its fill value, silently).
    """

    def __init__(self, array: Any, store: str | os.PathLike, video_id: str, name: str, kind: str) -> None:
        """Wrap `array`, the array `name` of video `video_id` in the `kind` ("frames" or "features") store at
        `store`."""
        self._array, self._store, self._video_id, self._name, self._kind = array, store, video_id, name, kind
        self._chunks_checked = False

    def __getattr__(self, attribute: str) -> Any:
        if attribute.startswith("_"):  # not yet set (while unpickling): never look it up on the array
            raise AttributeError(attribute)
        value = getattr(self._array, attribute)
        if attribute in SELECTIONS:
            return lambda *args, **kwargs: self._read(lambda: value(*args, **kwargs))
        return value

    def __len__(self) -> int:
        return len(self._array)

    def __getitem__(self, selection: Any) -> Any:
        return self._read(lambda: self._array[selection])

    def _read(self, read: Callable[[], T]) -> T:
        if not self._chunks_checked:
            missing = missing_chunks(self._array)
            if missing:
                raise StoreDamageError(self._store, self._video_id, self._name, missing, self._kind)
            self._chunks_checked = True
        try:
            return read()
        except StoreError:
            raise
        except Exception as error:  # the codecs' and the filesystem's errors: whatever fails is damage here
            raise StoreDamageError(self._store, self._video_id, self._name, damage_text(error), self._kind) from None


def checked_array(store: Any, group: Any, video_id: str, name: str) -> CheckedArray:
    """Array `name` of the video `video_id` (its group `group` already open) of `store` (a frames or features
    reader: its `path`, `kind` and `expected_arrays()`), its reads checked; an expected array that is gone is
    damage, any other name is not in the store."""
    if name not in group:
        expected = store.expected_arrays()
        if name in expected:
            raise StoreDamageError(store.path, video_id, name, METADATA_GONE, store.kind)
        raise StoreError(f"{store.path} holds no {name!r} for {video_id!r}; it has {', '.join(expected)}")
    return CheckedArray(group[name], store.path, video_id, name, store.kind)


def missing_chunks(array: Any) -> str | None:
    """How many of a zarr array's chunks are gone, as a phrase (None: none is, or not a zarr array).

    Stores are written with every chunk, empty ones too, so a missing chunk is damage.
    """
    expected = getattr(array, "nchunks", None)
    if expected is None or not hasattr(array, "nchunks_initialized"):
        return None
    present = int(array.nchunks_initialized)
    if present >= int(expected):
        return None
    return f"{int(expected) - present} of its {int(expected)} chunks are missing"


def array_damage(array: Any) -> str | None:
    """Read every chunk of a zarr array (a block of first-axis rows at a time): what is wrong with it, or None."""
    missing = missing_chunks(array)
    if missing:
        return missing
    shape = tuple(array.shape)
    if not shape or shape[0] == 0:
        return None
    itemsize = max(1, int(getattr(array.dtype, "itemsize", 1) or 1))
    per_row = max(1, int(np.prod(shape[1:], dtype=np.int64)) * itemsize)
    step = max(1, VERIFY_BLOCK_BYTES // per_row)
    chunk_rows = int(array.chunks[0]) if getattr(array, "chunks", None) else 1
    step = max(chunk_rows, step - step % chunk_rows)
    for start in range(0, shape[0], step):
        try:
            array[start:start + step]
        except Exception as error:  # see CheckedArray._read
            return damage_text(error)
    return None


def chunk_checksummed(metadata: dict[str, Any]) -> bool:
    """Whether an array whose metadata (its zarr.json, as a dict) is `metadata` checks each chunk (each inner chunk of a sharded array)
    against a crc32c checksum; arrays written before the stores carried them do not, and damage inside them
    can decode into wrong numbers."""
    codecs = metadata.get("codecs", [])
    for codec in codecs:
        if codec.get("name") == "sharding_indexed":
            codecs = codec.get("configuration", {}).get("codecs", [])
    return any(codec.get("name") == "crc32c" for codec in codecs)

"""A features store as an xarray Dataset with named dimensions, lazily backed by dask arrays.

Needs the optional extra: ``pip install twostream-fusion[xarray]``. Example, the mean activation of the
spatial map tap (inception4e for BN-Inception) per class::

    from twostream.pipeline.stores.feature_xarray import open_features_xarray

    features = open_features_xarray("features.zarr")       # or an HDF5 export
    per_video = features["rgb_inception4e"].mean(["snippet", "crop", "channel", "y", "x"])
    per_class = per_video.groupby("class_name").mean().compute()
    print(per_class.to_series().sort_values())

Variables: ``<stream>_<tap>`` for each stored tap, and ``flowmag``. Dimensions: ``video``, ``snippet``,
``crop``, then ``channel``, ``y``, ``x`` (maps), ``channel`` (pooled vectors), ``class`` (logits) or
``y``, ``x`` (flowmag). One name has one size in a Dataset, so a trailing dimension whose size differs
from an earlier variable's takes the tap as a prefix (``global_pool_channel``); the map taps come first
and keep the plain names. Coordinates: ``video`` (ids), ``label`` and ``class_name`` per video, and
``class`` (class names). Attributes: the store's root attributes. Videos must share shapes (a store's
videos do: fixed snippets and crops). Nothing is read until computed; each chunk is one video's array.
"""
from __future__ import annotations

import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import dask.array as da

from twostream.data.errors import TwostreamError
from twostream.pipeline.stores.feature_readers import open_feature_store
from twostream.pipeline.stores.feature_store import FLOWMAG, FeatureReader, axis_names
from twostream.pipeline.stores.video_store import StoreError

if TYPE_CHECKING:
    import xarray

INSTALL_HINT = "pip install twostream-fusion[xarray]"


class XarrayMissingError(TwostreamError, ImportError):
    """xarray, an optional extra, is not installed."""


def open_features_xarray(path: str | os.PathLike, video_ids: Sequence[str] | None = None) -> "xarray.Dataset":
    """Open a features store (or its HDF5 export) as a lazy xarray Dataset over `video_ids` (default: all)."""
    try:
        import xarray
    except ImportError as error:
        raise XarrayMissingError(f"opening features as xarray needs xarray: {INSTALL_HINT}") from error
    store = open_feature_store(path)
    ids = list(video_ids) if video_ids is not None else store.video_ids()
    if not ids:
        raise StoreError(f"{store.path} holds no complete video")
    sizes: dict[str, int] = {}
    variables = {}
    for name in _array_names(store, ids[0]):
        stacked = _stack(store, ids, name)
        stream, _, tap = name.rpartition("/")
        dims = ["video", *(_dimension(axis, size, stream, tap, sizes)
                           for axis, size in zip(axis_names(name, stacked.ndim - 1), stacked.shape[1:]))]
        attrs = {"array": name, "stream": stream, "tap": tap} if stream else {"array": name}
        variables[name.replace("/", "_")] = (dims, stacked, attrs)
    labels = [store.label(v) for v in ids]
    classes = store.classes
    coords: dict[str, Any] = {"video": ids, "label": ("video", labels),
                              "class_name": ("video", [str(store.video(v).attrs.get("class_name", "")) for v in ids])}
    if sizes.get("class") == len(classes):
        coords["class"] = classes
    return xarray.Dataset(variables, coords=coords, attrs=store.attrs)


def _array_names(store: FeatureReader, video_id: str) -> list[str]:
    streams = list(store.config.get("streams", {}))
    maps = [f"{s}/{store.stream_config(s)['map_tap']}" for s in streams]
    every = [f"{s}/{t}" for s in streams for t in store.taps(s)]
    group = store.video(video_id)
    ordered = [n for n in maps if n in every] + ([FLOWMAG] if FLOWMAG in group else [])
    return ordered + [n for n in every if n not in ordered]


def _stack(store: FeatureReader, ids: Sequence[str], name: str) -> da.Array:
    shape = None
    parts = []
    for video_id in ids:
        array = store.array(video_id, name)
        if shape is None:
            shape = array.shape
        elif array.shape != shape:
            raise StoreError(f"{video_id}'s {name} has shape {array.shape}, {ids[0]}'s has {shape}; "
                             "an xarray Dataset needs videos of one shape (a dense store's videos differ in "
                             "length: read them with zarr, or export them with --positions T)")
        parts.append(da.from_array(array, chunks=array.shape, name=False))
    return da.stack(parts)


def _dimension(axis: str, size: int, stream: str, tap: str, sizes: dict[str, int]) -> str:
    if axis in ("snippet", "crop"):
        candidates = [axis]
    else:
        candidates = [axis, f"{tap}_{axis}", f"{stream}_{tap}_{axis}"]
    for candidate in candidates:
        if sizes.setdefault(candidate, size) == size:
            return candidate
    raise StoreError(f"{stream}/{tap} has {axis} of {size}, which no dimension name can hold")

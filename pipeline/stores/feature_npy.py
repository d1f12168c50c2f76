"""The per-video npy export of a features store.

Layout::

    <out>/store.json                       the store's root attributes and what the export took (written last)
    <out>/<video_id>/<stream>_<tap>.npy    e.g. rgb_inception4e.npy: (snippet, crop, channel, y, x), stored dtype
    <out>/<video_id>/flowmag.npy           (snippet, crop, y, x) float16
    <out>/<video_id>/features.json         video id, label, class name, the zarr group's attributes, and per
                                           file its array, shape, dtype and axes
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from twostream.pipeline.stores.feature_store import axis_names, snippet_blocks
from twostream.pipeline.stores.video_store import ATTRS_KEY, EXPORT_KEY

SIDECAR = "features.json"
ROOT_SIDECAR = "store.json"


def write_root_sidecar(folder: Path, attrs: Mapping[str, Any], export: Mapping[str, Any]) -> None:
    """Write an export folder's store.json: the store's root attributes and what the export took."""
    (folder / ROOT_SIDECAR).write_text(json.dumps({ATTRS_KEY: attrs, EXPORT_KEY: export}, indent=1))


def npy_name(array_name: str) -> str:
    """File name of a store array in a video's folder ("rgb/inception4e" -> "rgb_inception4e.npy")."""
    return array_name.replace("/", "_") + ".npy"


def write_npy(path: Path, source: Any, block_bytes: int) -> None:
    """Write an array (zarr, HDF5 or numpy) to an .npy file, reading at most `block_bytes` of it at a time."""
    dtype = np.dtype(source.dtype)
    header = {"descr": np.lib.format.dtype_to_descr(dtype), "fortran_order": False, "shape": tuple(source.shape)}
    with open(path, "wb") as handle:
        np.lib.format.write_array_header_1_0(handle, header)
        for block in snippet_blocks(source.shape, dtype.itemsize, block_bytes):
            handle.write(np.ascontiguousarray(source[block], dtype=dtype).tobytes())


def video_sidecar(video_id: str, attrs: Mapping[str, Any], arrays: Mapping[str, Any]) -> dict[str, Any]:
    """The JSON sidecar of one video: its attributes and, per npy file, the array's shape, dtype and axes."""
    files = {npy_name(name): {"array": name, "shape": list(array.shape), "dtype": str(np.dtype(array.dtype)),
                              "axes": list(axis_names(name, len(array.shape)))}
             for name, array in arrays.items()}
    described = {key: value for key, value in attrs.items() if key not in ("label", "class_name", "complete")}
    return {"video_id": video_id, "label": int(attrs["label"]), "class_name": attrs.get("class_name"),
            "files": files, "attrs": described}

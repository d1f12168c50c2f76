"""Reading the flow benchmark's output: its result rows and the flow fields it saved for one frame pair.

The benchmark JSON may name flow fields under "fields": {method name: path or array}, exactly two
to compare; paths are .npy arrays (H, W, 2) or Middlebury .flo files, relative to the JSON's folder.
"""
from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from twostream.fusion.errors import ReportError

FLO_TAG = 202021.25


def read_flo(path: Path | str) -> np.ndarray:
    """Return the flow field (H, W, 2) of a Middlebury .flo file."""
    with open(path, "rb") as stream:
        tag = np.fromfile(stream, np.float32, count=1)
        if tag.size != 1 or tag[0] != FLO_TAG:
            raise ReportError(f"{path}: not a .flo file (bad tag)")
        size = np.fromfile(stream, np.int32, count=2)
        if size.size != 2 or (size <= 0).any():
            raise ReportError(f"{path}: truncated .flo file (no valid width and height)")
        width, height = (int(v) for v in size)
        data = np.fromfile(stream, np.float32, count=2 * width * height)
    if data.size != 2 * width * height:
        raise ReportError(f"{path}: truncated .flo file ({data.size} of {2 * width * height} values)")
    return data.reshape(height, width, 2)


def load_flow_bench(source: Mapping[str, Any] | Path | str) -> tuple[dict[str, Any], Path | None]:
    """Return the benchmark's JSON as a dict and the folder its paths are relative to (None for a dict given)."""
    if isinstance(source, Mapping):
        return dict(source), None
    path = Path(source)
    if not path.exists():
        raise ReportError(f"flow benchmark results {path} not found; run the flow benchmark or leave it out")
    try:
        return json.loads(path.read_text()), path.parent
    except json.JSONDecodeError as error:
        raise ReportError(f"{path}: not JSON ({error})") from None


def flow_fields(bench: Mapping[str, Any], base: Path | None = None) -> dict[str, np.ndarray] | None:
    """Return the two named flow fields the benchmark saved, or None when it saved none."""
    fields = bench.get("fields")
    if not fields:
        return None
    if not isinstance(fields, Mapping) or len(fields) != 2:
        raise ReportError("the flow benchmark's 'fields' must name exactly two flow fields (method -> path or array)")
    return {str(name): _field(value, base) for name, value in fields.items()}


def _field(value: Any, base: Path | None) -> np.ndarray:
    if not isinstance(value, (str, Path)):
        array = np.asarray(value, dtype=np.float32)
    else:
        path = Path(value) if base is None or Path(value).is_absolute() else base / value
        if not path.exists():
            raise ReportError(f"flow field {path} named by the flow benchmark does not exist")
        array = read_flo(path) if path.suffix == ".flo" else np.load(path, allow_pickle=False)
    if array.ndim != 3 or array.shape[2] != 2:
        raise ReportError(f"a flow field is (H, W, 2), got shape {array.shape}")
    return array

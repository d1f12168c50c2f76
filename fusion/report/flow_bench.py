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
from twostream.pipeline.flow import FlowError, read_flo


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
        try:
            array = read_flo(path) if path.suffix == ".flo" else np.load(path, allow_pickle=False)
        except FlowError as error:
            raise ReportError(f"flow field named by the flow benchmark: {error}") from None
    if array.ndim != 3 or array.shape[2] != 2:
        raise ReportError(f"a flow field is (H, W, 2), got shape {array.shape}")
    return array

"""Middlebury .flo files: float32 magic 202021.25, int32 width and height, then (u, v) float32 row-major."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from twostream.data.io import write_bytes_atomic
from twostream.pipeline.flow.errors import FlowError

FLO_MAGIC = np.float32(202021.25)
_HEADER_BYTES = 12
_MAX_SIDE = 1 << 16  # guards against reading a garbage header as a huge allocation


def read_flo(path: str | os.PathLike[str]) -> np.ndarray:
    """Read a Middlebury .flo file as (H, W, 2) float32 (x then y); FlowError if it is not a valid one."""
    path = Path(path)
    data = path.read_bytes()
    if len(data) < _HEADER_BYTES:
        raise FlowError(f"{path}: not a .flo file: {len(data)} bytes, shorter than the 12-byte header")
    magic = np.frombuffer(data, np.float32, 1, 0)[0]
    if magic != FLO_MAGIC:
        raise FlowError(f"{path}: not a .flo file: magic number {magic!r} instead of 202021.25")
    width, height = (int(v) for v in np.frombuffer(data, "<i4", 2, 4))
    if not (0 < width <= _MAX_SIDE and 0 < height <= _MAX_SIDE):
        raise FlowError(f"{path}: bad .flo header: size {width}x{height}")
    expected = _HEADER_BYTES + width * height * 2 * 4
    if len(data) != expected:
        raise FlowError(
            f"{path}: .flo file of {width}x{height} should be {expected} bytes, found {len(data)} (truncated or padded)"
        )
    return np.frombuffer(data, "<f4", width * height * 2, _HEADER_BYTES).reshape(height, width, 2).astype(np.float32)


def write_flo(path: str | os.PathLike[str], flow: np.ndarray) -> None:
    """Write (H, W, 2) flow as a Middlebury .flo file."""
    flow = np.asarray(flow)
    if flow.ndim != 3 or flow.shape[2] != 2 or min(flow.shape[:2]) < 1:
        raise FlowError(f"flow to write as .flo must have shape (H, W, 2), got {flow.shape}")
    height, width = flow.shape[:2]
    write_bytes_atomic(path, np.array([FLO_MAGIC], "<f4").tobytes() + np.array([width, height], "<i4").tobytes()
                       + np.ascontiguousarray(flow, "<f4").tobytes())

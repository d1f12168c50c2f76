"""Rescale a video's per-snippet feature sequence to a fixed number of temporal positions.

The method is the one of mmaction2's ActivityNet feature post-processing (the tool that makes the
"csv_mean_100" files BSN and BMN train on): the L snippets sit at times 0 .. L-1; the span from
1e-4 to L-1-1e-4 is cut into T equal bins; each bin's value is the mean of the sequence, linearly
interpolated, at 3 points spaced a third of a bin apart from the bin's start. A one-snippet video is
repeated T times.
"""
from __future__ import annotations

import numpy as np

from twostream.data.errors import TwostreamError

SAMPLES_PER_POSITION = 3
EDGE = 1e-4  # keeps the sample points strictly inside the sequence


class RescaleError(TwostreamError):
    """A feature sequence cannot be rescaled: it is empty, or the number of positions is not positive."""


def rescale_positions(features: np.ndarray, positions: int, samples: int = SAMPLES_PER_POSITION) -> np.ndarray:
    """Rescale (L, C) snippet features to (positions, C) float32: per bin, the mean of `samples` linearly
    interpolated points (see the module's docstring)."""
    sequence = np.asarray(features, dtype=np.float64)
    if sequence.ndim != 2 or len(sequence) == 0:
        raise RescaleError(f"expected a non-empty (snippets, features) array, got shape {sequence.shape}")
    if positions < 1:
        raise RescaleError(f"the number of positions must be positive, got {positions}")
    if len(sequence) == 1:
        return np.repeat(sequence, positions, axis=0).astype(np.float32)
    start, end = EDGE, len(sequence) - 1 - EDGE
    width = (end - start) / positions
    offsets = np.arange(positions)[:, None] + np.arange(samples)[None, :] / samples
    times = (start + offsets * width).reshape(-1)
    below = np.minimum(np.floor(times).astype(np.int64), len(sequence) - 2)
    weight = (times - below)[:, None]
    points = sequence[below] * (1.0 - weight) + sequence[below + 1] * weight
    return points.reshape(positions, samples, -1).mean(axis=1).astype(np.float32)

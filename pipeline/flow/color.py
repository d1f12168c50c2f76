"""Middlebury colour coding of flow fields (hue = direction, saturation = magnitude) for PNGs."""
from __future__ import annotations

import functools

import numpy as np

from twostream.pipeline.flow.errors import FlowError

# Hue segments of the Middlebury wheel: red-yellow, yellow-green, green-cyan, cyan-blue, blue-magenta, magenta-red.
_SEGMENTS = (15, 6, 4, 11, 13, 6)


@functools.lru_cache(maxsize=1)
def color_wheel() -> np.ndarray:
    """The Middlebury colour wheel: (55, 3) float RGB in 0..255, in angle order."""
    ramps = []
    # each segment ramps one channel up or down while another stays at full intensity
    plan = ((0, 1, True), (1, 0, False), (1, 2, True), (2, 1, False), (2, 0, True), (0, 2, False))
    for length, (full, moving, rising) in zip(_SEGMENTS, plan):
        segment = np.zeros((length, 3))
        ramp = np.arange(length) / length
        segment[:, full] = 255
        segment[:, moving] = 255 * (ramp if rising else 1 - ramp)
        ramps.append(segment)
    return np.concatenate(ramps)


def flow_to_color(flow: np.ndarray, max_magnitude: float | None = None) -> np.ndarray:
    """Colour-code (H, W, 2) flow as (H, W, 3) uint8 RGB; magnitudes are scaled by `max_magnitude` (default: the largest)."""
    flow = np.asarray(flow, np.float64)
    if flow.ndim != 3 or flow.shape[2] != 2:
        raise FlowError(f"flow to colour must have shape (H, W, 2), got {flow.shape}")
    u, v = flow[..., 0], flow[..., 1]
    invalid = ~np.isfinite(u) | ~np.isfinite(v)
    u, v = np.where(invalid, 0, u), np.where(invalid, 0, v)
    radius = np.hypot(u, v)
    scale = max_magnitude if max_magnitude is not None else float(radius.max(initial=0.0))
    if scale > 0:
        u, v, radius = u / scale, v / scale, radius / scale
    wheel = color_wheel()
    count = len(wheel)
    position = (np.arctan2(-v, -u) / np.pi + 1) / 2 * (count - 1)
    lower = np.floor(position).astype(int)
    upper = (lower + 1) % count
    weight = (position - lower)[..., None]
    color = (1 - weight) * wheel[lower] / 255 + weight * wheel[upper] / 255
    inside = (radius <= 1)[..., None]
    saturated = 1 - radius[..., None] * (1 - color)
    color = np.where(inside, saturated, color * 0.75)
    color[invalid] = 0
    return np.clip(np.floor(255 * color), 0, 255).astype(np.uint8)

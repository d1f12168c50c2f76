"""Colour coding of optical flow with the Middlebury colour wheel (Baker et al.): hue is direction, saturation speed.

The one colour coder: `twostream flow --png` and the report's figures both draw flow with it.
"""
from __future__ import annotations

import numpy as np

from twostream.pipeline.flow.errors import FlowError

# The wheel's six hue ramps, as in the Middlebury code: (steps, channel held at full, channel that
# ramps, whether it rises): red -> yellow -> green -> cyan -> blue -> magenta -> red.
_RAMPS: tuple[tuple[int, int, int, bool], ...] = (
    (15, 0, 1, True),
    (6, 1, 0, False),
    (4, 1, 2, True),
    (11, 2, 1, False),
    (13, 2, 0, True),
    (6, 0, 2, False),
)


def color_wheel() -> np.ndarray:
    """Return the Middlebury colour wheel as (55, 3) RGB values in [0, 1]."""
    parts = []
    for steps, held, ramping, rising in _RAMPS:
        part = np.zeros((steps, 3))
        part[:, held] = 255
        ramp = np.floor(255 * np.arange(steps) / steps)
        part[:, ramping] = ramp if rising else 255 - ramp
        parts.append(part)
    return np.concatenate(parts) / 255


def flow_to_color(flow: np.ndarray, max_magnitude: float | None = None) -> np.ndarray:
    """Return an (H, W, 3) uint8 image of a flow field (H, W, 2) in pixels, x then y.

    Speeds are scaled by `max_magnitude` (default: the field's largest finite speed); faster motion
    saturates and is dimmed. Non-finite vectors are drawn black.
    """
    flow = np.asarray(flow, dtype=np.float64)
    if flow.ndim != 3 or flow.shape[2] != 2:
        raise FlowError(f"a flow field is (H, W, 2), got shape {flow.shape}")
    valid = np.isfinite(flow).all(axis=2)
    u = np.where(valid, flow[..., 0], 0.0)
    v = np.where(valid, flow[..., 1], 0.0)
    radius = np.hypot(u, v)
    scale = float(max_magnitude) if max_magnitude is not None else float(radius.max(initial=0.0))
    if scale <= 0:
        scale = 1.0
    u, v, radius = u / scale, v / scale, radius / scale
    wheel = color_wheel()
    count = wheel.shape[0]
    position = (np.arctan2(-v, -u) / np.pi + 1) / 2 * (count - 1)
    lower = np.floor(position).astype(np.int64)
    upper = (lower + 1) % count
    fraction = (position - lower)[..., None]
    colour = (1 - fraction) * wheel[lower] + fraction * wheel[upper]
    inside = (radius <= 1)[..., None]
    colour = np.where(inside, 1 - radius[..., None] * (1 - colour), colour * 0.75)
    colour[~valid] = 0.0
    return np.round(255 * colour).astype(np.uint8)


def color_wheel_key(size: int = 101) -> np.ndarray:
    """Return a (size, size, 3) uint8 key: the colour of each direction at speeds up to the scale."""
    axis = np.linspace(-1.0, 1.0, size)
    x, y = np.meshgrid(axis, axis)
    image = flow_to_color(np.stack([x, y], axis=2), max_magnitude=1.0)
    image[np.hypot(x, y) > 1] = 255
    return image

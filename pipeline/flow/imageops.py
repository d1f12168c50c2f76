"""Batched image operations that reproduce OpenCV's: linear resize, bicubic remap, 5x5 median, gradients.

All take and return float32 tensors shaped (B, C, H, W) on any device.
"""
from __future__ import annotations

import functools

import numpy as np
import torch
import torch.nn.functional as F

from twostream.data.runtime import opencv


def _linear_weights(size_in: int, size_out: int, inverse_scale: float) -> np.ndarray:
    """(size_out, size_in) interpolation matrix of OpenCV's INTER_LINEAR along one axis."""
    matrix = np.zeros((size_out, size_in), np.float64)
    src = (np.arange(size_out) + 0.5) * inverse_scale - 0.5
    left = np.floor(src).astype(np.int64)
    frac = src - left
    frac[left < 0] = 0.0
    left = np.clip(left, 0, size_in - 1)
    right = np.minimum(left + 1, size_in - 1)
    rows = np.arange(size_out)
    np.add.at(matrix, (rows, left), 1.0 - frac)
    np.add.at(matrix, (rows, right), frac)
    return matrix


@functools.lru_cache(maxsize=64)
def _cached_weights(size_in: int, size_out: int, inverse_scale: float) -> np.ndarray:
    return _linear_weights(size_in, size_out, inverse_scale).astype(np.float32)


def scaled_size(height: int, width: int, factor: float) -> tuple[int, int]:
    """The size cv2.resize gives for `fx = fy = factor` (rounded to nearest)."""
    return int(round(height * factor)), int(round(width * factor))


def resize_linear(images: torch.Tensor, size: tuple[int, int], factor: float | None = None) -> torch.Tensor:
    """Bilinear resize as cv2.resize(INTER_LINEAR) on float images.

    With `factor`, sample positions use 1/factor as OpenCV does when called with fx, fy;
    without it, the ratio of the sizes.
    """
    height, width = images.shape[-2:]
    out_h, out_w = size
    inv_y = 1.0 / factor if factor else height / out_h
    inv_x = 1.0 / factor if factor else width / out_w
    rows = torch.from_numpy(_cached_weights(height, out_h, inv_y)).to(images.device)
    cols = torch.from_numpy(_cached_weights(width, out_w, inv_x)).to(images.device)
    return rows @ images @ cols.T


def centered_gradient(images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Central differences (x, y), one-sided at the borders, as OpenCV's TV-L1 computes them."""
    padded = F.pad(images, (1, 1, 1, 1), mode="replicate")
    dx = (padded[..., 1:-1, 2:] - padded[..., 1:-1, :-2]) * 0.5
    dy = (padded[..., 2:, 1:-1] - padded[..., :-2, 1:-1]) * 0.5
    return dx, dy


def remap_bicubic(images: torch.Tensor, flow: torch.Tensor) -> torch.Tensor:
    """Sample `images` at (x + flow_x, y + flow_y) as cv2.remap(INTER_CUBIC, BORDER_CONSTANT 0).

    images (B, C, H, W), flow (B, 2, H, W) in pixels; taps outside the image read zero. OpenCV 5
    interpolates float maps at full precision (earlier versions rounded positions to 1/32 pixel).
    """
    _, _, height, width = images.shape
    xs = torch.arange(width, device=flow.device, dtype=flow.dtype)
    ys = torch.arange(height, device=flow.device, dtype=flow.dtype)
    # Clamping far-away positions keeps them outside (zero) and the arithmetic finite.
    map_x = (flow[:, 0] + xs).clamp_(-8.0 - width, 2.0 * width + 8.0)
    map_y = (flow[:, 1] + ys[:, None]).clamp_(-8.0 - height, 2.0 * height + 8.0)
    grid = torch.stack(
        (map_x * (2.0 / max(width - 1, 1)) - 1.0, map_y * (2.0 / max(height - 1, 1)) - 1.0), dim=-1
    )
    return F.grid_sample(images, grid, mode="bicubic", padding_mode="zeros", align_corners=True)


def _batcher_network(count: int) -> list[tuple[int, int]]:
    """Batcher's odd-even merge sort for `count` wires (comparators on padding wires dropped)."""
    size = 1
    while size < count:
        size *= 2
    pairs: list[tuple[int, int]] = []
    p = 1
    while p < size:
        k = p
        while k >= 1:
            for j in range(k % p, size - k, 2 * k):
                for i in range(min(k, size - j - k)):
                    if (i + j) // (2 * p) == (i + j + k) // (2 * p) and i + j + k < count:
                        pairs.append((i + j, i + j + k))
            k //= 2
        p *= 2
    return pairs


@functools.lru_cache(maxsize=4)
def _median_network(count: int) -> tuple[tuple[int, int, bool, bool], ...]:
    """The comparators of a sorting network that the middle output depends on, with which side is used."""
    needed = {count // 2}
    kept = []
    for low, high in reversed(_batcher_network(count)):
        need_low, need_high = low in needed, high in needed
        if need_low or need_high:
            kept.append((low, high, need_low, need_high))
            needed |= {low, high}
    return tuple(reversed(kept))


def median_filter_torch(images: torch.Tensor, size: int) -> torch.Tensor:
    """size x size median with replicated borders, as cv2.medianBlur, by a min/max network (any device)."""
    height, width = images.shape[-2:]
    radius = size // 2
    padded = F.pad(images, (radius,) * 4, mode="replicate")
    wires = [padded[..., i:i + height, j:j + width] for i in range(size) for j in range(size)]
    for low, high, need_low, need_high in _median_network(size * size):
        a, b = wires[low], wires[high]
        if need_low:
            wires[low] = torch.minimum(a, b)
        if need_high:
            wires[high] = torch.maximum(a, b)
    return wires[(size * size) // 2].contiguous()


def median_filter(images: torch.Tensor, size: int) -> torch.Tensor:
    """size x size median with replicated borders (cv2.medianBlur); OpenCV's own kernel on CPU tensors where
    OpenCV is installed (the same values, faster)."""
    cv2 = opencv() if images.device.type == "cpu" else None
    if cv2 is None:
        return median_filter_torch(images, size)
    planes = images.detach().reshape(-1, *images.shape[-2:]).numpy()
    out = np.empty_like(planes)
    for index, plane in enumerate(planes):
        out[index] = cv2.medianBlur(plane, size)
    return torch.from_numpy(out).reshape(images.shape)

"""Test-only frame loading and synthetic pairs for the flow tests (no dependency on the pipeline's decoder)."""
from __future__ import annotations

import subprocess
from pathlib import Path

import cv2
import numpy as np

from twostream.data.runtime import ffmpeg_executable
from twostream.pipeline.flow import mean_endpoint_error


def decode_gray(path: Path, count: int, width: int, height: int) -> np.ndarray:
    """The first `count` frames of a video as (count, height, width) uint8 grayscale, via the ffmpeg binary."""
    command = [
        ffmpeg_executable(), "-v", "error", "-i", str(path), "-frames:v", str(count),
        "-vf", f"scale={width}:{height}", "-pix_fmt", "gray", "-f", "rawvideo", "-",
    ]
    raw = subprocess.run(command, check=True, capture_output=True).stdout
    return np.frombuffer(raw, np.uint8).reshape(-1, height, width)[:count].copy()


def textured_image(height: int, width: int, seed: int) -> np.ndarray:
    """A smooth random texture (float32, 0..255) with detail at several scales."""
    rng = np.random.default_rng(seed)
    image = np.zeros((height, width), np.float32)
    for cells in (4, 8, 16, 32):
        noise = rng.random((cells, cells)).astype(np.float32)
        image += cv2.resize(noise, (width, height), interpolation=cv2.INTER_CUBIC) / cells ** 0.5
    image -= image.min()
    return image * (255.0 / image.max())


def synthetic_pair(height: int, width: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(first, second, flow): `second` is `first` moved by a known smooth field `flow` (x, y in pixels)."""
    rng = np.random.default_rng(seed + 1000)
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    phase = rng.random(4) * 2 * np.pi
    u = 2.5 + 1.5 * np.sin(2 * np.pi * ys / height + phase[0]) * np.cos(2 * np.pi * xs / width + phase[1])
    v = -1.5 + 1.5 * np.cos(2 * np.pi * xs / width + phase[2]) * np.sin(np.pi * ys / height + phase[3])
    u, v = u.astype(np.float32), v.astype(np.float32)
    flow = np.stack([u, v], axis=-1)
    # a larger texture so that every sample position of both frames lies inside it
    margin = 16
    texture = textured_image(height + 2 * margin, width + 2 * margin, seed)
    first = texture[margin:-margin, margin:-margin]
    # frame 2 at x + flow(x) shows what frame 1 shows at x; invert the smooth field by fixed-point iteration
    back_u, back_v = u.copy(), v.copy()
    for _ in range(20):
        back_u = cv2.remap(u, xs - back_u, ys - back_v, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        back_v = cv2.remap(v, xs - back_u, ys - back_v, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    second = cv2.remap(texture, xs - back_u + margin, ys - back_v + margin, cv2.INTER_CUBIC)
    to_uint8 = lambda image: np.clip(np.rint(image), 0, 255).astype(np.uint8)  # noqa: E731
    return to_uint8(first), to_uint8(second), flow


endpoint_error = mean_endpoint_error  # the mean Euclidean distance between two (..., 2) flow fields

"""TSN sampling: which snippets of a video are used, and which crops of each frame.

A snippet is one RGB frame and the stack of `stack` flow fields around it. With F = N - 1 flow
fields for N frames, snippet k starts its flow stack at field t_k and takes RGB frame
t_k + stack // 2 (the stack's middle frame), so both streams look at the same moment.
Test time: S snippets evenly spaced (TSN: 25). Training: K segments, one random snippet each.
Dense (temporal localisation): one snippet every N frames, at the middle of each N-frame window.
Clips (networks such as I3D that read L frames at once): clip k is frames s_k .. s_k + L - 1 with s_k = k * N,
each frame t with flow field t (from frame t to t + 1), as THUMOS14's I3D features (L = 16, N = 4) cut them.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from twostream.data.errors import TwostreamError

STREAMS: tuple[str, str] = ("rgb", "flow")  # the spatial and the temporal stream
FLOW_STACK = 5  # flow fields per snippet (TSN): 10 input channels, x and y interleaved
CROP_MODES = (1, 3, 10)
EVAL_CROP_SHARE = 224 / 256  # TSN's single centre crop: 224 pixels of a 256-pixel short side
TSN_SCALES = (1.0, 0.875, 0.75, 0.66)
TSN, DENSE = "tsn", "dense"  # snippet samplings: evenly spaced per video, or one every N frames
SAMPLINGS = (TSN, DENSE)


class SamplingError(TwostreamError):
    """A video is too short for the requested sampling, or a crop does not fit the frames."""


def stack_starts(num_frames: int, stack: int = FLOW_STACK) -> int:
    """Number of valid flow-stack start positions in a video of `num_frames` frames."""
    starts = (num_frames - 1) - stack + 1
    if starts < 1:
        raise SamplingError(f"a video of {num_frames} frames is shorter than a flow stack of {stack} fields "
                            f"(needs at least {stack + 1} frames)")
    return starts


def evaluation_snippets(num_frames: int, snippets: int, stack: int = FLOW_STACK) -> np.ndarray:
    """Flow-stack starts of S evenly spaced snippets (TSN's test protocol); repeats when the video is short."""
    starts = stack_starts(num_frames, stack)
    tick = starts / snippets
    return np.minimum((tick / 2.0 + tick * np.arange(snippets)).astype(np.int64), starts - 1)


def dense_snippets(num_frames: int, stride: int, stack: int = FLOW_STACK) -> np.ndarray:
    """Flow-stack starts of one snippet every `stride` frames: snippet k is centred on frame k * stride + stride // 2.

    Windows are counted as in mmaction2's untrimmed sampling (centres below `num_frames`). A stack that
    would leave the video is moved inside it, so its RGB frame (the stack's middle) is then up to
    `stack // 2` frames from the window's centre.
    """
    if stride < 1:
        raise SamplingError(f"the dense stride must be a positive number of frames, got {stride}")
    starts = stack_starts(num_frames, stack)
    centres = np.arange(stride // 2, num_frames, stride, dtype=np.int64)
    return np.clip(centres - stack // 2, 0, starts - 1)


def clip_starts(num_frames: int, clip: int, stride: int) -> np.ndarray:
    """First frames of the clips of `clip` frames, one every `stride` frames, that fit the video's flow fields
    (N - 1 for N frames); a video shorter than one clip gives a single clip at frame 0."""
    if stride < 1:
        raise SamplingError(f"the dense stride must be a positive number of frames, got {stride}")
    fields = stack_starts(num_frames, 1)
    return np.arange(0, max(fields - clip, 0) + 1, stride, dtype=np.int64)


def clip_frames(start: int, clip: int, num_frames: int) -> np.ndarray:
    """The frame (and flow field) indices of the clip starting at `start`: the last field repeated where the
    video is shorter than the clip."""
    return np.minimum(start + np.arange(clip, dtype=np.int64), stack_starts(num_frames, 1) - 1)


def training_snippets(num_frames: int, segments: int, rng: np.random.Generator, stack: int = FLOW_STACK) -> np.ndarray:
    """Flow-stack starts of one random snippet in each of K equal segments (TSN's training sampling)."""
    starts = stack_starts(num_frames, stack)
    edges = np.linspace(0, starts, segments + 1)
    low = np.floor(edges[:-1]).astype(np.int64)
    high = np.maximum(np.floor(edges[1:]).astype(np.int64), low + 1)
    return np.minimum(rng.integers(low, high), starts - 1)


def rgb_index(start: np.ndarray | int, stack: int = FLOW_STACK) -> np.ndarray | int:
    """The RGB frame of a snippet whose flow stack starts at `start`: the stack's middle frame."""
    return start + stack // 2


@dataclass(frozen=True)
class Crop:
    """A square crop at (top, left) of side `size`, optionally mirrored horizontally."""

    top: int
    left: int
    size: int
    flip: bool = False


def evaluation_crops(height: int, width: int, size: int, mode: int = 10) -> list[Crop]:
    """TSN's test crops: 1 = centre; 3 = start, centre, end along the longer side; 10 = 4 corners + centre, and flips."""
    if mode not in CROP_MODES:
        raise SamplingError(f"crops must be one of {CROP_MODES}, got {mode}")
    if size > min(height, width):
        raise SamplingError(f"a {size}px crop does not fit {width}x{height} frames; use a smaller --crop-size "
                            "or a larger --frame-size")
    centre = Crop((height - size) // 2, (width - size) // 2, size)
    if mode == 1:
        return [centre]
    if mode == 3:
        if width >= height:
            return [Crop(centre.top, 0, size), centre, Crop(centre.top, width - size, size)]
        return [Crop(0, centre.left, size), centre, Crop(height - size, centre.left, size)]
    corners = [Crop(0, 0, size), Crop(0, width - size, size), Crop(height - size, 0, size),
               Crop(height - size, width - size, size), centre]
    return corners + [Crop(c.top, c.left, c.size, True) for c in corners]


def train_crop(height: int, width: int, rng: np.random.Generator, *, scales: tuple[float, ...] = TSN_SCALES,
               max_distort: int = 1, fixed_corners: bool = True) -> tuple[int, int, int, int, bool]:
    """TSN's multi-scale corner cropping with a random flip: returns (top, left, crop_h, crop_w, flip).

    The crop's sides are scales of the short side, at most `max_distort` scale steps apart; its
    position is one of the 4 corners, the centre, or the quarter points of the edges (TSN's 13 spots).
    """
    base = min(height, width)
    sizes = [int(base * s) for s in scales]
    pairs = [(h, w) for i, h in enumerate(sizes) for j, w in enumerate(sizes) if abs(i - j) <= max_distort]
    crop_h, crop_w = pairs[int(rng.integers(len(pairs)))]
    if fixed_corners:
        h_step, w_step = (height - crop_h) // 4, (width - crop_w) // 4
        spots = [(0, 0), (0, 4), (4, 0), (4, 4), (2, 2), (0, 2), (4, 2), (2, 0), (2, 4), (1, 1), (1, 3), (3, 1), (3, 3)]
        row, col = spots[int(rng.integers(len(spots)))]
        top, left = row * h_step, col * w_step
    else:
        top, left = int(rng.integers(height - crop_h + 1)), int(rng.integers(width - crop_w + 1))
    return top, left, crop_h, crop_w, bool(rng.integers(2))


def cut(image: np.ndarray, crop: Crop) -> np.ndarray:
    """Cut a crop out of an (H, W, C) image, mirrored when the crop says so (a view, no flip of values)."""
    piece = image[crop.top : crop.top + crop.size, crop.left : crop.left + crop.size]
    return piece[:, ::-1] if crop.flip else piece


def flip_flow(quantised: np.ndarray) -> np.ndarray:
    """Mirror a quantised flow field (..., W, 2) horizontally: x is reversed in position and sign (255 - x)."""
    mirrored = quantised[..., ::-1, :].copy()
    mirrored[..., 0] = 255 - mirrored[..., 0]
    return mirrored


def cut_flow(stack: np.ndarray, crop: Crop) -> np.ndarray:
    """Cut a crop out of a quantised flow stack (L, H, W, 2); a mirrored crop also inverts x (255 - x)."""
    piece = stack[:, crop.top : crop.top + crop.size, crop.left : crop.left + crop.size]
    return flip_flow(piece) if crop.flip else piece


def flow_channels(stack: np.ndarray) -> np.ndarray:
    """Arrange a flow stack (L, H, W, 2) as TSN's (2L, H, W) input: x and y interleaved per field."""
    length, height, width, _ = stack.shape
    return np.ascontiguousarray(stack.transpose(0, 3, 1, 2).reshape(2 * length, height, width))

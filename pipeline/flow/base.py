"""The interface every optical flow algorithm implements, with shared input checks."""
from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

import numpy as np

from twostream.pipeline.flow.errors import FlowError

MIN_SIDE = 3  # the gradients and the median filter need at least three pixels a side
PAIRS_PER_CALL = 8  # frame pairs handed to one compute call by algorithms that solve pairs one at a time


def check_pair_count(pairs: int | None, name: str) -> None:
    """Raise FlowError naming `name` unless `pairs` (a batch of frame pairs) is None or a whole number >= 1."""
    if pairs is not None and (int(pairs) != pairs or pairs < 1):
        raise FlowError(f"{name} must be a whole number of frame pairs >= 1, got {pairs}")


def check_frames(frames: np.ndarray) -> np.ndarray:
    """Return `frames` as a C-contiguous (N, H, W) uint8 array, or raise FlowError saying what is wrong."""
    if not isinstance(frames, np.ndarray):
        raise FlowError(f"frames must be a numpy array, got {type(frames).__name__}")
    if frames.ndim != 3:
        raise FlowError(
            f"frames must have shape (N, H, W) (grayscale), got shape {frames.shape}; convert colour frames to gray first"
        )
    if frames.dtype != np.uint8:
        raise FlowError(f"frames must be uint8 grayscale, got dtype {frames.dtype}")
    count, height, width = frames.shape
    if count < 2:
        raise FlowError(f"optical flow needs at least 2 frames, got {count}")
    if height < MIN_SIDE or width < MIN_SIDE:
        raise FlowError(f"frames of {width}x{height} are too small for optical flow (at least {MIN_SIDE}x{MIN_SIDE})")
    return np.ascontiguousarray(frames)


def check_pair(first: np.ndarray, second: np.ndarray) -> np.ndarray:
    """Return the two (H, W) uint8 images stacked as (2, H, W), or raise FlowError."""
    for label, image in (("first", first), ("second", second)):
        if not isinstance(image, np.ndarray) or image.ndim != 2:
            shape = getattr(image, "shape", None)
            raise FlowError(f"the {label} image must be a (H, W) grayscale numpy array, got shape {shape}")
    if first.shape != second.shape:
        raise FlowError(f"the two images differ in size: {first.shape} and {second.shape}")
    return check_frames(np.stack([first, second]))


class FlowAlgorithm(ABC):
    """A dense optical flow method: frames (N, H, W) uint8 in, fields (N-1, H, W, 2) float32 out.

    `flow[t]` maps frame t to frame t+1: frame t at (x, y) matches frame t+1 at
    (x + flow[t, y, x, 0], y + flow[t, y, x, 1]), in pixels.
    """

    name: str = ""

    @property
    @abstractmethod
    def params(self) -> dict[str, Any]:
        """Every parameter that affects the result, JSON-serialisable (recorded in store attributes)."""

    @abstractmethod
    def _compute_checked(self, frames: np.ndarray) -> np.ndarray:
        """Flow of validated (N, H, W) uint8 frames as (N-1, H, W, 2) float32."""

    def batched(self, pairs: int) -> FlowAlgorithm:
        """This algorithm solving `pairs` frame pairs at once where it batches; the result never changes."""
        return self

    def pairs_per_call(self, height: int, width: int) -> int:
        """How many frame pairs of height x width to hand to one compute call: bounds memory, not results."""
        return PAIRS_PER_CALL

    def compute(self, frames: np.ndarray) -> np.ndarray:
        """Return the flow between consecutive frames: (N, H, W) uint8 -> (N-1, H, W, 2) float32."""
        return self._compute_checked(check_frames(frames))

    def compute_pair(self, first: np.ndarray, second: np.ndarray) -> np.ndarray:
        """Return the flow from `first` to `second` (both (H, W) uint8) as (H, W, 2) float32."""
        return self._compute_checked(check_pair(first, second))[0]

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, params={self.params!r})"

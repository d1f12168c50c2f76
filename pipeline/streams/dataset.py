"""Torch datasets over frames.zarr for training one stream the way TSN does.

An item is one video: K snippets of one modality, cropped and resized to the network's input, as
a uint8 tensor (K, C, S, S) with C = 3 (an RGB frame) or 10 (a stack of 5 flow fields, x and y
interleaved), and its label. Values stay 0-255; the backbone's Normalization turns them into
network input in the training step, on the training device.

Training items take one random snippet per segment and a multi-scale corner crop with a random
flip (flow x inverted); evaluation items take evenly spaced snippets and a centre crop. The
randomness of an item depends only on (seed, epoch, index), so results do not depend on the number
of DataLoader workers, and a resumed run sees the same samples as an uninterrupted one.
"""
from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch
from torch.utils.data import Dataset, Sampler

from twostream.data.errors import TwostreamError
from twostream.data.sampling import (
    EVAL_CROP_SHARE,
    FLOW_STACK,
    TSN_SCALES,
    Crop,
    cut,
    cut_flow,
    evaluation_crops,
    evaluation_snippets,
    flip_flow,
    flow_channels,
    rgb_index,
    train_crop,
    training_snippets,
)
from twostream.pipeline.stores.frame_store import FrameStore

MODALITY_CODES = {"rgb": 0, "flow": 1}
# TSN tests on a 224 crop of 256 frames: the evaluation crop keeps that share of the short side.


@dataclass(frozen=True)
class ClipSampling:
    """How items are drawn: modality, segments (snippets per item), input side, training or evaluation."""

    modality: str
    segments: int = 3
    input_size: int = 224
    train: bool = True
    scales: tuple[float, ...] = TSN_SCALES
    seed: int = 0

    def __post_init__(self) -> None:
        """Refuse settings no item can be drawn with."""
        if self.modality not in MODALITY_CODES:
            raise TwostreamError(f"unknown modality {self.modality!r}: use rgb or flow")
        if self.segments < 1:
            raise TwostreamError(f"segments must be at least 1, got {self.segments}")
        if self.input_size < 8:
            raise TwostreamError(f"input size {self.input_size} is too small; use at least 8 pixels")

    @property
    def channels(self) -> int:
        """Input channels of one snippet: 3 for RGB, 2 per flow field for flow."""
        return 3 if self.modality == "rgb" else 2 * FLOW_STACK


class StreamClips(Dataset):
    """The videos' snippets of one modality from a frames.zarr store; see the module docstring.

    The store is opened lazily in whichever process reads the first item, so the dataset can be
    handed to DataLoader worker processes.
    """

    def __init__(self, store: str | os.PathLike, videos: Sequence[tuple[str, int]], sampling: ClipSampling) -> None:
        self.store_path = Path(store)
        self.videos = [(str(video_id), int(label)) for video_id, label in videos]
        self.sampling = sampling
        self.epoch = 0
        self._store: FrameStore | None = None
        self._frames: dict[str, int] = {}

    def __len__(self) -> int:
        return len(self.videos)

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        state["_store"] = None  # zarr handles stay in the process that opened them
        return state

    def set_epoch(self, epoch: int) -> None:
        """Make training items of this epoch (workers started afterwards see it)."""
        self.epoch = int(epoch)

    @property
    def labels(self) -> list[int]:
        """The label of every item, in order."""
        return [label for _, label in self.videos]

    def _open(self) -> FrameStore:
        if self._store is None:
            self._store = FrameStore.open(self.store_path)
        return self._store

    def num_frames(self, video_id: str) -> int:
        """Number of RGB frames of a video (read once per process)."""
        if video_id not in self._frames:
            self._frames[video_id] = self._open().num_frames(video_id)
        return self._frames[video_id]

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        video_id, label = self.videos[index]
        sampling = self.sampling
        rng = np.random.default_rng([sampling.seed, MODALITY_CODES[sampling.modality], self.epoch, index])
        frames = self.num_frames(video_id)
        if sampling.train:
            starts = training_snippets(frames, sampling.segments, rng)
        else:
            starts = evaluation_snippets(frames, sampling.segments)
        if sampling.modality == "rgb":
            images = self._open().rgb(video_id, [int(i) for i in rgb_index(starts)])
            snippets = [self._view(image, rng) for image in images]
        else:
            snippets = [self._flow_view(self._open().flow(video_id, int(start), FLOW_STACK), rng) for start in starts]
        return torch.from_numpy(np.stack(snippets)), label

    def _view(self, image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """One RGB frame (H, W, 3) cropped, maybe mirrored, resized: (3, S, S)."""
        height, width = image.shape[:2]
        if self.sampling.train:
            top, left, crop_h, crop_w, flip = train_crop(height, width, rng, scales=self.sampling.scales)
            piece = image[top : top + crop_h, left : left + crop_w]
            piece = piece[:, ::-1] if flip else piece
        else:
            piece = cut(image, _centre_crop(height, width))
        return _resize(piece, self.sampling.input_size).transpose(2, 0, 1)

    def _flow_view(self, stack: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """One flow stack (L, H, W, 2) cropped, maybe mirrored (x inverted), resized: (2L, S, S)."""
        height, width = stack.shape[1:3]
        if self.sampling.train:
            top, left, crop_h, crop_w, flip = train_crop(height, width, rng, scales=self.sampling.scales)
            piece = stack[:, top : top + crop_h, left : left + crop_w]
            piece = flip_flow(piece) if flip else piece
        else:
            piece = cut_flow(stack, _centre_crop(height, width))
        channels = flow_channels(piece)  # (2L, h, w)
        return _resize(channels.transpose(1, 2, 0), self.sampling.input_size).transpose(2, 0, 1)


def _centre_crop(height: int, width: int) -> Crop:
    return evaluation_crops(height, width, int(min(height, width) * EVAL_CROP_SHARE), mode=1)[0]


def _resize(image: np.ndarray, size: int) -> np.ndarray:
    """Resize an (h, w, C) uint8 image to (size, size, C), any number of channels."""
    image = np.ascontiguousarray(image)
    if image.shape[:2] == (size, size):
        return image
    resized = cv2.resize(image, (size, size), interpolation=cv2.INTER_LINEAR)
    return resized.reshape(size, size, image.shape[2])


class EpochShuffle(Sampler[int]):
    """A random order of the items that depends only on (seed, epoch)."""

    def __init__(self, count: int, seed: int = 0) -> None:
        self.count, self.seed, self.epoch = count, seed, 0

    def set_epoch(self, epoch: int) -> None:
        """Use this epoch's order for the next iteration."""
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return self.count

    def __iter__(self) -> Iterator[int]:
        return iter(np.random.default_rng([self.seed, self.epoch]).permutation(self.count).tolist())


def init_worker(_: int) -> None:
    """Keep each DataLoader worker to one thread, so workers do not compete with the training step."""
    cv2.setNumThreads(1)
    torch.set_num_threads(1)

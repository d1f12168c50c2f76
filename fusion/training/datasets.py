"""Torch Datasets over a FeatureSource: K-segment samples (TSN) for training, every view for testing."""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch.utils.data import Dataset

from twostream.fusion.errors import FusionError
from twostream.fusion.features import FeatureSource, VideoFeatures, require_fields

Sample = dict[str, torch.Tensor]


def segment_snippets(snippets: int, segments: int, rng: np.random.Generator | None) -> np.ndarray:
    """Pick one snippet index per segment of [0, snippets): random within it (rng given) or its centre.

    With fewer snippets than segments, segments share snippets (as TSN does with short videos).
    """
    if segments < 1:
        raise FusionError(f"segments must be at least 1, got {segments}")
    bounds = np.arange(segments + 1, dtype=np.float64) * snippets / segments
    starts, widths = bounds[:-1], np.diff(bounds)
    offsets = rng.random(segments) if rng is not None else np.full(segments, 0.5)
    return np.minimum(np.floor(starts + offsets * widths).astype(np.int64), snippets - 1)


def _to_sample(video: VideoFeatures, fields: Sequence[str], index: int, take) -> Sample:
    sample = {name: torch.from_numpy(np.ascontiguousarray(take(video.get(name)), dtype=np.float32)) for name in fields}
    sample["label"] = torch.tensor(video.label, dtype=torch.long)
    sample["index"] = torch.tensor(index, dtype=torch.long)
    return sample


class _VideoDataset(Dataset[Sample]):
    """One item per video of `source`, holding the named fields."""

    def __init__(self, source: FeatureSource, fields: Sequence[str]) -> None:
        require_fields(source, fields)
        self.source = source
        self.fields = tuple(fields)

    def __len__(self) -> int:
        """Number of videos."""
        return len(self.source)


class SegmentDataset(_VideoDataset):
    """One item per video: the named fields at K snippets (one per segment) of one crop, shape (K, ...).

    Training mode draws the snippet within each segment and the crop at random, reproducibly from
    (seed, epoch, video index); evaluation mode takes each segment's centre snippet and `eval_crop`.
    """

    def __init__(
        self,
        source: FeatureSource,
        fields: Sequence[str],
        segments: int = 3,
        train: bool = True,
        seed: int = 0,
        eval_crop: int = 0,
    ) -> None:
        """Sample `fields` of `source` with `segments` segments; see the class docstring for the modes."""
        super().__init__(source, fields)
        if segments < 1:
            raise FusionError(f"segments must be at least 1, got {segments}")
        self.segments = segments
        self.train = train
        self.seed = seed
        self.eval_crop = eval_crop
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Select the epoch whose random draws the next items use."""
        self.epoch = epoch

    def __getitem__(self, index: int) -> Sample:
        """Return the fields at the K chosen (snippet, crop) views, plus 'label' and 'index'."""
        video = self.source.load(index, self.fields)
        rng = np.random.default_rng((self.seed, self.epoch, index)) if self.train else None
        snippets = segment_snippets(video.snippets, self.segments, rng)
        if rng is not None:
            crop = int(rng.integers(video.crops))
        elif self.eval_crop < video.crops:
            crop = self.eval_crop
        else:
            raise FusionError(f"eval_crop {self.eval_crop} but video {video.video_id} has {video.crops} crops")
        return _to_sample(video, self.fields, index, lambda array: array[snippets, crop])


class AllViewsDataset(_VideoDataset):
    """One item per video: the named fields at every snippet and crop (TSN test protocol), shape (S*crops, ...)."""

    def __getitem__(self, index: int) -> Sample:
        """Return the fields flattened over (snippets, crops), plus 'label' and 'index'."""
        video = self.source.load(index, self.fields)
        return _to_sample(video, self.fields, index, lambda array: array.reshape(-1, *array.shape[2:]))

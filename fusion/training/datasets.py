"""Torch Datasets over a FeatureSource: K-segment samples (TSN) for training, every view for testing."""
from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import torch
from torch.utils.data import Dataset

from twostream.fusion.errors import FusionError
from twostream.fusion.features import FeatureSource, require_fields

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


def _sample(arrays: Mapping[str, np.ndarray], label: int, index: int) -> Sample:
    sample = {name: torch.from_numpy(np.ascontiguousarray(array, dtype=np.float32)) for name, array in arrays.items()}
    sample["label"] = torch.tensor(label, dtype=torch.long)
    sample["index"] = torch.tensor(index, dtype=torch.long)
    return sample


class _VideoDataset(Dataset[Sample]):
    """One item per video of `source`, holding the named fields."""

    def __init__(self, source: FeatureSource, fields: Sequence[str]) -> None:
        require_fields(source, fields)
        self.source = source
        self.fields = tuple(fields)
        self.labels = np.asarray(source.labels)

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
        """Return the fields at the K chosen (snippet, crop) views, plus 'label' and 'index'.

        Only those K views are read from the source.
        """
        snippet_count, crop_count = self.source.view_grid(index)
        rng = np.random.default_rng((self.seed, self.epoch, index)) if self.train else None
        snippets = segment_snippets(snippet_count, self.segments, rng)
        if rng is not None:
            crop = int(rng.integers(crop_count))
        elif self.eval_crop < crop_count:
            crop = self.eval_crop
        else:
            raise FusionError(f"eval_crop {self.eval_crop} but video {self.source.video_ids[index]} has "
                              f"{crop_count} crops")
        views = self.source.read_views(index, self.fields, snippets, np.full(len(snippets), crop))
        return _sample(views, int(self.labels[index]), index)


class AllViewsDataset(_VideoDataset):
    """One item per video: the named fields at every snippet and crop (TSN test protocol), shape (S*crops, ...)."""

    def __getitem__(self, index: int) -> Sample:
        """Return the fields flattened over (snippets, crops), plus 'label' and 'index'."""
        video = self.source.load(index, self.fields)
        return _sample({name: video.get(name).reshape(-1, *video.get(name).shape[2:]) for name in self.fields},
                       video.label, index)

"""K-segment sampling for training and the all-views test protocol."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from twostream.fusion.errors import FusionError
from twostream.fusion.features import InMemoryFeatureSource
from twostream.fusion.training.datasets import AllViewsDataset, SegmentDataset, segment_snippets


def _indexed_source(snippets: int = 25, crops: int = 10) -> InMemoryFeatureSource:
    """Logits whose value encodes (snippet, crop): class 0 holds the snippet, class 1 the crop."""
    logits = np.zeros((2, snippets, crops, 2), np.float32)
    logits[..., 0] = np.arange(snippets)[None, :, None]
    logits[..., 1] = np.arange(crops)[None, None, :]
    return InMemoryFeatureSource.from_arrays(["a", "b"], [0, 1], 2, rgb_logits=logits)


def test_centre_snippets_of_three_segments_of_twenty_five():
    assert segment_snippets(25, 3, None).tolist() == [4, 12, 20]


def test_random_snippets_stay_inside_their_segments():
    rng = np.random.default_rng(0)
    drawn = np.stack([segment_snippets(25, 3, rng) for _ in range(500)])
    assert drawn[:, 0].min() == 0 and drawn[:, 0].max() == 8
    assert drawn[:, 1].min() == 8 and drawn[:, 1].max() == 16
    assert drawn[:, 2].min() == 16 and drawn[:, 2].max() == 24


def test_fewer_snippets_than_segments_share_snippets():
    assert segment_snippets(2, 3, None).tolist() == [0, 1, 1]
    with pytest.raises(FusionError):
        segment_snippets(5, 0, None)


def test_training_samples_are_random_yet_reproducible_per_epoch():
    dataset = SegmentDataset(_indexed_source(), ["rgb_logits"], segments=3, train=True, seed=7)
    first = dataset[0]["rgb_logits"]
    assert first.shape == (3, 2)
    assert len(set(first[:, 1].tolist())) == 1, "one crop for all segments of a sample"
    assert torch.equal(first, SegmentDataset(_indexed_source(), ["rgb_logits"], train=True, seed=7)[0]["rgb_logits"])
    draws = set()
    for epoch in range(10):
        dataset.set_epoch(epoch)
        draws.add(tuple(dataset[0]["rgb_logits"].flatten().tolist()))
    assert len(draws) > 1


def test_evaluation_samples_take_segment_centres_at_the_chosen_crop():
    sample = SegmentDataset(_indexed_source(), ["rgb_logits"], segments=3, train=False, eval_crop=4)[1]
    assert sample["rgb_logits"][:, 0].tolist() == [4, 12, 20]
    assert sample["rgb_logits"][:, 1].tolist() == [4, 4, 4]
    assert int(sample["label"]) == 1 and int(sample["index"]) == 1
    with pytest.raises(FusionError, match="eval_crop 10"):
        SegmentDataset(_indexed_source(), ["rgb_logits"], train=False, eval_crop=10)[0]


def test_all_views_flatten_snippets_then_crops():
    sample = AllViewsDataset(_indexed_source(snippets=3, crops=2), ["rgb_logits"])[0]
    assert sample["rgb_logits"].dtype == torch.float32
    assert sample["rgb_logits"].tolist() == [[0, 0], [0, 1], [1, 0], [1, 1], [2, 0], [2, 1]]

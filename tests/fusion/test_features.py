"""The feature-source contract: validation of shapes and fields, subsets, averaged logits."""
from __future__ import annotations

import re

import numpy as np
import pytest

from twostream.data.errors import TwostreamError
from twostream.fusion.errors import FeatureSourceError
from twostream.fusion.features import FeatureSource, InMemoryFeatureSource, averaged_logits, require_fields


def _logits(videos: int = 2, snippets: int = 3, crops: int = 2, classes: int = 3) -> np.ndarray:
    return np.arange(videos * snippets * crops * classes, dtype=np.float32).reshape(videos, snippets, crops, classes)


def test_in_memory_source_serves_videos_and_satisfies_the_protocol():
    logits = _logits()
    source = InMemoryFeatureSource.from_arrays(["a", "b"], [2, 0], 3, rgb_logits=logits, flow_logits=-logits)
    assert isinstance(source, FeatureSource)
    assert len(source) == 2 and source.video_ids == ["a", "b"]
    assert source.labels.tolist() == [2, 0]
    assert source.fields == {"rgb_logits", "flow_logits"}
    video = source.load(1, ["flow_logits"])
    assert (video.snippets, video.crops, video.label) == (3, 2, 0)
    np.testing.assert_array_equal(video.get("flow_logits"), -logits[1])


def test_averaged_logits_mean_over_snippets_and_crops():
    logits = _logits()
    source = InMemoryFeatureSource.from_arrays(["a", "b"], [0, 1], 3, rgb_logits=logits, flow_logits=logits)
    np.testing.assert_allclose(averaged_logits(source, "rgb"), logits.mean(axis=(1, 2)))


def test_subset_keeps_the_chosen_videos_in_order():
    logits = _logits(videos=3)
    source = InMemoryFeatureSource.from_arrays(["a", "b", "c"], [0, 1, 2], 3, rgb_logits=logits)
    assert source.subset([2, 0]).video_ids == ["c", "a"]


@pytest.mark.parametrize(
    "arrays, message",
    [
        ({"rgb_logits": _logits(classes=4)}, "4 classes"),
        ({"rgb_map": np.zeros((2, 3, 2, 4, 4), np.float32)}, "expected 5 dimensions"),
        ({"rgb_logits": _logits(), "flowmag": np.zeros((2, 5, 2, 4, 4), np.float32)}, "(snippets, crops)"),
        ({"depth": np.zeros((2, 3, 2, 1), np.float32)}, "unknown field"),
    ],
)
def test_malformed_arrays_are_refused_with_a_reason(arrays, message):
    with pytest.raises(FeatureSourceError, match=re.escape(message)):
        InMemoryFeatureSource.from_arrays(["a", "b"], [0, 1], 3, **arrays)


def test_bad_labels_ids_and_counts_are_refused():
    logits = _logits()
    with pytest.raises(FeatureSourceError, match="label 3 outside"):
        InMemoryFeatureSource.from_arrays(["a", "b"], [0, 3], 3, rgb_logits=logits)
    with pytest.raises(FeatureSourceError, match="unique"):
        InMemoryFeatureSource.from_arrays(["a", "a"], [0, 1], 3, rgb_logits=logits)
    with pytest.raises(FeatureSourceError, match="3 labels for 2 videos"):
        InMemoryFeatureSource.from_arrays(["a", "b"], [0, 1, 2], 3, rgb_logits=logits)


def test_missing_fields_are_named_and_errors_are_twostream_errors():
    source = InMemoryFeatureSource.from_arrays(["a", "b"], [0, 1], 3, rgb_logits=_logits())
    with pytest.raises(TwostreamError, match="lack flow_map, flowmag .*have: rgb_logits"):
        require_fields(source, ["flowmag", "flow_map", "rgb_logits"])
    with pytest.raises(FeatureSourceError, match="lack flow_logits"):
        averaged_logits(source, "flow")

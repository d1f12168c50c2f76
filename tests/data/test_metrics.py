"""Mean per-class accuracy, top-1, confusion counts and the per-video score container."""
from __future__ import annotations

import numpy as np
import pytest

from twostream.data.errors import MetricsError
from twostream.data.metrics import (
    Interval,
    VideoScores,
    accuracy_interval,
    bootstrap_samples,
    confusion_matrix,
    mean_class_accuracy,
    oracle_correct,
    paired_difference_interval,
    per_class_accuracy,
    pooled_paired_difference,
    resampled_mean_class_accuracy,
    spatial_share,
    top1_accuracy,
)


def _one_hot(predicted: list[int], classes: int = 3) -> np.ndarray:
    return np.eye(classes)[predicted]


def test_mean_class_accuracy_weighs_classes_equally_unlike_top1():
    labels = np.array([0, 0, 0, 0, 1, 2])
    scores = _one_hot([0, 0, 0, 0, 0, 2])  # class 0: 4/4, class 1: 0/1, class 2: 1/1
    assert top1_accuracy(scores, labels) == pytest.approx(5 / 6)
    assert per_class_accuracy(scores, labels) == {0: 1.0, 1: 0.0, 2: 1.0}
    assert mean_class_accuracy(scores, labels) == pytest.approx(2 / 3)


def test_metrics_refuse_mismatched_or_empty_input():
    with pytest.raises(MetricsError):
        top1_accuracy(np.zeros((3, 2)), np.zeros(2, dtype=int))
    with pytest.raises(MetricsError, match="empty"):
        mean_class_accuracy(np.zeros((0, 2)), np.zeros(0, dtype=int))


def test_confusion_matrix_counts_true_rows_against_predicted_columns():
    labels = np.array([0, 0, 1, 1, 2, 2])
    predicted = np.array([0, 1, 1, 1, 0, 2])
    matrix = confusion_matrix(labels, predicted, 3)
    np.testing.assert_array_equal(matrix, [[1, 1, 0], [0, 2, 0], [1, 0, 1]])
    with pytest.raises(MetricsError, match="0..2"):
        confusion_matrix(labels, predicted + 1, 3)


def test_video_scores_measure_reorder_and_round_trip_through_records():
    scores = VideoScores(labels=np.array([0, 1, 1]), scores=np.array([[2.0, 1.0], [3.0, 0.0], [0.0, 1.0]]),
                         video_ids=["a", "b", "c"], gate_weights=np.array([[0.2, 0.8], [0.5, 0.5], [0.9, 0.1]]),
                         zero_gate_views=np.array([0, 2, 0]))
    assert scores.top1 == pytest.approx(2 / 3) and scores.mean_class_accuracy == pytest.approx(0.75)
    np.testing.assert_array_equal(scores.confusion, [[1, 0], [1, 1]])
    assert scores.zero_gate_total == 2
    reordered = scores.aligned(["c", "a", "b"])
    np.testing.assert_array_equal(reordered.labels, [1, 0, 1])
    np.testing.assert_array_equal(reordered.gate_weights[0], [0.9, 0.1])
    back = VideoScores.from_records(scores.records())
    assert back.video_ids == ["a", "b", "c"] and back.zero_gate_total == 2
    np.testing.assert_allclose(back.scores, scores.scores)
    with pytest.raises(MetricsError, match="different videos"):
        scores.aligned(["a", "b"])


def test_resampled_accuracy_matches_a_direct_computation_per_resample():
    rng = np.random.default_rng(0)
    labels = rng.integers(3, size=40)
    correct = rng.random(40) < 0.7
    samples = bootstrap_samples(40, resamples=25, seed=1)
    fast = resampled_mean_class_accuracy(correct, labels, samples)
    for row, drawn in zip(fast, samples):
        present = np.unique(labels[drawn])
        assert row == pytest.approx(np.mean([correct[drawn][labels[drawn] == c].mean() for c in present]))
    np.testing.assert_array_equal(samples, bootstrap_samples(40, resamples=25, seed=1))


def test_intervals_hold_the_estimate_and_narrow_with_more_videos():
    labels = np.tile([0, 1], 10)
    correct = np.tile([True, True, False, True], 5)  # class 0: 5/10, class 1: 10/10
    small = accuracy_interval(correct, labels, bootstrap_samples(20, seed=0))
    assert small.estimate == pytest.approx(0.75) and small.low < 0.75 < small.high
    big_labels, big_correct = np.tile(labels, 10), np.tile(correct, 10)
    big = accuracy_interval(big_correct, big_labels, bootstrap_samples(200, seed=0))
    assert big.high - big.low < small.high - small.low
    assert Interval.from_dict(small.to_dict()) == small


def test_paired_difference_cancels_what_two_methods_share():
    labels = np.tile([0, 1], 50)
    shared = np.random.default_rng(2).random(100) < 0.6
    better = shared.copy()
    better[np.flatnonzero(~shared)[:10]] = True  # right on 10 more videos, wrong on none that the other gets
    samples = bootstrap_samples(100, seed=3)
    difference = paired_difference_interval(better, shared, labels, samples)
    assert difference.estimate > 0 and difference.low > 0
    unpaired_low = accuracy_interval(better, labels, samples).low - accuracy_interval(shared, labels, samples).high
    assert unpaired_low < 0 < difference.low  # unpaired intervals overlap; the paired one excludes zero


def test_pooled_difference_averages_runs_and_narrows_with_more_of_them():
    rng = np.random.default_rng(4)
    runs = []
    for _ in range(3):
        labels = np.tile([0, 1], 50)
        shared = rng.random(100) < 0.6
        better = shared.copy()
        better[np.flatnonzero(~shared)[:6]] = True
        runs.append((better, shared, labels))
    single = [paired_difference_interval(a, b, labels, bootstrap_samples(100, 2000, i)) for i, (a, b, labels)
              in enumerate(runs)]
    pooled = pooled_paired_difference(runs, resamples=2000)
    assert pooled.estimate == pytest.approx(np.mean([one.estimate for one in single]))
    assert pooled.low <= pooled.estimate <= pooled.high
    assert pooled.high - pooled.low < min(one.high - one.low for one in single)  # three runs pin it down better
    assert pooled_paired_difference(runs[:1], resamples=2000).estimate == pytest.approx(single[0].estimate)
    with pytest.raises(MetricsError, match="at least one run"):
        pooled_paired_difference([])


def test_oracle_is_right_where_either_stream_is():
    labels = np.array([0, 1, 1])
    rgb = np.array([[1.0, 0.0], [1.0, 0.0], [1.0, 0.0]])
    flow = np.array([[0.0, 1.0], [0.0, 1.0], [1.0, 0.0]])
    np.testing.assert_array_equal(oracle_correct(rgb, flow, labels), [True, True, False])


def test_spatial_share_is_w1_over_the_sum_and_half_for_dead_gates():
    shares = spatial_share(np.array([[3.0, 1.0], [0.0, 2.0], [0.0, 0.0]]))
    np.testing.assert_allclose(shares, [0.75, 0.0, 0.5])

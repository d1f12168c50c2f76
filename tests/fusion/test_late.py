"""Late-fusion rules on hand-made scores."""
from __future__ import annotations

import math

import numpy as np
import pytest

from twostream.fusion import late
from twostream.fusion.errors import FusionError

RGB = np.array([[2.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
FLOW = np.array([[0.0, 4.0, 0.0], [0.0, 0.0, 3.0]])
LOG3 = math.log(3.0)


def test_single_stream_and_average_rules():
    np.testing.assert_array_equal(late.spatial_only(RGB, FLOW), RGB)
    np.testing.assert_array_equal(late.temporal_only(RGB, FLOW), FLOW)
    np.testing.assert_allclose(late.average(RGB, FLOW), [[1.0, 2.0, 0.0], [0.0, 0.5, 1.5]])


def test_tsn_weighting_is_one_to_one_and_a_half():
    assert late.ratio_to_flow_weight(1.0, 1.5) == pytest.approx(0.6)
    np.testing.assert_allclose(late.tsn_weighted(RGB, FLOW), [[0.8, 2.4, 0.0], [0.0, 0.4, 1.8]])
    with pytest.raises(FusionError, match="flow_weight"):
        late.weighted_average(RGB, FLOW, 1.5)


def test_l2_normalised_softmax_average_of_probabilities():
    # (3/4, 1/4) l2-normalised is (3, 1)/sqrt(10); (1/2, 1/2) normalised is (1, 1)/sqrt(2)
    fused = late.l2_softmax_average(np.array([[0.75, 0.25]]), np.array([[0.5, 0.5]]))
    expected = [(3 / math.sqrt(10) + 1 / math.sqrt(2)) / 2, (1 / math.sqrt(10) + 1 / math.sqrt(2)) / 2]
    np.testing.assert_allclose(fused, [expected])


def test_sparsity_concentration_index():
    # p = (1/2, 1/4, 1/8, 1/8): SCI = (4 * 1/2 - 1) / 3 = 1/3; uniform: 0; one-hot: 1; unnormalised rows by their l1
    probabilities = np.array([[4.0, 2.0, 1.0, 1.0], [1.0, 1.0, 1.0, 1.0], [1.0, 0.0, 0.0, 0.0]]) / [[8], [4], [1]]
    np.testing.assert_allclose(late.sparsity_concentration_index(probabilities), [1 / 3, 0.0, 1.0])
    np.testing.assert_allclose(late.sparsity_concentration_index(np.array([[8.0, 4.0, 2.0, 2.0]])), [1 / 3])


def test_sci_pools_a_streams_views_by_their_concentration():
    # view 0: (1/2, 1/4, 1/8, 1/8), SCI 1/3; view 1: uniform, SCI 0; view 2: one-hot on class 1, SCI 1
    views = np.array([[0.5, 0.25, 0.125, 0.125], [0.25] * 4, [0.0, 1.0, 0.0, 0.0]])
    pooled = late.sci_pooled(views)
    np.testing.assert_allclose(pooled, (views[0] / 3 + views[2]) / (4 / 3))  # (1/8, 13/16, 1/32, 1/32)
    np.testing.assert_allclose(pooled, [1 / 8, 13 / 16, 1 / 32, 1 / 32])
    np.testing.assert_allclose(late.sci_pooled(np.full((2, 4), 0.25)), [0.25] * 4)  # all uniform: the mean


def test_stream_scores_summarise_views_three_ways():
    # two views of one video over 2 classes: logits (log 3, 0) -> p (3/4, 1/4), SCI 1/2; (0, 0) -> p (1/2, 1/2), SCI 0
    scores = late.StreamScores.from_views([np.array([[[LOG3, 0.0]], [[0.0, 0.0]]])])  # (snippets 2, crops 1, C 2)
    np.testing.assert_allclose(scores.logits, [[LOG3 / 2, 0.0]])
    np.testing.assert_allclose(scores.probabilities, [[0.625, 0.375]])  # mean of softmax, not softmax of mean
    np.testing.assert_allclose(scores.sci, [[0.75, 0.25]])  # only the concentrated view counts


def test_sci_fusion_averages_the_streams_sci_pooled_scores():
    rgb = late.StreamScores.from_views([np.array([[LOG3, 0.0], [0.0, 0.0]])])
    flow = late.StreamScores.from_views([np.array([[0.0, LOG3], [0.0, LOG3]])])
    fused, _ = late.late_fusion_scores(None, (rgb, flow))
    np.testing.assert_allclose(fused["sci"], [[(0.75 + 0.25) / 2, (0.25 + 0.75) / 2]])
    np.testing.assert_allclose(fused["l2_softmax_average"],
                               late.l2_softmax_average(np.array([[0.625, 0.375]]), np.array([[0.25, 0.75]])))
    np.testing.assert_allclose(fused["average"], [[LOG3 / 4, LOG3 / 2]])  # mean logits of the streams


def test_grid_search_picks_a_weight_inside_the_best_region_nearest_one_half():
    # video 0 (label 0) is right for flow weight a < 0.9, video 1 (label 1) for a > 0.6
    rgb = np.array([[1.0, 0.0], [1.0, 0.0]])
    flow = np.array([[0.0, 1 / 9], [0.0, 2 / 3]])
    labels = np.array([0, 1])
    weight = late.search_flow_weight(rgb, flow, labels)
    assert weight == pytest.approx(0.65)
    assert late.search_flow_weight(rgb, flow, labels, grid=[0.0, 0.5, 0.7, 1.0]) == pytest.approx(0.7)


def _logits_only(scores: np.ndarray) -> late.StreamScores:
    """Stream scores of videos with one view each."""
    return late.StreamScores.from_views(scores[:, None, :])


def test_late_fusion_scores_uses_the_validation_weight_on_test():
    rgb = np.array([[1.0, 0.0], [1.0, 0.0]])
    flow = np.array([[0.0, 1 / 9], [0.0, 2 / 3]])
    validation = (_logits_only(rgb), _logits_only(flow), np.array([0, 1]))
    fused, weight = late.late_fusion_scores(validation, (_logits_only(RGB), _logits_only(FLOW)))
    assert set(fused) == {"spatial", "temporal", "average", "tsn_1_1.5", "l2_softmax_average", "sci",
                          "weighted_search"}
    assert weight == pytest.approx(0.65)  # chosen on the validation videos, as the grid search test above finds
    np.testing.assert_allclose(fused["weighted_search"], 0.35 * RGB + 0.65 * FLOW)


def test_weighted_scores_two_three_four():
    fused = late.weighted_scores([np.array([[9.0, 0.0]]), np.array([[0.0, 9.0]]), np.zeros((1, 2))], (2, 3, 4))
    np.testing.assert_allclose(fused, [[2.0, 3.0]])
    with pytest.raises(FusionError, match="one weight per score"):
        late.weighted_scores([RGB], (1, 2))


def test_mismatched_scores_are_refused():
    with pytest.raises(FusionError, match="one shape"):
        late.average(RGB, FLOW[:, :2])

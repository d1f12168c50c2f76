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


def test_l2_normalised_softmax_average():
    # softmax([log 3, 0]) = (3/4, 1/4), l2-normalised (3, 1)/sqrt(10); softmax([0, 0]) normalised (1, 1)/sqrt(2)
    fused = late.l2_softmax_average(np.array([[LOG3, 0.0]]), np.array([[0.0, 0.0]]))
    expected = [(3 / math.sqrt(10) + 1 / math.sqrt(2)) / 2, (1 / math.sqrt(10) + 1 / math.sqrt(2)) / 2]
    np.testing.assert_allclose(fused, [expected])


def test_sparsity_concentration_index():
    # softmax(log(4, 2, 1, 1)) = (1/2, 1/4, 1/8, 1/8): SCI = (4 * 1/2 - 1) / 3 = 1/3
    scores = np.log(np.array([[4.0, 2.0, 1.0, 1.0], [1.0, 1.0, 1.0, 1.0], [1e6, 1.0, 1.0, 1.0]]))
    np.testing.assert_allclose(late.sparsity_concentration_index(scores), [1 / 3, 0.0, 1.0], atol=1e-5)


def test_sci_weighting_trusts_the_concentrated_stream_per_video():
    rgb = np.array([[LOG3, 0.0], [0.0, 0.0], [0.0, 0.0], [LOG3, 0.0]])
    flow = np.array([[0.0, 0.0], [0.0, LOG3], [0.0, 0.0], [0.0, LOG3]])
    fused = late.sci_weighted(rgb, flow)
    np.testing.assert_allclose(fused[0], rgb[0])  # flow uniform: SCI 0, all weight to rgb
    np.testing.assert_allclose(fused[1], flow[1])  # and the reverse
    np.testing.assert_allclose(fused[2], [0.0, 0.0])  # both uniform: equal shares
    np.testing.assert_allclose(fused[3], (rgb[3] + flow[3]) / 2)  # both SCI 0.5: equal shares


def test_grid_search_picks_a_weight_inside_the_best_region_nearest_one_half():
    # video 0 (label 0) is right for flow weight a < 0.9, video 1 (label 1) for a > 0.6
    rgb = np.array([[1.0, 0.0], [1.0, 0.0]])
    flow = np.array([[0.0, 1 / 9], [0.0, 2 / 3]])
    labels = np.array([0, 1])
    weight = late.search_flow_weight(rgb, flow, labels)
    assert weight == pytest.approx(0.65)
    assert late.search_flow_weight(rgb, flow, labels, grid=[0.0, 0.5, 0.7, 1.0]) == pytest.approx(0.7)


def test_late_fusion_scores_uses_the_validation_weight_on_test():
    rgb = np.array([[1.0, 0.0], [1.0, 0.0]])
    flow = np.array([[0.0, 1 / 9], [0.0, 2 / 3]])
    fused, weight = late.late_fusion_scores(rgb, flow, np.array([0, 1]), RGB, FLOW)
    assert set(fused) == {"spatial", "temporal", "average", "tsn_1_1.5", "l2_softmax_average", "sci",
                          "weighted_search"}
    np.testing.assert_allclose(fused["weighted_search"], (1 - weight) * RGB + weight * FLOW)


def test_weighted_scores_two_three_four():
    fused = late.weighted_scores([np.array([[9.0, 0.0]]), np.array([[0.0, 9.0]]), np.zeros((1, 2))], (2, 3, 4))
    np.testing.assert_allclose(fused, [[2.0, 3.0]])
    with pytest.raises(FusionError, match="one weight per score"):
        late.weighted_scores([RGB], (1, 2))


def test_mismatched_scores_are_refused():
    with pytest.raises(FusionError, match="one shape"):
        late.average(RGB, FLOW[:, :2])

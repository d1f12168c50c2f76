"""Late fusion without training: rules that combine the two streams' video-level scores.

Inputs are per-video pre-softmax scores (N, C) of each stream, averaged over snippets and crops
(TSN). A fixed weighting is written as the flow stream's share a in [0, 1]: (1 - a) * rgb + a * flow,
so TSN's rgb:flow = 1:1.5 is a = 0.6 and the plain average is a = 0.5.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import numpy as np

from twostream.data.metrics import mean_class_accuracy, top1_accuracy
from twostream.fusion.errors import FusionError

TSN_RATIO: tuple[float, float] = (1.0, 1.5)
DEFAULT_WEIGHT_GRID: tuple[float, ...] = tuple(float(x) for x in np.round(np.linspace(0.0, 1.0, 21), 4))

ScoreRule = Callable[[np.ndarray, np.ndarray], np.ndarray]


def _check(rgb: np.ndarray, flow: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    rgb = np.asarray(rgb, dtype=np.float64)
    flow = np.asarray(flow, dtype=np.float64)
    if rgb.ndim != 2 or rgb.shape != flow.shape:
        raise FusionError(f"late fusion needs two (N, C) score arrays of one shape; got {rgb.shape} and {flow.shape}")
    return rgb, flow


def ratio_to_flow_weight(rgb_part: float, flow_part: float) -> float:
    """Return the flow share a of the ratio rgb_part:flow_part (1:1.5 -> 0.6)."""
    if rgb_part < 0 or flow_part < 0 or rgb_part + flow_part <= 0:
        raise FusionError(f"a stream ratio needs non-negative parts, not both zero; got {rgb_part}:{flow_part}")
    return flow_part / (rgb_part + flow_part)


def spatial_only(rgb: np.ndarray, flow: np.ndarray) -> np.ndarray:
    """Return the spatial (rgb) stream's scores."""
    return _check(rgb, flow)[0]


def temporal_only(rgb: np.ndarray, flow: np.ndarray) -> np.ndarray:
    """Return the temporal (flow) stream's scores."""
    return _check(rgb, flow)[1]


def weighted_average(rgb: np.ndarray, flow: np.ndarray, flow_weight: float) -> np.ndarray:
    """Return (1 - flow_weight) * rgb + flow_weight * flow."""
    rgb, flow = _check(rgb, flow)
    if not 0.0 <= flow_weight <= 1.0:
        raise FusionError(f"flow_weight must be in [0, 1], got {flow_weight}")
    return (1.0 - flow_weight) * rgb + flow_weight * flow


def average(rgb: np.ndarray, flow: np.ndarray) -> np.ndarray:
    """Return the mean of the two streams' pre-softmax scores."""
    return weighted_average(rgb, flow, 0.5)


def tsn_weighted(rgb: np.ndarray, flow: np.ndarray) -> np.ndarray:
    """Return TSN's fixed 1:1.5 weighting of rgb and flow scores (normalised to sum to one)."""
    return weighted_average(rgb, flow, ratio_to_flow_weight(*TSN_RATIO))


def softmax(scores: np.ndarray) -> np.ndarray:
    """Return the row-wise softmax of (N, C) scores."""
    shifted = np.asarray(scores, dtype=np.float64) - np.max(scores, axis=1, keepdims=True)
    exp = np.exp(shifted)
    return exp / exp.sum(axis=1, keepdims=True)


def l2_softmax_average(rgb: np.ndarray, flow: np.ndarray) -> np.ndarray:
    """Return the mean of the two streams' softmax scores, each row l2-normalised first."""
    rgb, flow = _check(rgb, flow)
    normed = [p / np.linalg.norm(p, axis=1, keepdims=True) for p in (softmax(rgb), softmax(flow))]
    return (normed[0] + normed[1]) / 2


def sparsity_concentration_index(scores: np.ndarray) -> np.ndarray:
    """Return each row's SCI of its softmax distribution p over C classes: (C * max p - 1) / (C - 1).

    SCI (Wright et al.'s sparsity concentration index, applied to class probabilities) is 1 when
    all mass sits on one class and 0 when it is spread evenly: a per-video confidence.
    """
    probabilities = softmax(scores)
    classes = probabilities.shape[1]
    if classes < 2:
        raise FusionError("SCI needs at least two classes")
    return (classes * probabilities.max(axis=1) - 1.0) / (classes - 1.0)


def sci_weighted(rgb: np.ndarray, flow: np.ndarray) -> np.ndarray:
    """Return per-video weighted scores, each stream weighted by its SCI share (equal shares if both are 0)."""
    rgb, flow = _check(rgb, flow)
    sci_rgb, sci_flow = sparsity_concentration_index(rgb), sparsity_concentration_index(flow)
    total = sci_rgb + sci_flow
    safe_total = np.where(total > 0, total, 1.0)
    flow_share = np.where(total > 0, sci_flow / safe_total, 0.5)
    return (1.0 - flow_share)[:, None] * rgb + flow_share[:, None] * flow


def search_flow_weight(rgb: np.ndarray, flow: np.ndarray, labels: np.ndarray,
                       grid: Sequence[float] = DEFAULT_WEIGHT_GRID) -> float:
    """Return the flow weight from `grid` with the best mean class accuracy on these (validation) scores.

    Ties go to higher top-1, then to the weight nearest 0.5 (the least committed choice).
    """
    rgb, flow = _check(rgb, flow)
    if not len(grid):
        raise FusionError("the weight grid is empty")

    def key(weight: float) -> tuple[float, float, float]:
        fused = weighted_average(rgb, flow, weight)
        return (mean_class_accuracy(fused, labels), top1_accuracy(fused, labels), -abs(weight - 0.5))

    return float(max(grid, key=key))


def weighted_scores(scores: Sequence[np.ndarray], weights: Sequence[float]) -> np.ndarray:
    """Return the weighted average sum_i w_i * scores_i / sum_i w_i (e.g. m-fusion:spatial:temporal = 2:3:4)."""
    if len(scores) != len(weights) or not scores:
        raise FusionError(f"need one weight per score array; got {len(scores)} arrays, {len(weights)} weights")
    if any(w < 0 for w in weights) or sum(weights) <= 0:
        raise FusionError(f"weights must be non-negative and not all zero, got {list(weights)}")
    total = sum(weights)
    return sum(w * np.asarray(s, dtype=np.float64) for w, s in zip(weights, scores)) / total


# The rules' titles in every table and figure, by rule name.
TITLES: Mapping[str, str] = {
    "spatial": "spatial only",
    "temporal": "temporal only",
    "average": "average of scores",
    "tsn_1_1.5": "weighted average 1:1.5 (TSN)",
    "weighted_search": "weighted average (grid search)",
    "l2_softmax_average": "average of l2-normalised softmax",
    "sci": "SCI weighting",
}
SEARCHED_RULE = "weighted_search"

PARAMETER_FREE_RULES: Mapping[str, ScoreRule] = {
    "spatial": spatial_only,
    "temporal": temporal_only,
    "average": average,
    "tsn_1_1.5": tsn_weighted,
    "l2_softmax_average": l2_softmax_average,
    "sci": sci_weighted,
}


def late_fusion_scores(val_rgb: np.ndarray | None, val_flow: np.ndarray | None, val_labels: np.ndarray | None,
                       test_rgb: np.ndarray, test_flow: np.ndarray,
                       grid: Sequence[float] = DEFAULT_WEIGHT_GRID) -> tuple[dict[str, np.ndarray], float | None]:
    """Return every late-fusion rule's test scores by name, and the flow weight the grid search chose on validation.

    Without validation scores (all three None) the searched weighting is left out and the weight is None.
    """
    fused = {name: rule(test_rgb, test_flow) for name, rule in PARAMETER_FREE_RULES.items()}
    if val_rgb is None or val_flow is None or val_labels is None:
        return fused, None
    flow_weight = search_flow_weight(val_rgb, val_flow, val_labels, grid)
    fused[SEARCHED_RULE] = weighted_average(test_rgb, test_flow, flow_weight)
    return fused, flow_weight

"""Late fusion without training: rules that combine the two streams' video-level scores.

Each stream's views (snippets x crops) are summarised per video three ways (`StreamScores`): the
mean of the views' pre-softmax scores (TSN, which weighs and averages those), the mean of the views'
softmax scores (Simonyan et al. and Park et al. average those), and the views' softmax scores
weighted by their sparsity concentration index (SCI fusion as Zhu et al. use it, after FstCN).
A fixed weighting is written as the flow stream's share a in [0, 1]: (1 - a) * rgb + a * flow,
so TSN's rgb:flow = 1:1.5 is a = 0.6 and the plain average is a = 0.5.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from twostream.data.metrics import mean_class_accuracy, top1_accuracy
from twostream.fusion.errors import FusionError

TSN_RATIO: tuple[float, float] = (1.0, 1.5)
DEFAULT_WEIGHT_GRID: tuple[float, ...] = tuple(float(x) for x in np.round(np.linspace(0.0, 1.0, 21), 4))

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


def sparsity_concentration_index(probabilities: np.ndarray) -> np.ndarray:
    """Return each row's SCI of its class probabilities p over C classes: (C * max p / ||p||_1 - 1) / (C - 1).

    SCI (Wright et al.'s sparsity concentration index) is 1 when all mass sits on one class and 0
    when it is spread evenly: a confidence per row.
    """
    probabilities = np.asarray(probabilities, dtype=np.float64)
    classes = probabilities.shape[1]
    if classes < 2:
        raise FusionError("SCI needs at least two classes")
    return (classes * probabilities.max(axis=1) / probabilities.sum(axis=1) - 1.0) / (classes - 1.0)


def sci_pooled(probabilities: np.ndarray) -> np.ndarray:
    """Return one video's stream score from its views' probabilities (V, C): sum_v SCI(p_v) p_v / sum_v SCI(p_v).

    Views that are all uniform (every SCI 0) give the plain mean of the views.
    """
    weights = sparsity_concentration_index(probabilities)
    total = weights.sum()
    if total <= 0:
        return probabilities.mean(axis=0)
    return (weights[:, None] * probabilities).sum(axis=0) / total


@dataclass(frozen=True)
class StreamScores:
    """One stream's per-video summaries (N, C) of its views' scores: mean logits, mean softmax, SCI-weighted softmax."""

    logits: np.ndarray
    probabilities: np.ndarray
    sci: np.ndarray

    def __post_init__(self) -> None:
        """Refuse summaries of different shapes."""
        if not self.logits.shape == self.probabilities.shape == self.sci.shape or self.logits.ndim != 2:
            raise FusionError(f"stream scores need three (N, C) arrays of one shape; got {self.logits.shape}, "
                              f"{self.probabilities.shape} and {self.sci.shape}")

    @classmethod
    def from_views(cls, videos: Iterable[np.ndarray]) -> "StreamScores":
        """Summarise each video's view scores (V, C), or (snippets, crops, C), pre-softmax."""
        logits, probabilities, sci = [], [], []
        for views in videos:
            views = np.asarray(views, dtype=np.float64).reshape(-1, np.shape(views)[-1])
            view_probabilities = softmax(views)
            logits.append(views.mean(axis=0))
            probabilities.append(view_probabilities.mean(axis=0))
            sci.append(sci_pooled(view_probabilities))
        if not logits:
            raise FusionError("stream scores need at least one video")
        return cls(np.stack(logits), np.stack(probabilities), np.stack(sci))


def l2_softmax_average(rgb_probabilities: np.ndarray, flow_probabilities: np.ndarray) -> np.ndarray:
    """Return the mean of two streams' video-level softmax scores, each row l2-normalised first (Simonyan et al.)."""
    rgb, flow = _check(rgb_probabilities, flow_probabilities)
    return (rgb / np.linalg.norm(rgb, axis=1, keepdims=True) + flow / np.linalg.norm(flow, axis=1, keepdims=True)) / 2


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


def sci_average(rgb_sci: np.ndarray, flow_sci: np.ndarray) -> np.ndarray:
    """Return SCI fusion's video scores: the mean of the streams' SCI-weighted softmax scores ("average fusion
    in stream level", Zhu et al. after FstCN)."""
    rgb, flow = _check(rgb_sci, flow_sci)
    return (rgb + flow) / 2


# The rules' titles in every table and figure, by rule name.
TITLES: Mapping[str, str] = {
    "spatial": "spatial only",
    "temporal": "temporal only",
    "average": "average of scores",
    "tsn_1_1.5": "weighted average 1:1.5 (TSN)",
    "weighted_search": "weighted average (grid search)",
    "l2_softmax_average": "average of l2-normalised softmax",
    "sci": "SCI fusion",
}
SEARCHED_RULE = "weighted_search"

StreamRule = Callable[[StreamScores, StreamScores], np.ndarray]
# Each rule reads the summary of the views its paper uses: pre-softmax means (TSN), softmax means
# (Simonyan, Park) or SCI-weighted softmax (FstCN, Zhu).
PARAMETER_FREE_RULES: Mapping[str, StreamRule] = {
    "spatial": lambda rgb, flow: spatial_only(rgb.logits, flow.logits),
    "temporal": lambda rgb, flow: temporal_only(rgb.logits, flow.logits),
    "average": lambda rgb, flow: average(rgb.logits, flow.logits),
    "tsn_1_1.5": lambda rgb, flow: tsn_weighted(rgb.logits, flow.logits),
    "l2_softmax_average": lambda rgb, flow: l2_softmax_average(rgb.probabilities, flow.probabilities),
    "sci": lambda rgb, flow: sci_average(rgb.sci, flow.sci),
}


def late_fusion_scores(validation: tuple[StreamScores, StreamScores, np.ndarray] | None,
                       test: tuple[StreamScores, StreamScores],
                       grid: Sequence[float] = DEFAULT_WEIGHT_GRID) -> tuple[dict[str, np.ndarray], float | None]:
    """Return every late-fusion rule's test scores by name, and the flow weight the grid search chose on validation.

    `validation` is (rgb, flow, labels) and `test` (rgb, flow). Without validation the searched
    weighting is left out and the weight is None.
    """
    test_rgb, test_flow = test
    fused = {name: rule(test_rgb, test_flow) for name, rule in PARAMETER_FREE_RULES.items()}
    if validation is None:
        return fused, None
    val_rgb, val_flow, val_labels = validation
    flow_weight = search_flow_weight(val_rgb.logits, val_flow.logits, val_labels, grid)
    fused[SEARCHED_RULE] = weighted_average(test_rgb.logits, test_flow.logits, flow_weight)
    return fused, flow_weight

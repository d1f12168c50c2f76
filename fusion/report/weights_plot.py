"""The fusion-weights figure: each video's gate outputs, with and without the multi-task loss."""
from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from matplotlib.figure import Figure

from twostream.data.metrics import spatial_share
from twostream.fusion.errors import ReportError
from twostream.fusion.report.plotting import (
    CORRECT_COLOR,
    PANEL_TITLE_SIZE,
    SPATIAL_COLOR,
    WRONG_COLOR,
    new_figure,
    panel_title,
)

PANEL_INCHES = 4.2


def fusion_weights_figure(weights: Mapping[str, np.ndarray],
                          correct: Mapping[str, np.ndarray] | None = None) -> Figure:
    """Return one column per run: a scatter of its videos' gate weights, and the histogram of w1/(w1+w2) below.

    `weights` maps a panel title (say 'lambda = 0') to (N, 2) mean gate weights per video, spatial
    (w1) then temporal (w2); the scatter puts the temporal weight on x and the spatial weight on y.
    `correct` (same titles, (N,) booleans) colours the points by whether the fused prediction was right.
    """
    if not weights:
        raise ReportError("the fusion-weights figure needs at least one run's gate weights")
    arrays = {title: np.asarray(w, dtype=np.float64) for title, w in weights.items()}
    for title, array in arrays.items():
        if array.ndim != 2 or array.shape[1] != 2 or len(array) == 0:
            raise ReportError(f"{title}: gate weights are (N, 2) with N >= 1, got shape {array.shape}")
    top = max(float(array.max()) for array in arrays.values()) * 1.08 or 1.0
    figure = new_figure(PANEL_INCHES * len(arrays), 7.4)
    grid = figure.add_gridspec(2, len(arrays), height_ratios=(1.4, 1))
    bins = np.linspace(0.0, 1.0, 21)
    for column, (title, array) in enumerate(arrays.items()):
        scatter = figure.add_subplot(grid[0, column])
        scatter.plot([0, top], [0, top], linestyle="--", color="0.6", linewidth=1, label="w1 = w2")
        right = None if correct is None else np.asarray(correct[title], dtype=bool)
        if right is None:
            scatter.scatter(array[:, 1], array[:, 0], s=18, color=SPATIAL_COLOR, alpha=0.75)
        else:
            for mask, colour, label in ((right, CORRECT_COLOR, "fused right"), (~right, WRONG_COLOR, "fused wrong")):
                scatter.scatter(array[mask, 1], array[mask, 0], s=18, color=colour, alpha=0.75,
                                label=f"{label} ({int(mask.sum())})")
        scatter.set_xlim(0, top)
        scatter.set_ylim(0, top)
        scatter.set_aspect("equal")
        scatter.set_xlabel("temporal weight w2")
        scatter.set_ylabel("spatial weight w1")
        scatter.set_title(panel_title(f"{title} ({len(array)} videos)", PANEL_INCHES), fontsize=PANEL_TITLE_SIZE)
        scatter.legend(loc="upper right", fontsize=8)
        share = spatial_share(array)
        histogram = figure.add_subplot(grid[1, column])
        histogram.hist(share, bins=bins, color=SPATIAL_COLOR, edgecolor="white")
        histogram.axvline(0.5, color="0.4", linestyle="--", linewidth=1)
        histogram.set_xlim(0, 1)
        histogram.set_xlabel("normalised spatial weight w1 / (w1 + w2)")
        histogram.set_ylabel("videos")
        histogram.set_title(f"mean {share.mean():.2f}, std {share.std():.2f}", fontsize=10)
    return figure

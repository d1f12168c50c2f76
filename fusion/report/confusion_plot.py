"""The confusion matrix of one method and the per-class accuracy gain of one method over another."""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from matplotlib.figure import Figure

from twostream.data.metrics import confusion_matrix
from twostream.fusion.errors import ReportError
from twostream.fusion.report.plotting import CORRECT_COLOR, WRONG_COLOR, class_name, new_figure, wrapped

MAX_TICK_LABELS = 30
TICK_WIDTH = 24  # a longer class name goes on to a second line, never cut


def confusion_figure(labels: np.ndarray, predictions: np.ndarray, num_classes: int,
                     class_names: Sequence[str] | None = None, title: str = "") -> Figure:
    """Return the row-normalised confusion matrix (each true class's shares), with counts written when small."""
    matrix = confusion_matrix(labels, predictions, num_classes)
    totals = matrix.sum(axis=1, keepdims=True)
    shares = np.divide(matrix, totals, out=np.zeros(matrix.shape), where=totals > 0)
    size = min(14.0, 3.5 + 0.45 * num_classes)
    figure = new_figure(size + 1.2, size)
    axis = figure.add_subplot()
    image = axis.imshow(shares, cmap="Blues", vmin=0, vmax=1)
    figure.colorbar(image, ax=axis, shrink=0.8, label="share of the true class's videos")
    if num_classes <= MAX_TICK_LABELS:
        names = [wrapped(class_name(i, class_names), TICK_WIDTH) for i in range(num_classes)]
        axis.set_xticks(range(num_classes), names, rotation=60, ha="right", fontsize=8)
        axis.set_yticks(range(num_classes), names, fontsize=8)
    if num_classes <= 12:
        for (row, column), count in np.ndenumerate(matrix):
            if count:
                axis.text(column, row, str(count), ha="center", va="center", fontsize=8,
                          color="white" if shares[row, column] > 0.5 else "black")
    axis.set_xlabel("predicted class")
    axis.set_ylabel("true class")
    accuracy = float(np.trace(matrix) / max(1, matrix.sum()))
    axis.set_title(f"{title} (top-1 {100 * accuracy:.1f}%, {int(matrix.sum())} videos)".strip(), fontsize=10)
    return figure


def class_accuracies(labels: np.ndarray, predictions: np.ndarray, num_classes: int) -> np.ndarray:
    """Return each class's accuracy (C,), NaN for classes without videos."""
    matrix = confusion_matrix(labels, predictions, num_classes).astype(np.float64)
    totals = matrix.sum(axis=1)
    return np.divide(np.diag(matrix), totals, out=np.full(num_classes, np.nan), where=totals > 0)


def class_gain_figure(labels: np.ndarray, predictions: np.ndarray, baseline_predictions: np.ndarray,
                      num_classes: int, *, class_names: Sequence[str] | None = None, method: str = "gated fusion",
                      baseline: str = "weighted average") -> Figure:
    """Return a bar per class of accuracy(method) - accuracy(baseline), classes sorted by gain."""
    gain = class_accuracies(labels, predictions, num_classes) - class_accuracies(labels, baseline_predictions,
                                                                               num_classes)
    present = np.flatnonzero(~np.isnan(gain))
    if not len(present):
        raise ReportError("no class has test videos; the per-class gain is undefined")
    order = present[np.argsort(-gain[present], kind="stable")]
    figure = new_figure(min(16.0, max(6.5, 3.0 + 0.32 * len(order))), 4.4)
    axis = figure.add_subplot()
    values = 100 * gain[order]
    axis.bar(range(len(order)), values, color=[CORRECT_COLOR if v >= 0 else WRONG_COLOR for v in values])
    axis.axhline(0, color="black", linewidth=0.8)
    if len(order) <= 60:
        axis.set_xticks(range(len(order)), [wrapped(class_name(int(i), class_names), TICK_WIDTH) for i in order],
                        rotation=60, ha="right", fontsize=7)
    axis.set_ylabel("accuracy gain (percentage points)")
    axis.set_title(f"{method} minus {baseline}\nper class (mean {np.mean(values):+.1f} points)", fontsize=9)
    return figure

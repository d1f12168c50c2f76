"""The gate-features figure: a t-SNE of the gating ConvNet's last feature layer, coloured by class."""
from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from matplotlib import colormaps
from matplotlib.figure import Figure
from sklearn.manifold import TSNE

from twostream.fusion.errors import ReportError
from twostream.fusion.report.plotting import PANEL_TITLE_SIZE, class_name, new_figure, panel_title

MIN_POINTS = 4
MAX_LEGEND_CLASSES = 20
PANEL_INCHES = 4.6


def embed_tsne(features: np.ndarray, seed: int = 0) -> np.ndarray:
    """Return a 2-D t-SNE embedding (N, 2) of (N, D) features, with a perplexity the sample size allows."""
    features = np.asarray(features, dtype=np.float64)
    if features.ndim != 2 or len(features) < MIN_POINTS:
        raise ReportError(f"t-SNE needs (N, D) features with N >= {MIN_POINTS}, got shape {features.shape}")
    # sklearn requires perplexity < N; 30 is its default for larger sets.
    perplexity = float(min(30.0, max(2.0, (len(features) - 1) / 3)))
    return TSNE(n_components=2, perplexity=perplexity, init="pca", random_state=seed).fit_transform(features)


def gate_features_figure(features: Mapping[str, np.ndarray], labels: Mapping[str, np.ndarray],
                         class_names: Sequence[str] | None = None, seed: int = 0) -> Figure:
    """Return one t-SNE panel per run of its videos' gate features (N, D), points coloured by true class.

    `features` and `labels` map the same panel titles (say 'lambda = 0', 'lambda = 1') to arrays.
    """
    if not features:
        raise ReportError("the gate-features figure needs at least one run's features")
    classes = sorted({int(c) for title in features for c in np.asarray(labels[title])})
    colours = _class_colours(len(classes))
    figure = new_figure(PANEL_INCHES * len(features) + (1.8 if len(classes) <= MAX_LEGEND_CLASSES else 0), 4.6)
    axes = figure.subplots(1, len(features), squeeze=False)[0]
    for axis, (title, array) in zip(axes, features.items()):
        points = embed_tsne(array, seed)
        label_array = np.asarray(labels[title])
        for position, cls in enumerate(classes):
            mask = label_array == cls
            axis.scatter(points[mask, 0], points[mask, 1], s=20, color=colours[position],
                         label=class_name(cls, class_names), alpha=0.85)
        axis.set_title(panel_title(f"{title} ({len(array)} videos, {np.asarray(array).shape[1]} features)",
                                   PANEL_INCHES), fontsize=PANEL_TITLE_SIZE)
        axis.set_xticks([])
        axis.set_yticks([])
    if len(classes) <= MAX_LEGEND_CLASSES:
        figure.legend(*axes[0].get_legend_handles_labels(), loc="outside right center", fontsize=8, title="class")
    else:
        figure.suptitle(f"colour: class index (0 to {classes[-1]}, {len(classes)} classes)", fontsize=10)
    return figure


def _class_colours(count: int) -> list:
    name = "tab10" if count <= 10 else "tab20" if count <= 20 else "turbo"
    colour_map = colormaps[name]
    if name == "turbo":
        return [colour_map(i / max(1, count - 1)) for i in range(count)]
    return [colour_map(i) for i in range(count)]

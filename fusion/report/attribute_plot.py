"""The spatial share by attribute figure: each gated run's w1/(w1+w2) per video, grouped by a per-video attribute."""
from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from matplotlib.figure import Figure

from twostream.fusion.errors import ReportError
from twostream.fusion.report.plotting import PANEL_TITLE_SIZE, SPATIAL_COLOR, new_figure, panel_title, wrapped

INCHES_PER_VALUE = 0.9
MIN_PANEL_INCHES = 3.6
JITTER = 0.15  # half the width of a value's strip of points, in value slots


def spatial_share_by_value_figure(shares: Mapping[str, Mapping[str, np.ndarray]], attribute: str) -> Figure:
    """Return one panel per run: per attribute value, a box of its videos' spatial shares, the videos as
    points beside it and their mean as a diamond.

    `shares` maps a panel title (say 'lambda = 0') to value -> (N,) spatial shares in [0, 1]; every panel
    shows the values in the order of its mapping. Points are spread sideways by a fixed-seed jitter.
    """
    if not shares:
        raise ReportError("the spatial share figure needs at least one run's shares")
    for title, groups in shares.items():
        if not groups or any(len(np.ravel(values)) == 0 for values in groups.values()):
            raise ReportError(f"{title}: every attribute value needs at least one video's share")
    most = max(len(groups) for groups in shares.values())
    panel = max(MIN_PANEL_INCHES, INCHES_PER_VALUE * most + 1.2)
    figure = new_figure(panel * len(shares), 4.4)
    axes = figure.subplots(1, len(shares), squeeze=False, sharey=True)[0]
    rng = np.random.default_rng(0)
    for axis, (title, groups) in zip(axes, shares.items()):
        arrays = [np.asarray(values, dtype=np.float64).ravel() for values in groups.values()]
        positions = np.arange(len(arrays))
        axis.boxplot(arrays, positions=positions, widths=0.5, showfliers=False, medianprops={"color": "0.2"})
        for position, values in zip(positions, arrays):
            spread = position + rng.uniform(-JITTER, JITTER, len(values))
            axis.scatter(spread, values, s=14, color=SPATIAL_COLOR, alpha=0.6, zorder=3)
            axis.scatter([position], [values.mean()], marker="D", s=40, color="black", zorder=4)
        axis.axhline(0.5, color="0.6", linestyle="--", linewidth=1)
        axis.set_xticks(positions, [wrapped(f"{value} ({len(values)})", 12)
                                    for value, values in zip(groups, arrays)], fontsize=8)
        axis.set_ylim(-0.02, 1.02)
        axis.set_xlabel(attribute)
        axis.set_title(panel_title(title, panel), fontsize=PANEL_TITLE_SIZE)
    axes[0].set_ylabel("spatial share w1 / (w1 + w2)")
    return figure

"""The flow-quality figure: one frame pair's flow from two methods, colour-coded alike, and their difference."""
from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from matplotlib.figure import Figure

from twostream.fusion.errors import ReportError
from twostream.fusion.report.plotting import new_figure
from twostream.pipeline.flow import FlowError, endpoint_errors
from twostream.pipeline.flow.color import color_wheel_key, flow_to_color


def flow_quality_figure(flows: Mapping[str, np.ndarray]) -> Figure:
    """Return two named flow fields colour-coded on one speed scale, their endpoint difference and the colour key."""
    if len(flows) != 2:
        raise ReportError(f"the flow-quality figure compares exactly two flow fields, got {len(flows)}")
    (name_a, flow_a), (name_b, flow_b) = ((name, np.asarray(flow, dtype=np.float64)) for name, flow in flows.items())
    try:
        difference = endpoint_errors(flow_a, flow_b)
    except FlowError as error:
        raise ReportError(f"the flow-quality figure: {error}") from None
    speeds = np.hypot(*np.concatenate([flow_a, flow_b], axis=0).transpose(2, 0, 1))
    scale = float(np.nanmax(speeds)) if np.isfinite(speeds).any() else 1.0
    height, width = flow_a.shape[:2]
    panel = 3.4 * width / max(height, width) + 0.4
    figure = new_figure(3 * panel + 1.8, 3.4 * height / max(height, width) + 0.8)
    grid = figure.add_gridspec(1, 4, width_ratios=(panel, panel, panel + 0.5, 1.2))
    for column, (name, flow) in enumerate(((name_a, flow_a), (name_b, flow_b))):
        axis = figure.add_subplot(grid[0, column])
        axis.imshow(flow_to_color(flow, max_magnitude=scale))
        axis.set_title(f"{name} (max speed {np.nanmax(np.hypot(flow[..., 0], flow[..., 1])):.1f} px)", fontsize=9)
        axis.set_axis_off()
    axis = figure.add_subplot(grid[0, 2])
    image = axis.imshow(difference, cmap="magma")
    figure.colorbar(image, ax=axis, shrink=0.8, label="endpoint difference (px)")
    axis.set_title(f"|{name_a} - {name_b}|: mean {np.nanmean(difference):.3f} px", fontsize=9)
    axis.set_axis_off()
    key = figure.add_subplot(grid[0, 3])
    key.imshow(color_wheel_key(), extent=(-scale, scale, scale, -scale))
    key.set_title(f"colour key (+-{scale:.1f} px)", fontsize=8)
    key.tick_params(labelsize=6)
    return figure

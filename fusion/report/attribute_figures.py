"""The report's figures of the gate's spatial share per attribute value: one per attribute the videos carry."""
from __future__ import annotations

import re
from collections.abc import Mapping

import numpy as np

from twostream.data.attributes import attribute_names
from twostream.data.metrics import spatial_share
from twostream.fusion.report.assemble import ReportInputs
from twostream.fusion.report.attribute_plot import spatial_share_by_value_figure
from twostream.fusion.report.html import EmbeddedFigure
from twostream.fusion.report.plotting import figure_png

MAX_VALUES = 20  # more values than this do not fit one panel


def figure_name(attribute: str) -> str:
    """The figure's file and anchor name for an attribute ('degraded_cue' -> 'spatial_share_by_degraded_cue')."""
    return "spatial_share_by_" + (re.sub(r"[^a-z]+", "_", attribute.lower()).strip("_") or "attribute")


def shares_by_value(video_ids: list[str], weights: np.ndarray,
                    values: Mapping[str, str]) -> dict[str, np.ndarray]:
    """Each value's spatial shares (sorted by value) of the videos that have one, from (N, 2) gate weights."""
    share = spatial_share(weights)
    grouped: dict[str, list[float]] = {}
    for video_id, video_share in zip(video_ids, share):
        if video_id in values:
            grouped.setdefault(values[video_id], []).append(float(video_share))
    return {value: np.array(grouped[value]) for value in sorted(grouped)}


def attribute_figures(inputs: ReportInputs,
                      attributes: Mapping[str, Mapping[str, str]]) -> tuple[list[EmbeddedFigure], list[str]]:
    """For each attribute the videos carry, the figure of every gated run's spatial share per value on the
    report's set, or a line saying why it is missing; nothing at all without attributes."""
    figures, notes = [], []
    runs = inputs.gated_runs()
    set_name = inputs.methods.set_name
    for attribute in attribute_names(attributes):
        name = figure_name(attribute)
        values = {video_id: given[attribute] for video_id, given in attributes.items() if attribute in given}
        shares = {}
        for run in runs:
            scored = run.scored(set_name)
            grouped = shares_by_value(list(scored.video_ids or []), scored.gate_weights, values)
            if grouped:
                shares[run.title] = grouped
        distinct = {value for grouped in shares.values() for value in grouped}
        reason = ("no gated fusion run among the runs" if not runs else
                  f"no {set_name} video of a gated run has a {attribute}" if not shares else
                  f"{attribute} has {len(distinct)} values, more than {MAX_VALUES} fit" if len(distinct) > MAX_VALUES
                  else None)
        if reason:
            notes.append(f"{name.replace('_', ' ')}: not drawn, {reason}")
            continue
        figure = spatial_share_by_value_figure(shares, attribute)
        figures.append(EmbeddedFigure(name, f"Spatial share by {attribute}", _caption(attribute, set_name, shares),
                                      figure_png(figure)))
    return figures, notes


def _caption(attribute: str, set_name: str, shares: Mapping[str, Mapping[str, np.ndarray]]) -> str:
    means = "; ".join(f"{title}: " + ", ".join(f"{value} {array.mean():.2f} ({len(array)})"
                                               for value, array in grouped.items())
                      for title, grouped in shares.items())
    return (f"The gate's normalised spatial weight w1/(w1+w2) on each {set_name} video, grouped by the video's "
            f"{attribute} (videos per value in brackets): boxes span the quartiles, points are videos, diamonds "
            f"the means; the dashed line is equal weights. Mean per value: {means}.")

"""The report's section of an attribute probe's result (`twostream probe --out`): its two tables."""
from __future__ import annotations

import os
from collections.abc import Mapping
from html import escape
from typing import Any

from twostream.fusion.errors import FusionError, ReportError
from twostream.fusion.probe_table import accuracy_rows, load_probe, streams_right_rows
from twostream.fusion.report.html import rows_html


def probe_html(probe: Mapping[str, Any] | str | os.PathLike) -> str:
    """Return the probe's accuracy table and stream-outcome table as HTML, from its result or its JSON file."""
    try:
        result = probe if isinstance(probe, Mapping) else load_probe(probe)
    except FusionError as error:
        raise ReportError(str(error)) from None
    counts = "; ".join(f"{role}: " + ", ".join(f"{value} {count}" for value, count in values.items())
                       for role, values in result["values"].items())
    intro = (f"<p>How well a standardised logistic regression on both streams' pooled features of each tap "
             f"predicts the videos' {escape(result['attribute'])}, fitted on split {escape(str(result['split']))}'s "
             f"training videos and scored on its test videos, against always answering the training videos' "
             f"most common value ({escape(counts)}).</p>")
    parts = [intro, rows_html(accuracy_rows(result))]
    if result["streams_right"]:
        parts += ["<p>Share of training videos on which only the spatial stream, only the temporal stream, both "
                  "or neither is right (scores averaged over views), per training-score mode.</p>",
                  rows_html(streams_right_rows(result))]
    return "".join(parts)

"""Rows of figures as text: how one value is written in a table cell, and rows of dicts as a Markdown table
(the benchmarks' printed tables, their pages in the documentation, the probe's tables)."""
from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from typing import Any


def cell_text(value: Any) -> str:
    """A value as a table cell: a float to 3 significant digits (whole above 1000), a list or mapping as JSON,
    anything else as its text."""
    if isinstance(value, float):
        return f"{value:.3g}" if abs(value) < 1000 else f"{value:.0f}"
    if isinstance(value, (list, dict)):
        return json.dumps(value)
    return str(value)


def markdown_table(rows: Sequence[Mapping[str, Any]], cell: Callable[[Any], str] = cell_text) -> str:
    """Rows of dicts as a Markdown table, one column per key found in any row, each value written by `cell`
    (a '|' inside a cell escaped)."""
    columns = list(dict.fromkeys(key for row in rows for key in row))
    lines = [columns, ["---"] * len(columns),
             *([cell(row.get(column, "")).replace("|", "\\|") for column in columns] for row in rows)]
    return "\n".join("| " + " | ".join(line) + " |" for line in lines)

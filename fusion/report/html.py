"""The report page: one self-contained HTML document, figures embedded as base64 PNG, no external assets."""
from __future__ import annotations

import base64
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from html import escape
from typing import Any

from twostream.fusion.results import LEARNING_NOTES, METRICS, ResultsTable, interval_text

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1400px; padding: 0 1em; color: #222; }
h1 { margin-bottom: 0.2em; } .meta { color: #666; margin-top: 0; }
table { border-collapse: collapse; margin: 0.8em 0; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; }
td.number { text-align: right; font-variant-numeric: tabular-nums; }
th { background: #f2f2f2; } td.best { font-weight: bold; background: #eaf4ea; }
figure { margin: 1.5em 0; } figure img { max-width: 100%; height: auto; border: 1px solid #eee; }
figcaption { color: #444; font-size: 0.9em; max-width: 70em; }
pre { background: #f7f7f7; padding: 0.6em; overflow-x: auto; }
.notes, .warning { color: #8a4b00; } table.mapping td:first-child { font-family: monospace; white-space: nowrap; }
"""


@dataclass(frozen=True)
class EmbeddedFigure:
    """A figure as the page shows it: an anchor name, a heading, a caption and its PNG bytes."""

    name: str
    heading: str
    caption: str
    png: bytes


def results_table_html(table: ResultsTable) -> str:
    """Return the comparison table as HTML, accuracies in percent, the best of each column in bold; a method
    whose head did not learn is marked, and the notes saying why follow the table."""
    columns = [(split, metric) for split in [*table.splits, "mean"] for metric in METRICS]
    values = {method: {**table.cells[method], "mean": table.mean(method)} for method in table.methods}

    def cell(method: str, split: str, metric: str) -> float | None:
        return (values[method].get(split) or {}).get(metric)

    best = {column: max((v for m in table.methods if (v := cell(m, *column)) is not None), default=None)
            for column in columns}
    head = "".join(f"<th>{escape(split)}<br>{escape(metric.replace('_', ' '))}</th>" for split, metric in columns)
    rows = []
    for method in table.methods:
        cells = []
        for column in columns:
            value = cell(method, *column)
            is_best = value is not None and value == best[column]
            text = "-" if value is None else f"{100 * value:.1f}" + interval_text(values[method].get(column[0]),
                                                                                 column[1])
            cells.append(f'<td class="number{" best" if is_best else ""}">{text}</td>')
        marker = table.note_marker(method)
        marked = f' <span class="warning">{escape(marker)}</span>' if marker else ""
        rows.append(f"<tr><td>{escape(method)}{marked}</td>{''.join(cells)}</tr>")
    return f'<table class="results"><tr><th>method</th>{head}</tr>{"".join(rows)}</table>' + learning_notes_html(table)


def learning_notes_html(table: ResultsTable) -> str:
    """Return the table's notes on heads that did not learn as a warning list ('' when every head learned)."""
    if not table.flagged:
        return ""
    items = "".join(f"<li>{escape(note)}</li>" for note in table.notes())
    return (f'<div class="learning"><p class="warning">{escape(LEARNING_NOTES)}:</p>'
            f'<ul class="warning">{items}</ul></div>')


def mapping_html(mapping: Mapping[str, Any]) -> str:
    """Return a nested mapping as nested two-column tables (lists of scalars joined, other values as JSON)."""
    rows = []
    for key, value in mapping.items():
        if isinstance(value, Mapping):
            shown = mapping_html(value) if value else "<em>empty</em>"
        elif isinstance(value, (list, tuple)) and all(isinstance(v, (str, int, float, bool)) for v in value):
            shown = escape(", ".join(str(v) for v in value))
        elif isinstance(value, (str, int, float, bool)) or value is None:
            shown = escape(str(value))
        else:
            shown = f"<pre>{escape(json.dumps(value, indent=1, default=str))}</pre>"
        rows.append(f"<tr><td>{escape(str(key))}</td><td>{shown}</td></tr>")
    return f'<table class="mapping">{"".join(rows)}</table>'


def rows_html(rows: Sequence[Mapping[str, Any]]) -> str:
    """Return records as one HTML table, a column per key in order of first appearance (floats to 4 digits)."""
    columns = list(dict.fromkeys(key for row in rows for key in row))
    head = "".join(f"<th>{escape(str(column))}</th>" for column in columns)
    body = "".join("<tr>" + "".join(f"<td>{escape(_short(row.get(column, '')))}</td>" for column in columns)
                   + "</tr>" for row in rows)
    return f"<table>{head and f'<tr>{head}</tr>'}{body}</table>"


def _short(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def figure_html(figure: EmbeddedFigure) -> str:
    """Return a <figure> with the PNG embedded as a data URI."""
    data = base64.b64encode(figure.png).decode("ascii")
    return (f'<figure id="{escape(figure.name)}"><h3>{escape(figure.heading)}</h3>'
            f'<img alt="{escape(figure.heading)}" src="data:image/png;base64,{data}">'
            f"<figcaption>{escape(figure.caption)}</figcaption></figure>")


def report_page(title: str, subtitle: str, sections: Sequence[tuple[str, str, str]]) -> str:
    """Return the whole HTML document; `sections` are (anchor, heading, inner HTML) in page order."""
    body = "".join(f'<section id="{escape(anchor)}"><h2>{escape(heading)}</h2>{inner}</section>'
                   for anchor, heading, inner in sections)
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{escape(title)}</title>'
            f"<style>{_STYLE}</style></head><body><h1>{escape(title)}</h1>"
            f'<p class="meta">{escape(subtitle)}</p>{body}</body></html>\n')

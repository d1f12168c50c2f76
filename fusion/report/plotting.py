"""Figures without pyplot: matplotlib Figures render with Agg, so plotting needs no display and no global state."""
from __future__ import annotations

import io
import textwrap
from collections.abc import Sequence
from pathlib import Path

from matplotlib.figure import Figure

from twostream.data.io import write_bytes_atomic

DPI = 100
CORRECT_COLOR = "#1a9850"
WRONG_COLOR = "#d73027"
SPATIAL_COLOR = "#4575b4"
TEMPORAL_COLOR = "#f46d43"


def new_figure(width: float, height: float) -> Figure:
    """Return an empty figure of the given size in inches, laid out with constrained layout."""
    return Figure(figsize=(width, height), dpi=DPI, layout="constrained")


def figure_png(figure: Figure) -> bytes:
    """Return the figure rendered as PNG bytes."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=DPI, facecolor="white")
    return buffer.getvalue()


def save_png(figure: Figure, path: Path | str) -> Path:
    """Write the figure as a PNG file and return its path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    return write_bytes_atomic(path, figure_png(figure))


def class_name(index: int, class_names: Sequence[str] | None) -> str:
    """Return a class's name, or 'class <index>' when names are unknown."""
    if class_names is not None and 0 <= index < len(class_names):
        return class_names[index]
    return f"class {index}"


def wrapped(text: str, width: int) -> str:
    """Return `text` broken into lines of at most `width` characters (words kept whole), for titles and ticks
    that would otherwise run into their neighbours or off the figure."""
    return "\n".join(textwrap.wrap(text, width, break_long_words=False)) or text


PANEL_TITLE_SIZE = 9  # points


def panel_title(text: str, panel_inches: float) -> str:
    """`text` wrapped to what a panel `panel_inches` wide holds at PANEL_TITLE_SIZE points (about 9 characters
    an inch), so side-by-side panels' titles never run into each other."""
    return wrapped(text, max(12, int(panel_inches * 9)))

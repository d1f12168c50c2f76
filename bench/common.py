"""Shared pieces of the benchmarks: locating inputs, timing, and printing a table with JSON beside it."""
from __future__ import annotations

import json
import platform
import time
from pathlib import Path
from typing import Any, Callable

from twostream.data.reference_data import shared_data_dir

RESULTS = Path(__file__).resolve().parent / "results"


def shared_clips() -> dict[str, Path]:
    """The real clips of the shared data, by short name (empty when the shared data is absent)."""
    root = shared_data_dir()
    if root is None:
        return {}
    return {"ucf101": root / "videos" / "v_ApplyEyeMakeup_sample.avi",
            "kinetics": root / "videos" / "kinetics_sample_340x256.mp4"}


def timed(function: Callable[[], Any], repeat: int = 1) -> tuple[float, Any]:
    """Run `function` `repeat` times; return the best wall time in seconds and the last result."""
    best, result = float("inf"), None
    for _ in range(repeat):
        start = time.perf_counter()
        result = function()
        best = min(best, time.perf_counter() - start)
    return best, result


def print_table(rows: list[dict[str, Any]]) -> None:
    """Print rows as an aligned table, one column per key found in any row."""
    columns = list(dict.fromkeys(key for row in rows for key in row))
    cells = [[_format(row.get(column, "")) for column in columns] for row in rows]
    widths = [max(len(column), *(len(row[i]) for row in cells)) for i, column in enumerate(columns)]
    print("  ".join(column.ljust(width) for column, width in zip(columns, widths)))
    print("  ".join("-" * width for width in widths))
    for row in cells:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths)))


def report(name: str, rows: list[dict[str, Any]], out: str | Path | None = None, **context: Any) -> Path:
    """Print rows as an aligned table and write them, with machine context, as JSON."""
    print_table(rows)
    target = Path(out) if out else RESULTS / f"{name}.json"
    target.parent.mkdir(parents=True, exist_ok=True)
    payload = {"benchmark": name, "machine": {"cpu": platform.processor() or platform.machine(),
                                              "python": platform.python_version()},
               **context, "rows": rows}
    target.write_text(json.dumps(payload, indent=1) + "\n")
    print(f"\nwritten: {target}")
    return target


def _format(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.3g}" if abs(value) < 1000 else f"{value:.0f}"
    return str(value)

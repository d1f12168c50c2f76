"""Shared pieces of the benchmarks: locating inputs, timing, and printing a table with JSON beside it."""
from __future__ import annotations

import datetime
import json
import os
import platform
import shlex
import sys
import time
from pathlib import Path
from typing import Any, Callable

from twostream.data.reference_data import shared_data_dir
from twostream.data.tables import cell_text

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
    cells = [[cell_text(row.get(column, "")) for column in columns] for row in rows]
    widths = [max(len(column), *(len(row[i]) for row in cells)) for i, column in enumerate(columns)]
    print("  ".join(column.ljust(width) for column, width in zip(columns, widths)))
    print("  ".join("-" * width for width in widths))
    for row in cells:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths)))


def report(name: str, rows: list[dict[str, Any]], out: str | Path | None = None, **context: Any) -> Path:
    """Print rows as an aligned table and write them, with machine context, as JSON."""
    print_table(rows)
    return write_results(name, out, **context, rows=rows)


def write_results(name: str, out: str | Path | None = None, **payload: Any) -> Path:
    """Write a benchmark's results as JSON to `out` (default results/<name>.json), after its name and
    provenance; return the path."""
    target = Path(out) if out else RESULTS / f"{name}.json"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps({"benchmark": name, **provenance(), **payload}, indent=1) + "\n")
    print(f"\nwritten: {target}")
    return target


def provenance() -> dict[str, Any]:
    """What a benchmark's JSON records of its making: the command, the machine and the date (UTC)."""
    return {"command": command_line(), "machine": machine(),
            "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")}


def command_line() -> str:
    """The command that ran this benchmark, as a user would type it from the repository root."""
    script = Path(sys.argv[0]).resolve()
    shown = script.relative_to(RESULTS.parent.parent) if script.is_relative_to(RESULTS.parent.parent) else script
    return shlex.join(["python", str(shown), *sys.argv[1:]])


def machine() -> dict[str, Any]:
    """The machine a figure was measured on: CPU model, cores, GPU (if torch sees one), Python and torch."""
    cpu = platform.processor() or platform.machine()
    info = Path("/proc/cpuinfo")
    if info.is_file():
        names = [line.split(":", 1)[1].strip() for line in info.read_text().splitlines()
                 if line.startswith("model name")]
        cpu = names[0] if names else cpu
    import torch

    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    return {"cpu": cpu, "cores": os.cpu_count(), "gpu": gpu, "python": platform.python_version(),
            "torch": torch.__version__}

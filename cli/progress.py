"""Progress display for long jobs: items done, rate and time left, on one refreshed stderr line."""
from __future__ import annotations

import sys
import time
from typing import TextIO


class ProgressPrinter:
    """A callable `progress(done, total, failed=0)` that prints done/total, rate and time left."""

    def __init__(self, unit: str = "videos", stream: TextIO | None = None, min_interval: float = 0.5) -> None:
        self.unit, self.min_interval = unit, min_interval
        self.stream = stream if stream is not None else sys.stderr
        self.start = time.monotonic()
        self.last = 0.0
        self.interactive = self.stream.isatty()

    def __call__(self, done: int, total: int, failed: int = 0) -> None:
        now = time.monotonic()
        if done < total and now - self.last < self.min_interval:
            return
        self.last = now
        elapsed = max(now - self.start, 1e-9)
        rate = done / elapsed
        left = (total - done) / rate if rate > 0 else float("nan")
        failures = f", {failed} failed" if failed else ""
        line = f"{done}/{total} {self.unit} ({rate:.2f}/s, {format_seconds(left)} left{failures})"
        if self.interactive:
            self.stream.write("\r" + line + ("\n" if done >= total else ""))
        else:
            self.stream.write(line + "\n")
        self.stream.flush()


def format_seconds(seconds: float) -> str:
    """Format a duration as 1h02m, 3m05s or 12s."""
    if seconds != seconds:  # NaN: no rate yet
        return "?"
    seconds = int(round(seconds))
    if seconds >= 3600:
        return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
    if seconds >= 60:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds}s"

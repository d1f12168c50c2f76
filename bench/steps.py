"""Running one step of a check: a command under a time limit, its output echoed and its outcome recorded.

A step's command runs in its own process group, so that a time-out, or the check's own interruption, ends
the processes it started too; it stays in the check's session, so that whatever ends the session ends it.
"""
from __future__ import annotations

import json
import os
import re
import shlex
import signal
import subprocess
import sys
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

TAIL_LINES = 25
# torch's logged warnings ("W1202 14:38:35.435000 ...") and Python's ("...Warning: ...")
WARNING_LINE = re.compile(r"^W\d{4} \d\d:\d\d:\d\d|\w+Warning: ")
MAX_WARNINGS = 10
OWN_GROUP = {"process_group": 0} if sys.version_info >= (3, 11) else {"preexec_fn": os.setpgrp}


def read_json(path: Path) -> dict[str, Any]:
    """The JSON object in `path`."""
    return json.loads(path.read_text())


@dataclass
class Step:
    """One command of a check. `results` (when set) is the file it writes, read by `load` (JSON by default)
    and merged into its record; `judge` may turn a clean exit into "skipped" by returning the reason. An
    `optional` step starts only with its whole time limit left."""

    name: str
    command: list[str]
    timeout_s: float
    results: Path | None = None
    load: Callable[[Path], dict[str, Any]] = read_json
    judge: Callable[[dict[str, Any]], str | None] | None = None
    optional: bool = False


@dataclass
class Outcome:
    """What running a step gave: status ok, failed or skipped, why when not ok, and its merged results."""

    name: str
    status: str
    seconds: float = 0.0
    timeout_s: float = 0.0
    reason: str | None = None
    command: list[str] = field(default_factory=list)
    results: dict[str, Any] | None = None
    warnings: list[str] = field(default_factory=list)
    log_tail: list[str] = field(default_factory=list)

    def record(self) -> dict[str, Any]:
        """The outcome as a JSON-ready dict (the command as one shell line), without empty fields."""
        record = {**self.__dict__, "command": shlex.join(self.command)}
        return {key: value for key, value in record.items() if value not in (None, "", [], {})}


def skipped(step: Step, reason: str) -> Outcome:
    """The outcome of a step that was not run."""
    return Outcome(step.name, "skipped", timeout_s=step.timeout_s, reason=reason, command=step.command)


def run_step(step: Step, cwd: Path | None = None, env: dict[str, str] | None = None) -> Outcome:
    """Run `step` within its time limit, echoing its output; never raises for the step's own failure."""
    tail: deque[str] = deque(maxlen=TAIL_LINES)
    warnings: list[str] = []
    start = time.perf_counter()
    if step.results is not None and step.results.exists():
        step.results.unlink()  # a stale file must not pass for this run's results
    try:
        process = subprocess.Popen(step.command, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                   text=True, errors="replace", **OWN_GROUP)
    except OSError as error:
        return Outcome(step.name, "failed", timeout_s=step.timeout_s, reason=f"could not start: {error}",
                       command=step.command)
    reader = threading.Thread(target=_echo, args=(process, step.name, tail, warnings), daemon=True)
    reader.start()
    timed_out = False
    try:
        process.wait(timeout=step.timeout_s)
    except subprocess.TimeoutExpired:
        timed_out = True
        _end_group(process)
    except BaseException:  # interrupted (Ctrl-C, SIGTERM): take the step's processes along
        _end_group(process)
        raise
    reader.join(timeout=5)
    outcome = Outcome(step.name, "ok", time.perf_counter() - start, step.timeout_s, command=step.command,
                      warnings=warnings, log_tail=list(tail))
    if timed_out:
        outcome.status, outcome.reason = "failed", f"timed out after {step.timeout_s:.0f} s"
    elif process.returncode != 0:
        last = next((line for line in reversed(tail) if line.strip()), "no output")
        outcome.status, outcome.reason = "failed", f"exit code {process.returncode}: {last.strip()}"
    if step.results is not None and step.results.exists():
        try:
            outcome.results = step.load(step.results)
        except (OSError, ValueError) as error:
            if outcome.status == "ok":
                outcome.status, outcome.reason = "failed", f"unreadable results {step.results}: {error}"
    elif step.results is not None and outcome.status == "ok":
        outcome.status, outcome.reason = "failed", f"no results written to {step.results}"
    if outcome.status == "ok" and step.judge is not None and outcome.results is not None:
        reason = step.judge(outcome.results)
        if reason:
            outcome.status, outcome.reason = "skipped", reason
    if outcome.status == "ok":
        outcome.log_tail = []  # the results tell it all; the tail stays for whoever must find out why
    return outcome


def _echo(process: subprocess.Popen, name: str, tail: deque[str], warnings: list[str]) -> None:
    for line in process.stdout:
        sys.stdout.write(f"[{name}] {line}")
        sys.stdout.flush()
        tail.append(line.rstrip("\n"))
        if WARNING_LINE.search(line) and len(warnings) < MAX_WARNINGS and line.strip() not in warnings:
            warnings.append(line.strip())


def _end_group(process: subprocess.Popen, grace_s: float = 3) -> None:
    """Terminate the step's process group, then kill whatever of it is left after a short grace."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            return
        try:
            process.wait(timeout=grace_s)
        except subprocess.TimeoutExpired:
            pass

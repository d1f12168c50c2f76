"""One GPU check: our TV-L1 on CUDA first (batches 64 to 256, compiled and in Triton kernels, measured against
the modelled figure), its tests, the other tests marked cuda, eager TV-L1 (batch 1 to 256, iterations),
extract-features with and without AMP and the fusion cache, each step under a time limit and all of it
within a time budget, into one JSON file; a summary table at the end.

bench/gpu_check.sh sets the environment up and then runs this with the set-up's time and log. Directly:
python bench/gpu_check.py [--device cuda] [--out bench/results/gpu_check.json] [--steps tests,flow_eager]
A failing step is recorded and the next one runs; the exit code is 0 only when the set-up and every
selected step passed.
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from common import RESULTS, print_table
from gpu_plan import LIMITS_S, SIZES, headline, plan
from steps import Outcome, Step, run_step, skipped

ROOT = Path(__file__).resolve().parent.parent
BUDGET_S = 480
MIN_STEP_S = 10  # a step is not started with less of the budget left
SETUP_LOG_LINES = 40
ENVIRONMENT = """
import json, os, platform
info = {"python": platform.python_version(), "platform": platform.platform(), "cpu_cores": os.cpu_count()}
try:
    import torch
    info.update(torch=torch.__version__, cuda=torch.version.cuda, cuda_available=torch.cuda.is_available(),
                gpu=None, gpu_count=torch.cuda.device_count())
    if torch.cuda.is_available():
        properties = torch.cuda.get_device_properties(0)
        info.update(gpu=torch.cuda.get_device_name(0), gpu_memory_bytes=properties.total_memory,
                    cudnn=torch.backends.cudnn.version())
except Exception as error:
    info["torch_error"] = repr(error)
try:
    import cv2
    info.update(opencv=cv2.__version__, cv2_optflow=hasattr(cv2, "optflow"))
except Exception as error:
    info["opencv_error"] = repr(error)
print(json.dumps(info))
"""


def environment(python: str) -> dict[str, Any]:
    """GPU name, torch, CUDA and OpenCV versions as `python` sees them (and the driver, where nvidia-smi is)."""
    try:
        done = subprocess.run([python, "-c", ENVIRONMENT], capture_output=True, text=True, timeout=120)
        info = json.loads(done.stdout.strip().splitlines()[-1]) if done.returncode == 0 else \
            {"error": done.stderr.strip().splitlines()[-1:] or f"exit code {done.returncode}"}
    except (OSError, subprocess.TimeoutExpired, ValueError, IndexError) as error:
        info = {"error": repr(error)}
    if shutil.which("nvidia-smi"):
        query = subprocess.run(["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"],
                               capture_output=True, text=True, timeout=30)
        info["driver"] = query.stdout.strip() or None
    return info


def setup_record(status: str, seconds: float | None, log: Path | None) -> dict[str, Any]:
    """What the set-up reported: status, seconds and the end of its log."""
    record: dict[str, Any] = {"status": status, "seconds": seconds}
    if log is not None and log.exists():
        record["log"] = log.read_text(errors="replace").splitlines()[-SETUP_LOG_LINES:]
    return record


def run_all(steps: list[Step], selected: set[str], deadline: float, write: Any) -> list[Outcome]:
    """Run the selected steps in order, each within its limit and the time left; `write` after each."""
    outcomes: list[Outcome] = []
    for step in steps:
        left = deadline - time.monotonic()
        if step.name not in selected:
            outcome = skipped(step, "not selected (--steps)")
        elif left < (step.timeout_s if step.optional else MIN_STEP_S):
            outcome = skipped(step, f"time budget spent ({left:.0f} s left)")
        else:
            step.timeout_s = min(step.timeout_s, left)
            print(f"\n=== {step.name} (limit {step.timeout_s:.0f} s): {' '.join(step.command)}", flush=True)
            try:
                outcome = run_step(step, cwd=ROOT, env={**os.environ, "PYTHONUNBUFFERED": "1"})
            except BaseException:  # the check itself was interrupted: say where, then stop
                write([*outcomes, Outcome(step.name, "failed", timeout_s=step.timeout_s, reason="interrupted",
                                          command=step.command)])
                raise
        outcomes.append(outcome)
        write(outcomes)
    return outcomes


def passed(setup: dict[str, Any], outcomes: list[Outcome], selected: set[str]) -> bool:
    """Whether the set-up and every selected step passed."""
    return setup["status"] in ("ok", "none") and all(o.status == "ok" for o in outcomes if o.name in selected)


def summary(check: dict[str, Any], outcomes: list[Outcome]) -> None:
    """Print the check's summary table."""
    env = check["environment"]
    print(f"\nGPU check on {env.get('gpu') or 'no GPU'} (torch {env.get('torch')}, CUDA {env.get('cuda')}), "
          f"{check['seconds']:.0f} s of a {check['budget_s']} s budget")
    setup = check["setup"]
    rows = [{"step": "setup", "status": setup["status"], "seconds": setup["seconds"] or 0.0, "limit_s": "",
             "result": ""}]
    rows += [{"step": o.name, "status": o.status, "seconds": o.seconds, "limit_s": o.timeout_s,
              "result": headline(o.name, o.results) if o.status == "ok" else (o.reason or "")} for o in outcomes]
    print_table(rows)
    print(f"\n{'all passed' if check['ok'] else 'NOT all passed'}; written: {check['out']}")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=RESULTS / "gpu_check.json", help="the JSON file to write")
    parser.add_argument("--device", default="cuda", help="device of extract-features and the fusion cache")
    parser.add_argument("--steps", default=",".join(LIMITS_S),
                        help=f"comma-separated steps to run (default all: {','.join(LIMITS_S)})")
    parser.add_argument("--sizes", choices=tuple(SIZES), default="gpu", help="gpu, or tiny to test the check on a CPU")
    parser.add_argument("--timeout", action="append", default=[], metavar="STEP=SECONDS",
                        help="another time limit for one step; repeatable")
    parser.add_argument("--budget", type=float, default=BUDGET_S,
                        help=f"seconds for the whole check, set-up included (default {BUDGET_S})")
    parser.add_argument("--test-paths", nargs="+", default=["tests"], help="where the tests step looks for tests")
    parser.add_argument("--setup-seconds", type=float, help="seconds the set-up took (from gpu_check.sh)")
    parser.add_argument("--setup-status", choices=("ok", "failed", "none"), default="none",
                        help="the set-up's outcome (none: this was run without gpu_check.sh)")
    parser.add_argument("--setup-log", type=Path, help="the set-up's log, whose end goes into the JSON")
    args = parser.parse_args(argv)
    args.selected = {name.strip() for name in args.steps.split(",") if name.strip()}
    unknown = args.selected - set(LIMITS_S)
    if unknown:
        parser.error(f"unknown step(s) {', '.join(sorted(unknown))}; the steps are {', '.join(LIMITS_S)}")
    try:
        args.limits = {name: float(seconds) for name, seconds in (item.split("=", 1) for item in args.timeout)}
    except ValueError:
        parser.error("--timeout takes STEP=SECONDS")
    if set(args.limits) - set(LIMITS_S):
        parser.error(f"--timeout: unknown step(s) {', '.join(sorted(set(args.limits) - set(LIMITS_S)))}")
    return args


def main(argv: list[str] | None = None) -> int:
    """Run the check, write the JSON after every step, print the summary; 0 when all passed."""
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(128 + signal.SIGTERM))  # ends the running step too
    start = time.monotonic()
    deadline = start + args.budget - (args.setup_seconds or 0.0)
    setup = setup_record(args.setup_status, args.setup_seconds, args.setup_log)
    check: dict[str, Any] = {"check": "gpu_check", "date": datetime.datetime.now(datetime.timezone.utc).isoformat(),
                             "ok": False, "device": args.device, "sizes": args.sizes, "budget_s": args.budget,
                             "seconds": 0.0, "out": str(args.out), "environment": environment(sys.executable),
                             "setup": setup, "steps": []}

    def write(outcomes: list[Outcome]) -> None:
        check.update(ok=passed(setup, outcomes, args.selected), steps=[o.record() for o in outcomes],
                     seconds=(args.setup_seconds or 0.0) + time.monotonic() - start)
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(check, indent=1) + "\n")

    with tempfile.TemporaryDirectory(prefix="gpu_check-") as work:
        steps = plan(sys.executable, args.device, args.sizes, work=Path(work), test_paths=args.test_paths, root=ROOT)
        for step in steps:
            step.timeout_s = args.limits.get(step.name, step.timeout_s)
        outcomes = run_all(steps, args.selected, deadline, write)
    write(outcomes)
    summary(check, outcomes)
    return 0 if check["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())

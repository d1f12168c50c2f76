"""Command-line options shared by every batch command (where tasks run, how failures are retried) and how each
reports its batch."""
from __future__ import annotations

import argparse
from typing import Any

from twostream.data.errors import TwostreamError
from twostream.pipeline.batch import Execution


def add_execution_arguments(parser: argparse.ArgumentParser) -> None:
    """Register --scheduler, --workers, --threads, --no-cluster and --retries."""
    group = parser.add_argument_group("execution")
    group.add_argument("--scheduler", metavar="ADDRESS",
                       help="submit the tasks to an existing dask scheduler (tcp://HOST:PORT)")
    group.add_argument("--workers", type=int,
                       help="worker processes of the local dask cluster (default: one per core)")
    group.add_argument("--threads", type=int, metavar="N",
                       help="tasks each worker of the local dask cluster runs at once, in threads (default 1)")
    group.add_argument("--no-cluster", action="store_true", help="run every task in this process (debugging)")
    group.add_argument("--retries", type=int, default=2, help="retries of a failed video before it is recorded")


def execution_from_args(args: argparse.Namespace) -> Execution:
    """Build the Execution the options describe."""
    if args.threads is not None and args.threads < 1:
        raise TwostreamError(f"--threads must be a whole number >= 1, got {args.threads}")
    return Execution(scheduler=args.scheduler, workers=args.workers, no_cluster=args.no_cluster,
                     retries=args.retries, threads_per_worker=args.threads or 1)


def report_batch(summary: Any, written: str, missing: str = "") -> int:
    """Print a batch's one-line outcome (`written`, then what was skipped, failed, `missing` and found held or
    complete when reached) and a line per failed video; return the exit code: 1 if any video failed, else 0."""
    print(f"{summary.store}: {written}, {summary.skipped} already present, {len(summary.failed)} failed" + missing
          + (f", {len(summary.elsewhere)} held by another job or complete when reached" if summary.elsewhere else ""))
    for video_id, error in summary.failed.items():
        print(f"  FAILED {video_id}: {error}")
    return 1 if summary.failed else 0

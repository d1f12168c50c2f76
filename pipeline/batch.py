"""Running one task per video as a batch: on a dask cluster (local by default) or in-process.

A task that fails with one of our errors (`TwostreamError`: a missing, empty, undecodable or too
short video, a bad setting) fails the same way every time: it is recorded at once. Anything else (a
lost worker, an I/O error) may pass next time: it is retried, then reported. Either way the batch
goes on with the rest.
"""
from __future__ import annotations

import logging
import os
import time
import traceback
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

from twostream.data.errors import TwostreamError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Task:
    """One unit of work: `function(*args)` identified by `key` (a video id)."""

    key: str
    function: Callable[..., Any]
    args: tuple = ()


@dataclass
class BatchResult:
    """What a batch produced: results of the tasks that succeeded and errors of those that failed."""

    results: dict[str, Any] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    attempts: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0


@dataclass(frozen=True)
class Execution:
    """Where tasks run: an existing cluster (`scheduler`), a LocalCluster of `workers`, or in-process."""

    scheduler: str | None = None
    workers: int | None = None
    no_cluster: bool = False
    retries: int = 2
    threads_per_worker: int = 1

    def local_workers(self) -> int:
        """Worker processes for a LocalCluster: one per core unless told."""
        return max(1, self.workers or os.cpu_count() or 1)


BatchProgress = Callable[[int, int, int], None]  # called with (done, total, failed) as videos finish


@dataclass(frozen=True)
class PermanentFailure:
    """What a task returns instead of raising when its error would recur on every try."""

    error: str


def settled(function: Callable[..., Any], *args: Any) -> Any:
    """Run `function(*args)`; return a `PermanentFailure` for one of our errors (no retry can help), so a
    scheduler's retries are spent only on what may pass next time."""
    try:
        return function(*args)
    except TwostreamError as error:
        log.debug("%s", traceback.format_exc())
        return PermanentFailure(_describe(error))


def run_batch(tasks: Sequence[Task], execution: Execution = Execution(),
              progress: BatchProgress | None = None,
              on_result: Callable[[str, Any], None] | None = None,
              on_error: Callable[[str, str, int], None] | None = None) -> BatchResult:
    """Run every task, retrying failures; call `on_result`/`on_error` in the driver as each one ends."""
    started = time.monotonic()
    batch = BatchResult()
    if tasks:
        if execution.no_cluster:
            _run_in_process(tasks, execution.retries, batch, progress, on_result, on_error)
        else:
            _run_on_dask(tasks, execution, batch, progress, on_result, on_error)
    batch.seconds = time.monotonic() - started
    return batch


def _record(batch: BatchResult, key: str, outcome: Any, error: str | None, attempts: int,
            on_result, on_error) -> None:
    batch.attempts[key] = attempts
    if error is None:
        batch.results[key] = outcome
        if on_result:
            on_result(key, outcome)
    else:
        batch.errors[key] = error
        log.debug("task %s failed after %d attempts: %s", key, attempts, error)
        if on_error:
            on_error(key, error, attempts)


def _describe(error: BaseException) -> str:
    text = str(error) or type(error).__name__
    if not hasattr(error, "path") and type(error).__module__.split(".")[0] != "twostream":
        text = f"{type(error).__name__}: {text}"
    return text


def _run_in_process(tasks, retries, batch, progress, on_result, on_error) -> None:
    for index, task in enumerate(tasks, 1):
        error, outcome, attempts = None, None, 0
        for attempts in range(1, retries + 2):
            try:
                outcome, error = settled(task.function, *task.args), None
            except Exception as caught:  # noqa: BLE001 - recorded and reported per task
                error = _describe(caught)
                log.debug("%s", traceback.format_exc())
                continue
            if isinstance(outcome, PermanentFailure):
                outcome, error = None, outcome.error
            break
        _record(batch, task.key, outcome, error, attempts, on_result, on_error)
        if progress:
            progress(index, len(tasks), len(batch.errors))


def _run_on_dask(tasks, execution: Execution, batch, progress, on_result, on_error) -> None:
    import dask
    from dask.distributed import Client, LocalCluster, as_completed

    cluster = None
    if execution.scheduler:
        client = Client(execution.scheduler)
    else:
        # dask's workers return freed memory to the system at once (MALLOC_TRIM_THRESHOLD_), which makes
        # every large torch temporary a fresh page-faulting allocation: TV-L1 ran 1.5x slower under it.
        with dask.config.set({"distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": None}):
            cluster = LocalCluster(n_workers=execution.local_workers(),
                                   threads_per_worker=execution.threads_per_worker, processes=True,
                                   # worker processes log to their own stderr, past our handlers; a worker that
                                   # heartbeats while the scheduler shuts down logs an ERROR with a traceback. What a
                                   # user needs from workers comes back here: task errors in futures, deaths from
                                   # the nanny, which runs in this process
                                   dashboard_address=None, silence_logs=logging.CRITICAL,
                                   # the scheduler's HTTP server still starts: on a free port, so two jobs on one
                                   # machine do not warn that 8787 is taken
                                   scheduler_kwargs={"dashboard": False, "dashboard_address": ":0"})
        client = Client(cluster)
    try:
        futures = {client.submit(settled, task.function, *task.args, key=f"twostream-{task.key}-{os.urandom(4).hex()}",
                                 retries=execution.retries, pure=False): task.key for task in tasks}
        # as_completed waits on the default client's loop, which is a caller's own client inside `with Client()`;
        # a result lost with its worker is then gathered again on our loop and dask refuses the other loop's wait
        for done, future in enumerate(as_completed(futures, loop=client.loop), 1):
            key = futures[future]
            outcome = future.result() if future.status == "finished" else None
            if isinstance(outcome, PermanentFailure):
                _record(batch, key, None, outcome.error, 1, on_result, on_error)
            elif future.status == "finished":
                _record(batch, key, outcome, None, 1, on_result, on_error)
            else:
                _record(batch, key, None, _describe(future.exception()), execution.retries + 1, on_result, on_error)
            if progress:
                progress(done, len(tasks), len(batch.errors))
    finally:
        client.close()
        if cluster is not None:
            cluster.close()

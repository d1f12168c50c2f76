"""Frame pairs from several videos solved together: one solver thread per device and setting in a process.

On a GPU one video's pairs rarely fill a batch (a UCF101 clip has about 175, its last window fewer)
and the device would wait while each video is decoded. Here the videos a worker extracts at once, one
per thread, hand their windows of frames to one `SharedFlowSolver`; its thread solves whatever pairs
are waiting, up to `batch_pairs` of one frame size, as one batch, while the callers go on decoding.
Every pair converges on its own (converged pairs are frozen), so the flow does not depend on which
pairs share a batch. Memory is bounded: callers wait while `max_queued_pairs` pairs are queued, and a
batch holds at most the pairs the device takes at that frame size.
"""
from __future__ import annotations

import logging
import threading
from collections import deque
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from twostream.pipeline.flow.base import check_frames, check_pair_count

log = logging.getLogger(__name__)

IDLE_EXIT_S = 30.0  # the solver thread ends after this long without work; the next submit starts another
MAX_QUEUED_PAIRS = 512  # host memory: two full GPU batches of frames waiting
BATCHES_RECORDED = 4096
PairSolver = Callable[[np.ndarray, np.ndarray], np.ndarray]  # (B, H, W) uint8 twice -> (B, H, W, 2) float32


@dataclass(eq=False)
class _Window:
    """One caller's consecutive frames and the flow filled in as its pairs are solved."""

    frames: np.ndarray
    future: Future
    flow: np.ndarray = field(init=False)
    next_pair: int = 0  # the first pair not yet taken into a batch
    unsolved: int = field(init=False)

    def __post_init__(self) -> None:
        pairs, height, width = self.frames.shape[0] - 1, *self.frames.shape[1:]
        self.flow = np.empty((pairs, height, width, 2), np.float32)
        self.unsolved = pairs

    @property
    def size(self) -> tuple[int, int]:
        return self.frames.shape[1], self.frames.shape[2]

    @property
    def pairs(self) -> int:
        return self.frames.shape[0] - 1

    @property
    def all_taken(self) -> bool:
        return self.next_pair == self.pairs


Run = tuple[_Window, int, int]  # a window and the range of its pairs taken into one batch


class SharedFlowSolver:
    """Solves the frame pairs that threads submit in shared batches on one thread of its own.

    `solve(first, second)` computes the flow of stacked pairs (the same for any batch); it only ever
    runs on this solver's thread, so a GPU is driven from one thread. `batch_pairs(height, width)` is
    how many pairs of that size one batch may hold, asked for each batch on the solver's thread.
    Callers wait while `max_queued_pairs` pairs are queued or being solved.
    """

    def __init__(self, solve: PairSolver, batch_pairs: Callable[[int, int], int],
                 max_queued_pairs: int = MAX_QUEUED_PAIRS) -> None:
        check_pair_count(max_queued_pairs, "max_queued_pairs")
        self.solve = solve
        self.batch_pairs = batch_pairs
        self.max_queued_pairs = int(max_queued_pairs)
        self._windows: deque[_Window] = deque()
        self._queued_pairs = 0
        self._changed = threading.Condition()
        self._thread: threading.Thread | None = None
        self.batches: deque[int] = deque(maxlen=BATCHES_RECORDED)  # pairs per solved batch, latest last

    def submit(self, frames: np.ndarray) -> Future:
        """Queue the pairs of `frames` (N, H, W) uint8; the future's result is their flow (N-1, H, W, 2).

        `frames` must not change until the future is done. Waits while the queue is full, so callers
        cannot run ahead of the solver without bound.
        """
        window = _Window(check_frames(frames), Future())
        with self._changed:
            while self._queued_pairs >= self.max_queued_pairs:
                self._changed.wait()
            self._windows.append(window)
            self._queued_pairs += window.unsolved
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="shared-flow-solver", daemon=True)
                self._thread.start()
            self._changed.notify_all()
        return window.future

    def _take_batch(self) -> list[Run] | None:
        """Under the lock: waiting pairs of the oldest waiting window's frame size, up to a batch, as runs in
        queue order; None once idle for IDLE_EXIT_S (the thread then ends)."""
        while True:
            while self._windows and self._windows[0].all_taken:
                self._windows.popleft()  # every pair taken; the window completes when its batches are solved
            if self._windows:
                break
            if not self._changed.wait(timeout=IDLE_EXIT_S) and not self._windows:
                self._thread = None
                return None
        size = self._windows[0].size
        runs: list[Run] = []
        room = self.batch_pairs(*size)
        for window in self._windows:
            if room == 0:
                break
            if window.size == size and not window.all_taken:
                start, stop = window.next_pair, min(window.pairs, window.next_pair + room)
                window.next_pair = stop
                runs.append((window, start, stop))
                room -= stop - start
        return runs

    def _run(self) -> None:
        runs: list[Run] = []
        try:
            while True:
                with self._changed:
                    runs = self._take_batch()
                if runs is None:
                    return
                try:
                    first = np.concatenate([window.frames[start:stop] for window, start, stop in runs])
                    second = np.concatenate([window.frames[start + 1:stop + 1] for window, start, stop in runs])
                    flow = self.solve(first, second)
                except Exception as error:  # noqa: BLE001 - handed to every caller whose pairs were in the batch
                    log.debug("shared flow batch of %d runs failed", len(runs), exc_info=True)
                    self._fail(runs, error)
                    continue
                self.batches.append(first.shape[0])
                self._deliver(runs, flow)
        except BaseException as error:  # the thread cannot go on: nobody may be left waiting on it
            with self._changed:
                self._thread = None
                waiting = [*runs, *((window, 0, 0) for window in self._windows)]
            self._fail(waiting, error)
            raise

    def _deliver(self, runs: list[Run], flow: np.ndarray) -> None:
        offset, finished = 0, []
        with self._changed:
            for window, start, stop in runs:
                window.flow[start:stop] = flow[offset:offset + stop - start]
                offset += stop - start
                window.unsolved -= stop - start
                self._queued_pairs -= stop - start
                if window.unsolved == 0:
                    finished.append(window)
            self._changed.notify_all()
        for window in finished:
            if window.future.set_running_or_notify_cancel():
                window.future.set_result(window.flow)

    def _fail(self, runs: list[Run], error: BaseException) -> None:
        """Drop the windows of `runs` from the queue and give each caller `error`."""
        failed = list({id(window): window for window, _, _ in runs}.values())
        with self._changed:
            for window in failed:
                if window in self._windows:
                    self._windows.remove(window)
                self._queued_pairs -= window.unsolved
                window.unsolved = 0
                window.next_pair = window.pairs
            self._changed.notify_all()
        for window in failed:
            if not window.future.done() and window.future.set_running_or_notify_cancel():
                window.future.set_exception(error)


_SOLVERS: dict[tuple, SharedFlowSolver] = {}
_SOLVERS_LOCK = threading.Lock()


def shared_solver(key: tuple, solve: PairSolver, batch_pairs: Callable[[int, int], int]) -> SharedFlowSolver:
    """The process's solver for `key` (everything that decides the flow, the device and the batch setting),
    made with `solve` and `batch_pairs` on first use: threads asking with the same key share batches."""
    with _SOLVERS_LOCK:
        solver = _SOLVERS.get(key)
        if solver is None:
            solver = _SOLVERS[key] = SharedFlowSolver(solve, batch_pairs)
        return solver

"""Shared flow batches: pairs of several videos solved together give each video its own flow, in order."""
import threading
import time

import numpy as np
import pytest

from twostream.pipeline.flow import get_flow_algorithm
from twostream.pipeline.flow.errors import FlowError
from twostream.pipeline.flow.shared_batches import SharedFlowSolver
from twostream.pipeline.flow.windows import FlowWindows

FAST = {"device": "cpu", "scales": 2, "warps": 2, "iterations": 40, "inner_iterations": 10}


def _video(seed: int, frames: int, height: int = 24, width: int = 32) -> np.ndarray:
    """Frames of a random texture sliding by a different step per video: (frames, height, width) uint8."""
    rng = np.random.default_rng(seed)
    texture = (rng.random((height + 8, width + 8 * frames)) * 255).astype(np.uint8)
    step = 1 + seed % 3
    return np.stack([texture[4:4 + height, t * step:t * step + width] for t in range(frames)])


def test_pairs_of_several_videos_share_batches_and_get_their_own_flow():
    tvl1 = get_flow_algorithm("tvl1", **FAST)
    videos = [_video(seed, frames) for seed, frames in enumerate((5, 3, 4, 6))]
    solver = SharedFlowSolver(tvl1.solve_pairs, batch_pairs=lambda height, width: 6)
    futures = [solver.submit(frames) for frames in videos]  # queued while the first batch is solved
    for frames, future in zip(videos, futures):
        # bit for bit, any batch: each pair's arithmetic is its own (elementwise ops and stencils, per-pair sums); held
        # on an Intel Xeon and an AMD EPYC
        assert np.array_equal(future.result(timeout=60), tvl1.compute(frames))
    assert sum(solver.batches) == sum(len(v) - 1 for v in videos) and max(solver.batches) == 6
    assert len(solver.batches) < len(videos)  # windows were split and merged across videos


def test_frames_of_another_size_wait_for_a_batch_of_their_own():
    tvl1 = get_flow_algorithm("tvl1", **FAST)
    small, large = _video(0, 4), _video(1, 4, height=30, width=40)
    solver = SharedFlowSolver(tvl1.solve_pairs, batch_pairs=lambda height, width: 8)
    futures = [solver.submit(small), solver.submit(large), solver.submit(small)]
    assert [f.result(timeout=60).shape for f in futures] == [(3, 24, 32, 2), (3, 30, 40, 2), (3, 24, 32, 2)]
    assert np.array_equal(futures[1].result(), tvl1.compute(large))


def test_a_failed_batch_fails_the_windows_in_it_and_the_solver_goes_on():
    calls = []

    def solve(first: np.ndarray, second: np.ndarray) -> np.ndarray:
        calls.append(first.shape[0])
        if len(calls) == 1:
            raise FlowError("out of device memory")
        return np.zeros((*first.shape, 2), np.float32)

    solver = SharedFlowSolver(solve, batch_pairs=lambda height, width: 4)
    failed = solver.submit(_video(0, 3))
    with pytest.raises(FlowError, match="out of device memory"):
        failed.result(timeout=10)
    assert solver.submit(_video(1, 5)).result(timeout=10).shape == (4, 24, 32, 2)


def test_after_a_failed_batch_of_mixed_sizes_every_other_window_is_still_solved():
    release, calls = threading.Event(), []

    def solve(first: np.ndarray, second: np.ndarray) -> np.ndarray:
        calls.append(first.shape)
        if len(calls) == 1:
            release.wait(timeout=10)  # the queue builds up behind the first batch
        if len(calls) == 3:
            raise FlowError("out of device memory")
        return np.zeros((*first.shape, 2), np.float32)

    solver = SharedFlowSolver(solve, batch_pairs=lambda height, width: 4, max_queued_pairs=100)
    blank = lambda frames, height: np.zeros((frames, height, 8), np.uint8)  # noqa: E731
    held = solver.submit(blank(3, 7))
    _wait_for(lambda: calls)
    futures = {name: solver.submit(blank(frames, height))
               for name, frames, height in (("a", 3, 8), ("h", 7, 9), ("m", 3, 8), ("n", 3, 9))}
    release.set()
    assert held.result(timeout=10).shape == (2, 7, 8, 2)
    outcomes = {name: f.exception(timeout=10) is None for name, f in futures.items()}
    # batches: the held one; a and m (8 rows); h's first 4 pairs, which fail; n (and h's rest is dropped)
    assert outcomes == {"a": True, "h": False, "m": True, "n": True}  # only the failed batch's windows fail
    assert solver.submit(blank(3, 8)).result(timeout=10).shape == (2, 8, 8, 2)


def _wait_for(condition, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.005)


def test_callers_wait_while_the_queue_is_full():
    release = threading.Event()

    def solve(first: np.ndarray, second: np.ndarray) -> np.ndarray:
        release.wait(timeout=10)
        return np.zeros((*first.shape, 2), np.float32)

    solver = SharedFlowSolver(solve, batch_pairs=lambda height, width: 2, max_queued_pairs=4)
    first = solver.submit(_video(0, 5))  # 4 pairs: the queue is full
    submitted = threading.Event()
    waiting = threading.Thread(target=lambda: (solver.submit(_video(1, 3)), submitted.set()))
    waiting.start()
    assert not submitted.wait(timeout=0.3)
    release.set()
    assert submitted.wait(timeout=10) and first.result(timeout=10).shape == (4, 24, 32, 2)
    waiting.join()


def test_a_videos_windows_come_back_in_order_whether_shared_or_not():
    tvl1 = get_flow_algorithm("tvl1", batch_size=3, **FAST)
    frames = _video(2, 11)
    for shared in (False, True):
        windows = FlowWindows(tvl1, 24, 32, shared)
        fields = []
        for start in range(0, 10, windows.window_pairs):
            fields += windows.submit(frames[start:start + windows.window_pairs + 1])
        fields += windows.drain()
        assert np.array_equal(np.concatenate(fields), tvl1.compute(frames)), shared
    with pytest.raises(FlowError, match="tvl1"):
        FlowWindows(get_flow_algorithm("farneback"), 24, 32, shared=True)
    with pytest.raises(FlowError, match="one shape"):
        tvl1.solve_pairs(frames[:2], frames[:3])
    with pytest.raises(FlowError, match="uint8"):
        tvl1.solve_pairs(frames[:2].astype(np.float32), frames[1:3].astype(np.float32))

"""A video's flow computed window by window, in order: at once, or through the worker's shared solver."""
from __future__ import annotations

from collections import deque
from concurrent.futures import Future

import numpy as np

from twostream.pipeline.flow.base import FlowAlgorithm
from twostream.pipeline.flow.errors import FlowError
from twostream.pipeline.flow.shared_batches import SharedFlowSolver
from twostream.pipeline.flow.torch_flow import TorchTVL1

SHARED_WINDOW_PAIRS = 32  # pairs a video hands over at once: small enough for several videos to fill a batch
WINDOWS_AHEAD = 2  # windows of one video in flight while it decodes on
SHARING_CHOICES: tuple[str, ...] = ("auto", "on", "off")


class FlowWindows:
    """Hands a video's windows of consecutive frames to `algorithm` and returns their flow in order.

    Not `shared`: each window is solved when submitted. `shared` (tvl1 only): windows go to the
    process's shared solver, whose batches mix the pairs of every video being extracted, and up to
    WINDOWS_AHEAD windows stay in flight so the caller decodes the next frames meanwhile.
    """

    def __init__(self, algorithm: FlowAlgorithm, height: int, width: int, shared: bool) -> None:
        self.algorithm = algorithm
        self.solver: SharedFlowSolver | None = None
        if shared:
            if not isinstance(algorithm, TorchTVL1):
                raise FlowError(f"shared flow batches need --flow tvl1, not {algorithm.name}")
            self.solver = algorithm.shared()
            # a fixed window: the decoding threads make no device calls (one may be capturing a CUDA graph)
            self.window_pairs = min(algorithm.batch_size or SHARED_WINDOW_PAIRS, SHARED_WINDOW_PAIRS)
        else:
            self.window_pairs = algorithm.pairs_per_call(height, width)
        self._in_flight: deque[Future] = deque()

    def submit(self, frames: np.ndarray) -> list[np.ndarray]:
        """Queue the flow of `frames` (N, H, W) uint8; return the fields (M, H, W, 2) of the windows now
        done, oldest first, as one array per window."""
        if self.solver is None:
            return [self.algorithm.compute(frames)]
        self._in_flight.append(self.solver.submit(frames))
        done = []
        while len(self._in_flight) > WINDOWS_AHEAD:
            done.append(self._in_flight.popleft().result())
        return done

    def drain(self) -> list[np.ndarray]:
        """The flow of every window still in flight, oldest first."""
        done = [future.result() for future in self._in_flight]
        self._in_flight.clear()
        return done

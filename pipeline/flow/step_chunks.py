"""Chunks of TV-L1 iterations on fixed buffers, replayed on CUDA as captured graphs.

Between two convergence checks the solver runs a fixed chunk of primal-dual steps (the first of a
round after a median filter). On a GPU each step is a few fused kernels of a few microseconds, so
launching them from Python leaves the device idle at small batches. A `ChunkRunner` keeps the
solver's state in buffers of one batch shape, captures each kind of chunk once as a CUDA graph and
replays it with one launch; every call with that shape reuses the buffers and graphs. Elsewhere it
runs the same chunk function directly, so the CPU runs, and tests, the very code that is captured.
"""
from __future__ import annotations

import logging
import math
import threading
from collections import OrderedDict
from dataclasses import dataclass
import torch

from twostream.pipeline.flow.compiled_step import StepFunction
from twostream.pipeline.flow.imageops import median_filter

log = logging.getLogger(__name__)

BATCH_SIZES_KEPT = 3  # per thread, the runners (one per pyramid level) of the most recently used batch sizes
_CAPTURE_LOCK = threading.Lock()
PAD_STEP = 32  # captured batch sizes: 1, 2, 4, ..., 32, then multiples of 32


@dataclass
class SolverState:
    """What a chunk reads and updates in place, for B pairs of H x W: flows (B, 2, H, W), dual fields
    (2, B, 2, H, W), the linearised data term (B, H, W) x 4, which pairs still run and their iterations (B,)."""

    flow: torch.Tensor
    dual: torch.Tensor
    rho_c: torch.Tensor
    ix: torch.Tensor
    iy: torch.Tensor
    neg_inv_grad: torch.Tensor
    active: torch.Tensor
    iterations: torch.Tensor

    @classmethod
    def empty(cls, batch: int, height: int, width: int, device: torch.device) -> SolverState:
        """Zeroed buffers for `batch` pairs of `height` x `width` on `device`, every pair active."""
        plane = torch.zeros(batch, height, width, device=device)
        return cls(flow=torch.zeros(batch, 2, height, width, device=device),
                   dual=torch.zeros(2, batch, 2, height, width, device=device),
                   rho_c=plane, ix=plane.clone(), iy=plane.clone(), neg_inv_grad=plane.clone(),
                   active=torch.ones(batch, dtype=torch.bool, device=device),
                   iterations=torch.zeros(batch, dtype=torch.int64, device=device))

    def snapshot(self) -> dict[str, torch.Tensor]:
        """Copies of the buffers a chunk changes."""
        return {name: getattr(self, name).clone() for name in ("flow", "dual", "active", "iterations")}

    def restore(self, saved: dict[str, torch.Tensor]) -> None:
        """Write a `snapshot` back into the buffers (their addresses stay)."""
        for name, value in saved.items():
            getattr(self, name).copy_(value)


@dataclass(frozen=True)
class StepConstants:
    """The scalars of one pyramid level's steps: lambda * theta, tau, theta and the epsilon stop's threshold."""

    lambda_theta: float
    tau: float
    theta: float
    threshold: float


def run_chunk(state: SolverState, step: StepFunction, count: int, median_size: int,
              constants: StepConstants, *, into_buffers: bool = True) -> None:
    """`count` primal-dual steps on `state`, after a `median_size` median filter of the active pairs'
    flows when it is above 1; a pair stops (stays unchanged) once its update falls below the threshold.

    The new flow and dual field are copied into the state's buffers (`into_buffers`: what a captured
    graph needs, whose every replay must write the same memory), else the state takes the new tensors."""
    flow, dual, active = state.flow, state.dual, state.active
    if median_size > 1:
        flow = torch.where(active[:, None, None, None], median_filter(flow, median_size), flow)
    for _ in range(count):
        state.iterations.add_(active)
        flow, dual, error = step(flow, dual, state.rho_c, state.ix, state.iy, state.neg_inv_grad, active,
                                 constants.lambda_theta, constants.tau, constants.theta)
        active.logical_and_(error > constants.threshold)
    if into_buffers:
        state.flow.copy_(flow)
        state.dual.copy_(dual)
    else:
        state.flow, state.dual = flow, dual


class ChunkRunner:
    """Runs chunks on one batch shape's `state`; with `graphs`, on CUDA, each kind of chunk, (count, median),
    is captured once and replayed (elsewhere every chunk runs directly). A capture that fails is logged,
    and that chunk runs directly from then on."""

    def __init__(self, state: SolverState, step: StepFunction, constants: StepConstants, graphs: bool) -> None:
        self.state = state
        self.step = step
        self.constants = constants
        self.graphs = graphs and state.flow.device.type == "cuda"
        self._captured: dict[tuple[int, int], torch.cuda.CUDAGraph | None] = {}
        self._pool = torch.cuda.graph_pool_handle() if self.graphs else None

    def run(self, count: int, median_size: int) -> None:
        """One chunk of `count` steps (after a median filter when `median_size` > 1) on the state."""
        key = (count, median_size)
        if self.graphs and key not in self._captured:
            self._captured[key] = self._capture(count, median_size)
        graph = self._captured.get(key)
        if graph is None:
            run_chunk(self.state, self.step, count, median_size, self.constants, into_buffers=self.graphs)
        else:
            graph.replay()

    def _capture(self, count: int, median_size: int) -> torch.cuda.CUDAGraph | None:
        """The chunk as a CUDA graph, or None where capturing it fails; the state is left as it was.

        An error of the warm-up (out of memory, say) is raised: only a capture failure is remembered."""
        saved = self.state.snapshot()
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side):  # warm-up off the capture: compiles the step for this shape
            run_chunk(self.state, self.step, count, median_size, self.constants)
        torch.cuda.current_stream().wait_stream(side)
        graph: torch.cuda.CUDAGraph | None = torch.cuda.CUDAGraph()
        try:
            # one capture at a time in a process; other threads' device calls may go on meanwhile.
            # Every graph's temporaries are dead once it ends, so one pool serves them all in any order.
            with _CAPTURE_LOCK, torch.cuda.graph(graph, pool=self._pool, capture_error_mode="thread_local"):
                run_chunk(self.state, self.step, count, median_size, self.constants)
        except RuntimeError as error:
            log.warning("TV-L1 chunk of %d steps not captured as a CUDA graph (%s); launching it step by step",
                        count, error)
            graph = None
        self.state.restore(saved)
        return graph


def padded_batch(pairs: int, limit: int) -> int:
    """The batch `pairs` pairs are padded to so that few shapes are captured: the next power of two up to
    PAD_STEP, then the next multiple of PAD_STEP, but never above `limit` (the batch memory allows) unless
    `pairs` itself is."""
    bucket = 1 << (pairs - 1).bit_length() if pairs <= PAD_STEP else -(-pairs // PAD_STEP) * PAD_STEP
    return max(pairs, min(bucket, limit))


def chunk_length(sync_every: int, inner_iterations: int) -> int:
    """Steps per chunk: the largest count dividing both the interval between convergence checks and the
    median filter's round, so that every chunk starts a round or lies within one."""
    return math.gcd(max(1, sync_every), inner_iterations)


_RUNNERS = threading.local()


def shared_runner(batch: int, height: int, width: int, device: torch.device, step: StepFunction,
                  *, constants: StepConstants, graphs: bool) -> ChunkRunner:
    """This thread's runner for one batch shape and setting, made on first use: its buffers and graphs
    serve every later call with the same shape (a thread's calls run one after another). The runners of
    the BATCH_SIZES_KEPT batch sizes used last are kept."""
    by_batch = getattr(_RUNNERS, "by_batch", None)
    if by_batch is None:
        by_batch = _RUNNERS.by_batch = OrderedDict()
    batch_key = (batch, str(device), id(step), graphs)
    runners = by_batch.setdefault(batch_key, {})
    by_batch.move_to_end(batch_key)
    while len(by_batch) > BATCH_SIZES_KEPT:  # their buffers and graphs go with them
        by_batch.popitem(last=False)
    key = (height, width, constants)
    if key not in runners:
        runners[key] = ChunkRunner(SolverState.empty(batch, height, width, device), step, constants, graphs)
    return runners[key]


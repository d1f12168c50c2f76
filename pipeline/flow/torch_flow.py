"""Our PyTorch TV-L1 behind the FlowAlgorithm interface: batches of pairs on the CPU or a GPU."""
from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from typing import Any

import numpy as np
import torch

from twostream.data.runtime import opencv, resolve_device
from twostream.pipeline.flow.base import FlowAlgorithm, check_frames, check_pair, check_pair_count
from twostream.pipeline.flow.compiled_step import compiled_step
from twostream.pipeline.flow.errors import FlowError
from twostream.pipeline.flow.params import TVL1Params
from twostream.pipeline.flow.shared_batches import SharedFlowSolver, shared_solver
from twostream.pipeline.flow.step_chunks import padded_batch
from twostream.pipeline.flow.triton_solver import check_triton
from twostream.pipeline.flow.tvl1 import tvl1_flow

log = logging.getLogger(__name__)

# Float32 planes alive per pair at the finest level, including the median filter's temporaries.
PLANES_PER_PAIR = 96
MAX_AUTO_BATCH = 256
GPU_MEMORY_SHARE = 0.6  # of the free memory, leaving room for the allocator and other work
COMPILE_CHOICES: tuple[str, ...] = ("auto", "on", "off", "triton")
GPU_SYNC_EVERY = 10  # iterations between convergence checks on a GPU (each check waits for the device)


def auto_batch_size(device: torch.device, height: int, width: int) -> int:
    """Pairs per batch: 1 on the CPU; on a GPU as many as fit in part of the free memory."""
    if device.type != "cuda":
        return 1
    free, _ = torch.cuda.mem_get_info(device)
    per_pair = PLANES_PER_PAIR * 4 * height * width
    return int(max(1, min(MAX_AUTO_BATCH, free * GPU_MEMORY_SHARE // per_pair)))


@contextlib.contextmanager
def _cpu_threads(threads: int) -> Iterator[None]:
    """Run torch and OpenCV (where installed) with `threads` threads (0: leave them as they are), restoring
    afterwards."""
    if not threads:
        yield
        return
    cv2 = opencv()
    torch_before, cv_before = torch.get_num_threads(), cv2.getNumThreads() if cv2 else None
    torch.set_num_threads(threads)
    if cv2:
        cv2.setNumThreads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(torch_before)
        if cv2:
            cv2.setNumThreads(cv_before)


class TorchTVL1(FlowAlgorithm):
    """TV-L1 in PyTorch, numerically the same method as OpenCV's DualTVL1, batched over pairs.

    `device` None picks CUDA when available, else the CPU. `batch_size` pairs are solved at once
    (None: 1 on the CPU, as many as fit in free GPU memory); `threads` CPU threads per task (1 by
    default, like OpenCV's one thread per task; 0 keeps torch's setting). `compile` "on" runs the
    primal-dual step fused by torch.compile, on CUDA in chunks replayed as CUDA graphs ("auto": on
    CUDA only; within 1e-3 px of eager); "triton" runs each step and median filter as one Triton kernel
    that skips converged pairs (CUDA; on the CPU only under TRITON_INTERPRET=1, for tests). None of
    these changes the result, so none is in `params`.
    """

    name = "tvl1"

    def __init__(self, device: str | torch.device | None = None, batch_size: int | None = None,
                 threads: int = 1, compile: str = "auto", **params: Any) -> None:
        self.tvl1 = TVL1Params.from_kwargs(**params)
        self.device = resolve_device(device)
        if compile not in COMPILE_CHOICES:
            raise FlowError(f"compile {compile!r}: use one of {', '.join(COMPILE_CHOICES)}")
        self.compile = compile
        self.triton = compile == "triton"
        if self.triton:
            check_triton(self.device)
        # auto: the fused step on CUDA, where eager launches dominate; eager on the CPU
        self.step = compiled_step() if compile == "on" or (compile == "auto" and self.device.type == "cuda") else None
        check_pair_count(batch_size, "batch_size")
        if int(threads) != threads or threads < 0:
            raise FlowError(f"threads must be a whole number >= 0 (0: torch's default), got {threads}")
        self.batch_size = batch_size
        self.threads = int(threads)
        self._auto_batches: dict[tuple[int, int], int] = {}

    @property
    def params(self) -> dict[str, Any]:
        return self.tvl1.as_dict()

    def batched(self, pairs: int) -> TorchTVL1:
        """This TV-L1 solving `pairs` frame pairs per batch (the flow is the same for any batch size)."""
        return TorchTVL1(self.device, pairs, self.threads, self.compile, **self.params)

    def pairs_per_call(self, height: int, width: int) -> int:
        """One batch: `batch_size`, else 1 pair on the CPU and as many as fit in free GPU memory, measured
        once per frame size (later batches keep buffers, so the free memory shrinks as they run)."""
        if self.batch_size:
            return self.batch_size
        if (height, width) not in self._auto_batches:
            self._auto_batches[height, width] = auto_batch_size(self.device, height, width)
        return self._auto_batches[height, width]

    def iter_batches(self, frames: np.ndarray) -> Iterator[tuple[int, np.ndarray]]:
        """Yield (start, flow) for consecutive batches of pairs: flow[i] is the field from frame start+i.

        Only one batch is held on the device at a time, so a video of any length fits.
        """
        frames = check_frames(frames)
        pairs = frames.shape[0] - 1
        batch = self.pairs_per_call(*frames.shape[1:])
        for start in range(0, pairs, batch):
            stop = min(start + batch, pairs)
            yield start, self.solve_pairs(frames[start:stop], frames[start + 1:stop + 1])

    def solve_pairs(self, first: np.ndarray, second: np.ndarray) -> np.ndarray:
        """The flow from each of `first` to the same index of `second`, (B, H, W) uint8 each, as one batch
        on this algorithm's device: (B, H, W, 2) float32, whichever pairs share the batch."""
        if getattr(first, "ndim", 0) != 3 or getattr(first, "shape", None) != getattr(second, "shape", None):
            raise FlowError(f"first and second must be (B, H, W) arrays of one shape, got "
                            f"{getattr(first, 'shape', None)} and {getattr(second, 'shape', None)}")
        check_pair(first[0], second[0])  # type, size
        with _cpu_threads(self.threads):
            images = torch.from_numpy(np.stack((first, second))).to(self.device, torch.float32)
            try:
                flow = self._solve(images)
            except (FlowError, torch.OutOfMemoryError):
                raise
            except Exception as error:  # a compiler's failure: torch.compile's or Triton's, whatever its type
                if self.step is None and not self.triton:
                    raise
                fused = "Triton kernels" if self.triton else "compiled step"
                log.warning("TV-L1's %s failed (%s: %s); solving eagerly from now on", fused,
                            type(error).__name__, str(error).splitlines()[0] if str(error) else "")
                self.step, self.triton = None, False
                flow = self._solve(images)
            return flow.permute(0, 2, 3, 1).contiguous().cpu().numpy()

    def _solve(self, images: torch.Tensor) -> torch.Tensor:
        """TV-L1 on the pairs (images[0][i], images[1][i]) already on the device, as this algorithm is set."""
        cuda = self.device.type == "cuda"
        graphs = self.step is not None and cuda
        pad_to = padded_batch(images.shape[1], self.pairs_per_call(*images.shape[2:])) if graphs else None
        return tvl1_flow(images[0], images[1], self.tvl1, sync_every=GPU_SYNC_EVERY if cuda else 1,
                         step=self.step, graphs=graphs, pad_to=pad_to, triton=self.triton)

    def shared(self) -> SharedFlowSolver:
        """The process's shared solver for this setting and device: the threads of one worker that extract
        videos at once solve their pairs together through it, in batches of `pairs_per_call`."""
        key = (self.name, tuple(sorted(self.params.items())), str(self.device), self.compile, self.threads,
               self.batch_size)
        return shared_solver(key, self.solve_pairs, self.pairs_per_call)

    def _compute_checked(self, frames: np.ndarray) -> np.ndarray:
        out = np.empty((frames.shape[0] - 1, *frames.shape[1:], 2), np.float32)
        for start, flow in self.iter_batches(frames):
            out[start:start + flow.shape[0]] = flow
        return out

"""One pyramid level of TV-L1 run by the Triton kernels: pairs stop one by one at no further cost.

The kernels read a per-pair flag in device memory and leave a finished pair untouched, so the host
only looks at the flags every `sync_every` steps, to end the warp once none is left. Each step reads
one pair of buffers and writes the other; a pair that stopped after an odd number of steps has its
fields in the second buffer, gathered back into the first at the end of the warp.
"""
from __future__ import annotations

import os

import torch

from twostream.pipeline.flow.errors import FlowError
from twostream.pipeline.flow.params import TVL1Params

INTERPRET_VARIABLE = "TRITON_INTERPRET"


def triton_unavailable(device: torch.device) -> str | None:
    """Why the Triton kernels cannot run on `device` here, or None when they can: Triton must be installed,
    and a CPU device needs TRITON_INTERPRET=1 (the kernels then run, slowly, in Triton's interpreter)."""
    try:
        import triton  # noqa: F401
    except ImportError:
        return "Triton is not installed: pip install triton (CUDA builds of torch bring it)"
    if device.type == "cpu" and os.environ.get(INTERPRET_VARIABLE) != "1":
        return (f"Triton kernels run on CUDA devices; on the CPU only under {INTERPRET_VARIABLE}=1 (an "
                f"interpreter for tests, far slower than the eager solver)")
    if device.type not in ("cpu", "cuda"):
        return f"Triton kernels run on CUDA devices, not {device.type}"
    return None


def check_triton(device: torch.device) -> None:
    """Raise FlowError saying what to do when the Triton kernels cannot run on `device`."""
    reason = triton_unavailable(device)
    if reason:
        raise FlowError(f"TV-L1 with Triton kernels: {reason}; or run without them (compile auto, on or off)")


class TritonLevel:
    """Flows and dual fields of B pairs at one pyramid level, in two buffers each; kept between warps."""

    def __init__(self, flow: torch.Tensor, params: TVL1Params, threshold: float, sync_every: int) -> None:
        from twostream.pipeline.flow import triton_kernels  # Triton only where these kernels run

        if params.median_filter not in (0, 1, 5):
            raise FlowError(f"the Triton kernels filter with a 5x5 median, not {params.median_filter}x"
                            f"{params.median_filter}; run without them (compile auto, on or off)")
        self.kernels = triton_kernels
        self.params, self.threshold, self.sync_every = params, threshold, max(1, sync_every)
        batch, _, height, width = flow.shape
        self.flows = (flow.contiguous().clone(), torch.empty_like(flow, memory_format=torch.contiguous_format))
        self.duals = (flow.new_zeros(batch, 4, height, width), flow.new_zeros(batch, 4, height, width))
        self.filtered = torch.empty_like(self.flows[0])
        self.active = torch.ones(batch, dtype=torch.int32, device=flow.device)
        self.error = flow.new_zeros(batch)
        self.iterations = torch.zeros(batch, dtype=torch.int64, device=flow.device)
        self.data: tuple[torch.Tensor, ...] = ()

    @property
    def flow(self) -> torch.Tensor:
        """The current flows (B, 2, H, W), between warps."""
        return self.flows[0]

    def linearise(self, rho_c: torch.Tensor, ix: torch.Tensor, iy: torch.Tensor, neg_inv_grad: torch.Tensor) -> None:
        """The data term of the next warp, each (B, H, W)."""
        self.data = tuple(plane.contiguous() for plane in (rho_c, ix, iy, neg_inv_grad))

    def iterate(self) -> tuple[torch.Tensor, int]:
        """One warp's iterations: each pair steps until its update falls below the threshold (the same
        schedule and stop as the eager solver). Returns the iterations per pair (B,) and their sum, the
        pair-iterations computed (a finished pair's programs load and store nothing)."""
        params, kernels = self.params, self.kernels
        constants = (params.lambda_ * params.theta, params.tau, params.theta)
        self.active.fill_(1)
        self.iterations.zero_()
        for step in range(params.iterations):
            source = step % 2  # every running pair has made `step` steps, so its fields are in this buffer
            flow_in = self.flows[source]
            if step % params.inner_iterations == 0 and params.median_filter > 1:
                kernels.median5(flow_in, self.filtered, self.active)
                flow_in = self.filtered
            self.iterations.add_(self.active)
            self.error.zero_()
            kernels.primal_dual_step(flow_in, self.duals[source], self.data, self.flows[1 - source],
                                     self.duals[1 - source], self.active, self.error, *constants)
            self.active.mul_(self.error > self.threshold)
            checked = (step + 1) % self.sync_every == 0 or step + 1 == params.iterations
            if checked and not bool(self.active.any()):
                break
        self._gather()
        return self.iterations.clone(), int(self.iterations.sum())

    def _gather(self) -> None:
        """Bring the fields of pairs that made an odd number of steps back into the first buffers."""
        odd = torch.nonzero(self.iterations % 2).flatten()
        if odd.numel():
            self.flows[0][odd] = self.flows[1][odd]
            self.duals[0][odd] = self.duals[1][odd]

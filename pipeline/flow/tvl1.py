"""TV-L1 optical flow (Zach, Pock and Bischof's duality scheme) in PyTorch, batched over frame pairs.

The same algorithm, parameters and numerical steps as OpenCV's DualTVL1OpticalFlow: a pyramid
built by bilinear resizing with `scale_step`, `warps` bicubic warps per level, rounds of
primal-dual iterations each preceded by a 5x5 median filter of the flow, and a per-pair stop once
the summed squared update falls below epsilon^2 times the number of pixels.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from twostream.pipeline.flow.compiled_step import StepFunction
from twostream.pipeline.flow.imageops import (
    centered_gradient,
    median_filter,
    remap_bicubic,
    resize_linear,
    scaled_size,
)
from twostream.pipeline.flow.params import TVL1Params
from twostream.pipeline.flow.step_chunks import ChunkRunner, StepConstants, chunk_length, shared_runner
from twostream.pipeline.flow.triton_solver import TritonLevel

# The eager batch goes on without its converged pairs once fewer than this share of it is still iterating: a
# smaller batch costs a copy of the remaining pairs' state, cheap next to the steps it saves
COMPACT_BELOW = 0.9
MIN_PYRAMID_SIDE = 16  # OpenCV stops adding levels below 16 pixels a side
GRADIENT_FLOOR = 1.1920929e-07  # FLT_EPSILON: OpenCV skips the data step where |grad I1|^2 is below it


def _pyramid(images: torch.Tensor, params: TVL1Params) -> list[torch.Tensor]:
    levels = [images]
    for _ in range(1, params.scales):
        size = scaled_size(*levels[-1].shape[-2:], params.scale_step)
        if min(size) < MIN_PYRAMID_SIDE:
            break
        levels.append(resize_linear(levels[-1], size, params.scale_step))
    return levels


class _InPlaceStep:
    """The eager primal-dual step, updating one level's fields in place.

    Fields are laid out so that every update runs over contiguous memory: the divergence's shifts
    by one column or one row are offsets into the flattened arrays, whose values wrapping across a
    row or plane boundary are the ones the scheme keeps at zero (the last column of the dual's x
    part, the last row of its y part). The forward differences write all but that column and row,
    which stay zero from the start. Every view the step uses is made once, here: each costs about a
    microsecond to make, which adds up over a thousand steps a pair on small pyramid levels.
    """

    def __init__(self, flow: torch.Tensor, params: TVL1Params) -> None:
        batch, _, height, width = flow.shape
        self.flow = flow
        self.dual = flow.new_zeros(2, batch, 2, height, width)  # theta * p_cd (d: x or y, c: flow component)
        self.grad = flow.new_zeros(2, batch, 2, height, width)
        self.divergence = flow.new_empty(batch, 2, height, width)
        self.norm = flow.new_empty(batch, 2, height, width)
        self.rho = flow.new_empty(batch, height, width)
        self.data_step = self.rho[:, None]
        self.lambda_theta = params.lambda_ * params.theta
        self.tau = params.tau
        # as float32 tensors, not Python numbers: each op would otherwise convert the number to one
        self.tau_theta, self.one = flow.new_tensor(params.tau / params.theta), flow.new_tensor(1.0)
        self.flow_u, self.flow_v = flow[:, 0], flow[:, 1]
        self.px, self.py = self.dual[0], self.dual[1]
        div, px, py = self.divergence.view(-1), self.px.reshape(-1), self.py.reshape(-1)
        self.div_shift_x, self.px_shifted = div[1:], px[:-1]
        self.div_shift_y, self.py_shifted = div[width:], py[:-width]
        self.gx, self.gy = self.grad[0], self.grad[1]
        self.x_diff = (flow[..., 1:], flow[..., :-1], self.gx[..., :-1])
        self.y_diff = (flow[..., 1:, :], flow[..., :-1, :], self.gy[..., :-1, :])

    def linearise(self, gradient: torch.Tensor, rho_c: torch.Tensor, neg_inv_grad: torch.Tensor) -> None:
        """The data term of one warp: I1's warped gradient (B, 2, H, W), rho_c and -1/|grad I1|^2 (B, H, W)."""
        self.gradient, self.ix, self.iy = gradient, gradient[:, 0], gradient[:, 1]
        self.rho_c, self.neg_inv_grad = rho_c, neg_inv_grad

    def subset(self, rows: torch.Tensor, params: TVL1Params) -> _InPlaceStep:
        """A step over the pairs `rows` of this one: their flow, dual field and data term, copied."""
        step = _InPlaceStep(self.flow[rows].contiguous(), params)
        step.dual.copy_(self.dual[:, rows])
        step.linearise(self.gradient[rows].contiguous(), self.rho_c[rows].contiguous(),
                       self.neg_inv_grad[rows].contiguous())
        return step

    def write_back(self, into: _InPlaceStep, rows: torch.Tensor) -> None:
        """Copy this step's flow and dual field into the pairs `rows` of the step it is a subset of."""
        into.flow[rows] = self.flow
        into.dual[:, rows] = self.dual

    def __call__(self, active: torch.Tensor | None) -> torch.Tensor:
        """One primal-dual step on every pair; pairs not `active` stay unchanged. Returns the squared update."""
        div, grad, norm = self.divergence, self.grad, self.norm
        # thresholding step on the linearised data term
        torch.addcmul(self.rho_c, self.ix, self.flow_u, out=self.rho)
        self.rho.addcmul_(self.iy, self.flow_v).mul_(self.neg_inv_grad).clamp_(-self.lambda_theta, self.lambda_theta)
        # divergence of the dual field: backward differences, zero outside the image
        torch.add(self.px, self.py, out=div)
        self.div_shift_x.sub_(self.px_shifted)
        self.div_shift_y.sub_(self.py_shifted)
        # primal update: u <- u + data step + theta * div p
        div.addcmul_(self.gradient, self.data_step)
        if active is not None:
            div.mul_(active[:, None, None, None])
        self.flow.add_(div)
        error = torch.linalg.vector_norm(div, dim=(1, 2, 3)).square_()
        # dual update with the forward differences of the new flow
        torch.sub(*self.x_diff[:2], out=self.x_diff[2])
        torch.sub(*self.y_diff[:2], out=self.y_diff[2])
        if active is not None:
            grad.mul_(active[:, None, None, None])
        torch.mul(self.gx, self.gx, out=norm)
        norm.addcmul_(self.gy, self.gy).sqrt_().mul_(self.tau_theta).add_(self.one)
        self.dual.add_(grad, alpha=self.tau).div_(norm)
        return error


class _ScaleSolver:
    """Primal-dual iterations at one pyramid level for a batch of pairs; state kept between warps."""

    def __init__(self, first: torch.Tensor, second: torch.Tensor, flow: torch.Tensor, params: TVL1Params,
                 sync_every: int, step: StepFunction | None = None, graphs: bool = False,
                 triton: bool = False) -> None:
        self.params = params
        self.first = first[:, 0]
        dx, dy = centered_gradient(second)
        self.targets = torch.cat((second, dx, dy), dim=1)  # warped together: I1 and its gradient
        # rounded to float32 as comparing with a float32 tensor does, so the host-side check agrees with it
        threshold = params.epsilon ** 2 * flow.shape[-2] * flow.shape[-1]
        self.threshold = torch.tensor(threshold, dtype=torch.float32).item()
        self.sync_every = sync_every
        self.eager: _InPlaceStep | None = None
        self.runner: ChunkRunner | None = None
        self.triton: TritonLevel | None = None
        if triton:
            self.triton = TritonLevel(flow, params, self.threshold, sync_every)
            return
        if step is None:
            self._flow = flow.contiguous()
            self.eager = _InPlaceStep(self._flow, params)
            return
        # the pure step runs in chunks on buffers kept for this shape
        constants = StepConstants(params.lambda_ * params.theta, params.tau, params.theta, self.threshold)
        batch, _, height, width = flow.shape
        self.runner = shared_runner(batch, height, width, flow.device, step, constants=constants, graphs=graphs)
        self.runner.state.flow.copy_(flow)
        self.runner.state.dual.zero_()

    @property
    def flow(self) -> torch.Tensor:
        """The current flows (B, 2, H, W)."""
        if self.triton is not None:
            return self.triton.flow
        return self._flow if self.runner is None else self.runner.state.flow

    def warp(self) -> tuple[torch.Tensor, int]:
        """One warp: linearise the data term around the current flow, then iterate to convergence.

        Returns the iterations each pair ran before its update fell below the epsilon stop, (B,), and the
        pair-iterations computed, converged pairs included (the work done: at least their sum).
        """
        self._linearise()
        if self.triton is not None:
            return self.triton.iterate()
        if self.runner is not None:
            return self._iterate_in_chunks()
        if self.flow.shape[0] == 1 and self.sync_every == 1:
            iterations = self._iterate_one()
            return iterations, int(iterations.sum())
        return self._iterate_masked()

    def _linearise(self) -> None:
        warped = remap_bicubic(self.targets, self.flow)
        gradient = warped[:, 1:].contiguous()
        ix, iy = gradient[:, 0], gradient[:, 1]
        squared = ix * ix + iy * iy
        neg_inv_grad = -1.0 / squared.clamp_min(GRADIENT_FLOOR)
        rho_c = warped[:, 0] - ix * self.flow[:, 0] - iy * self.flow[:, 1] - self.first
        if self.eager:
            self.eager.linearise(gradient, rho_c, neg_inv_grad)
        elif self.triton:
            self.triton.linearise(rho_c, ix, iy, neg_inv_grad)
        else:
            state = self.runner.state
            for buffer, value in ((state.rho_c, rho_c), (state.ix, ix), (state.iy, iy),
                                  (state.neg_inv_grad, neg_inv_grad)):
                buffer.copy_(value)

    def _median_round(self, step: int, active: torch.Tensor | None, flow: torch.Tensor | None = None) -> None:
        """Median filter the flow (`flow`, else this level's) before each round of inner iterations, of the
        `active` pairs only."""
        params, flow = self.params, self.flow if flow is None else flow
        if step % params.inner_iterations or params.median_filter <= 1:
            return
        filtered = median_filter(flow, params.median_filter)
        if active is not None:
            filtered = torch.where(active[:, None, None, None], filtered, flow)
        flow.copy_(filtered)

    def _iterate_one(self) -> torch.Tensor:
        """A single pair checked every step: the stop is decided on the host, without bookkeeping tensors."""
        for step in range(self.params.iterations):
            self._median_round(step, None)
            if not float(self.eager(None)) > self.threshold:
                break
        return torch.tensor([step + 1])

    def _iterate_masked(self) -> tuple[torch.Tensor, int]:
        """Pairs stop one by one (frozen once converged); the host checks every `sync_every` steps, and when
        some pairs have stopped since the last check the rest go on as a smaller batch (`COMPACT_BELOW`), so
        that finished pairs cost nothing."""
        full = self.eager
        batch, device = self.flow.shape[0], self.flow.device
        rows = torch.arange(batch, device=device)  # the pairs of the full batch that `solving` holds
        solving, active = full, torch.ones(batch, dtype=torch.bool, device=device)
        iterations = torch.zeros(batch, dtype=torch.int64, device=device)
        executed = 0
        for step in range(self.params.iterations):
            self._median_round(step, active, solving.flow)
            iterations.index_add_(0, rows, active.long())
            executed += rows.numel()
            active &= solving(active) > self.threshold
            if not ((step + 1) % self.sync_every == 0 or step + 1 == self.params.iterations):
                continue
            still = int(active.sum())
            if still == 0:
                break
            if still < COMPACT_BELOW * rows.numel():
                if solving is not full:
                    solving.write_back(full, rows)
                rows = rows[active]
                solving, active = full.subset(rows, self.params), torch.ones(still, dtype=torch.bool, device=device)
        if solving is not full:
            solving.write_back(full, rows)
        return iterations, executed

    def _iterate_in_chunks(self) -> tuple[torch.Tensor, int]:
        """The pure step in chunks between convergence checks, the first of each round after the median
        filter: the same schedule and stop as `_iterate_masked`, with one host check per chunk."""
        params, state = self.params, self.runner.state
        state.active.fill_(True)
        state.iterations.zero_()
        chunk = chunk_length(self.sync_every, params.inner_iterations)
        executed = 0
        for start in range(0, params.iterations, chunk):
            self.runner.run(chunk, params.median_filter if start % params.inner_iterations == 0 else 0)
            executed += chunk * state.iterations.shape[0]  # every pair's step runs; converged ones add zero
            if not bool(state.active.any()):
                break
        return state.iterations.clone(), executed


def tvl1_flow(first: torch.Tensor, second: torch.Tensor, params: TVL1Params | None = None,
              *, sync_every: int = 1, iterations: list[dict] | None = None,
              step: StepFunction | None = None, graphs: bool = False, pad_to: int | None = None,
              triton: bool = False) -> torch.Tensor:
    """TV-L1 flow from `first` to `second`, both (B, H, W) float32 in 0..255; returns (B, 2, H, W).

    `sync_every` is how often (in iterations) the host checks whether every pair has converged;
    larger values avoid device synchronisations on GPUs at the cost of idle iterations (results
    are identical: converged pairs are frozen). With `iterations`, one record per pyramid level and
    warp is appended to it: {"level": 0 for the finest, "warp", "iterations": per pair, "executed": the
    pair-iterations computed, converged or padded pairs included, "pixels": of the level}. `step`
    replaces the eager in-place primal-dual step by a pure one (`compiled_step()`: the same step fused
    by torch.compile), run in chunks of iterations between convergence checks on buffers kept for each
    shape; with `graphs` each chunk is captured once and replayed as a CUDA graph where the device is
    CUDA. `pad_to` appends blank pairs (which stop at once) up to that many, so that fewer batch shapes
    are captured; the flow of the given pairs does not change. `triton` runs each step and median filter
    as a Triton kernel that leaves converged pairs untouched (`triton_kernels`), checked by the host every
    `sync_every` steps.
    """
    params = params or TVL1Params()
    pairs = first.shape[0]
    if pad_to is not None and pad_to > pairs:
        first, second = (F.pad(images, (0, 0, 0, 0, 0, pad_to - pairs)) for images in (first, second))
    with torch.inference_mode():  # cheaper dispatch than no_grad: no version counters or views tracked
        firsts = _pyramid(first[:, None].float(), params)
        seconds = _pyramid(second[:, None].float(), params)
        coarsest = firsts[-1]
        flow = coarsest.new_zeros(coarsest.shape[0], 2, *coarsest.shape[-2:])
        for level in range(len(firsts) - 1, -1, -1):
            solver = _ScaleSolver(firsts[level], seconds[level], flow, params, sync_every, step, graphs, triton)
            for warp in range(params.warps):
                counts, executed = solver.warp()
                if iterations is not None:
                    iterations.append({"level": level, "warp": warp, "iterations": counts[:pairs].tolist(),
                                       "executed": executed, "pixels": int(flow.shape[-2] * flow.shape[-1])})
            flow = solver.flow
            if level:
                flow = resize_linear(flow, tuple(firsts[level - 1].shape[-2:])) * (1.0 / params.scale_step)
        flow = flow[:pairs]
    return flow.clone()  # outside inference mode, and out of kept buffers: an ordinary tensor for the caller

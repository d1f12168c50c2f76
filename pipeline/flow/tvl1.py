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


class _ScaleSolver:
    """Primal-dual iterations at one pyramid level for a batch of pairs; state kept between warps.

    Fields are laid out so that every update runs over contiguous memory: shifts by one column
    or one row are offsets into the flattened arrays, and the values that wrap across a row or
    plane boundary are the ones the scheme keeps at zero (last column and last row of the
    forward differences, hence of the dual field).
    """

    def __init__(self, first: torch.Tensor, second: torch.Tensor, flow: torch.Tensor, params: TVL1Params,
                 sync_every: int, step: StepFunction | None = None, graphs: bool = False) -> None:
        self.params = params
        self.first = first[:, 0]
        dx, dy = centered_gradient(second)
        self.targets = torch.cat((second, dx, dy), dim=1)  # warped together: I1 and its gradient
        batch, _, height, width = flow.shape
        self.width = width
        self.threshold = params.epsilon ** 2 * height * width
        self.sync_every = sync_every
        self.runner: ChunkRunner | None = None
        if step is not None:  # the pure step runs in chunks on buffers kept for this shape
            constants = StepConstants(params.lambda_ * params.theta, params.tau, params.theta, self.threshold)
            self.runner = shared_runner(batch, height, width, flow.device, step, constants, graphs)
            self.runner.state.flow.copy_(flow)
            self.runner.state.dual.zero_()
            self.flow = self.runner.state.flow
            return
        self.flow = flow.contiguous()
        # dual[d, :, c] is theta * p_cd (d: x or y direction, c: flow component); theta is folded in
        self.dual = flow.new_zeros(2, batch, 2, height, width)
        self.flow_gradient = flow.new_zeros(2, batch, 2, height, width)
        self.divergence = flow.new_empty(batch, 2, height, width)
        self.norm = flow.new_empty(batch, 2, height, width)

    def warp(self) -> torch.Tensor:
        """One warp: linearise the data term around the current flow, then iterate to convergence.

        Returns the iterations each pair ran before its update fell below the epsilon stop, (B,).
        """
        params = self.params
        warped = remap_bicubic(self.targets, self.flow)
        self.ix = warped[:, 1].contiguous()
        self.iy = warped[:, 2].contiguous()
        squared = self.ix * self.ix + self.iy * self.iy
        self.neg_inv_grad = -1.0 / squared.clamp_min(GRADIENT_FLOOR)
        self.rho_c = warped[:, 0] - self.ix * self.flow[:, 0] - self.iy * self.flow[:, 1] - self.first
        if self.runner is not None:
            return self._warp_in_chunks()
        batch = self.flow.shape[0]
        active = torch.ones(batch, dtype=torch.bool, device=self.flow.device)
        iterations = torch.zeros(batch, dtype=torch.int64, device=self.flow.device)
        masked = batch > 1 or self.sync_every > 1
        for step in range(params.iterations):
            if step % params.inner_iterations == 0 and params.median_filter > 1:
                filtered = median_filter(self.flow, params.median_filter)
                if masked:
                    filtered = torch.where(active[:, None, None, None], filtered, self.flow)
                self.flow = filtered
            iterations += active
            error = self._iterate(active if masked else None)
            active &= error > self.threshold
            if ((step + 1) % self.sync_every == 0 or step + 1 == params.iterations) and not bool(active.any()):
                break
        return iterations

    def _warp_in_chunks(self) -> torch.Tensor:
        """The iterations of one warp as chunks of the pure step between convergence checks (see `warp`)."""
        params, state = self.params, self.runner.state
        for name in ("rho_c", "ix", "iy", "neg_inv_grad"):
            getattr(state, name).copy_(getattr(self, name))
        state.active.fill_(True)
        state.iterations.zero_()
        chunk = chunk_length(self.sync_every, params.inner_iterations)
        for start in range(0, params.iterations, chunk):
            self.runner.run(chunk, params.median_filter if start % params.inner_iterations == 0 else 0)
            if not bool(state.active.any()):
                break
        return state.iterations.clone()

    def _iterate(self, active: torch.Tensor | None) -> torch.Tensor:
        """One primal-dual step on every pair; pairs not `active` stay unchanged. Returns the squared update."""
        params = self.params
        width = self.width
        flow, dual, div, grad, norm = self.flow, self.dual, self.divergence, self.flow_gradient, self.norm
        # thresholding step on the linearised data term
        rho = torch.addcmul(self.rho_c, self.ix, flow[:, 0])
        rho.addcmul_(self.iy, flow[:, 1])
        step = rho.mul_(self.neg_inv_grad).clamp_(-params.lambda_ * params.theta, params.lambda_ * params.theta)
        # divergence of the dual field: backward differences, zero outside the image
        torch.add(dual[0], dual[1], out=div)
        div_flat, px_flat, py_flat = div.view(-1), dual[0].view(-1), dual[1].view(-1)
        div_flat[1:] -= px_flat[:-1]
        div_flat[width:] -= py_flat[:-width]
        # primal update: u <- u + data step + theta * div p
        div[:, 0].addcmul_(self.ix, step)
        div[:, 1].addcmul_(self.iy, step)
        if active is not None:
            div.mul_(active[:, None, None, None])
        flow.add_(div)
        error = torch.linalg.vector_norm(div, dim=(1, 2, 3)).square_()
        # dual update with the forward differences of the new flow
        flow_flat, gx, gy = flow.view(-1), grad[0], grad[1]
        torch.sub(flow_flat[1:], flow_flat[:-1], out=gx.view(-1)[:-1])
        gx[..., -1] = 0.0
        torch.sub(flow_flat[width:], flow_flat[:-width], out=gy.view(-1)[:-width])
        gy[..., -1, :] = 0.0
        if active is not None:
            grad.mul_(active[:, None, None, None])
        torch.mul(gx, gx, out=norm)
        norm.addcmul_(gy, gy).sqrt_().mul_(params.tau / params.theta).add_(1.0)
        dual.add_(grad, alpha=params.tau).div_(norm)
        return error


def tvl1_flow(first: torch.Tensor, second: torch.Tensor, params: TVL1Params | None = None,
              sync_every: int = 1, iterations: list[dict] | None = None,
              step: StepFunction | None = None, graphs: bool = False) -> torch.Tensor:
    """TV-L1 flow from `first` to `second`, both (B, H, W) float32 in 0..255; returns (B, 2, H, W).

    `sync_every` is how often (in iterations) the host checks whether every pair has converged;
    larger values avoid device synchronisations on GPUs at the cost of idle iterations (results
    are identical: converged pairs are frozen). With `iterations`, one record per pyramid level and
    warp is appended to it: {"level": 0 for the finest, "warp", "iterations": per pair}. `step`
    replaces the eager in-place primal-dual step by a pure one (`compiled_step()`: the same step fused
    by torch.compile), run in chunks of iterations between convergence checks on buffers kept for each
    shape; with `graphs` each chunk is captured once and replayed as a CUDA graph where the device is
    CUDA, and the batch is padded to a power of two with blank pairs (they stop at once) so that few
    shapes are captured.
    """
    params = params or TVL1Params()
    pairs = first.shape[0]
    if graphs and step is not None:
        padding = (1 << (pairs - 1).bit_length()) - pairs
        first, second = (F.pad(images, (0, 0, 0, 0, 0, padding)) for images in (first, second))
    with torch.no_grad():
        firsts = _pyramid(first[:, None].float(), params)
        seconds = _pyramid(second[:, None].float(), params)
        coarsest = firsts[-1]
        flow = coarsest.new_zeros(coarsest.shape[0], 2, *coarsest.shape[-2:])
        for level in range(len(firsts) - 1, -1, -1):
            solver = _ScaleSolver(firsts[level], seconds[level], flow, params, sync_every, step, graphs)
            for warp in range(params.warps):
                counts = solver.warp()
                if iterations is not None:
                    iterations.append({"level": level, "warp": warp, "iterations": counts[:pairs].tolist()})
            flow = solver.flow
            if level:
                flow = resize_linear(flow, tuple(firsts[level - 1].shape[-2:])) * (1.0 / params.scale_step)
        return flow[:pairs].clone() if solver.runner is not None else flow

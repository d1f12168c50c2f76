"""TV-L1's primal-dual step and 5x5 median as Triton kernels that leave finished pairs alone.

Each kernel reads a per-pair `active` flag from device memory and masks every load and store of a pair
that has stopped, so a converged pair costs no memory traffic and the host never has to look at the
flags between its convergence checks. Fields live in two buffers (read one, write the other), so one
kernel computes a whole step: the dual update at a pixel needs the new flow at its right and lower
neighbours, which the kernel recomputes from the old fields instead of waiting for another kernel.

Layouts, all float32 and contiguous: flows (B, 2, H, W) as (u, v); dual fields (B, 4, H, W) as
(px_u, px_v, py_u, py_v), theta folded in as the eager solver keeps them; the data term's planes
(B, H, W). Under TRITON_INTERPRET=1 the same kernels run on CPU tensors, which is how they are tested.
"""
from __future__ import annotations

import torch
import triton
import triton.language as tl

BLOCK = 256  # pixels per program of the step kernel
MEDIAN_BLOCK = 64  # pixels per program of the median kernel (each selects from a window of 32 values)
MEDIAN_TAPS = 32  # a 5x5 window padded with +inf to a power of two, as Triton's blocks need

# What each kernel moves to or from memory per pixel of an active pair, in float32 values: one value per
# plane it loads or stores (neighbours' loads of the same plane come from cache). `bench/flow.py` models
# the GPU figure from these; tests/pipeline/flow/test_triton_kernels.py counts them in the kernels' code.
STEP_PLANES_READ = 2 + 4 + 4  # flow, dual field, data term (rho_c, ix, iy, -1/|grad|^2)
STEP_PLANES_WRITTEN = 2 + 4  # new flow, new dual field
MEDIAN_PLANES_READ = 1  # per flow component
MEDIAN_PLANES_WRITTEN = 1


@triton.jit
def _new_flow(flow_in, dual_in, rho_c, ix, iy, neg_inv_grad, plane, pixel, x, y, valid,
              WIDTH: tl.constexpr, HW: tl.constexpr, LAMBDA_THETA: tl.constexpr):
    """The new flow (u, v) at `pixel` of one pair and its update: data term step plus divergence."""
    u = tl.load(flow_in + 2 * plane + pixel, mask=valid, other=0.0)
    v = tl.load(flow_in + 2 * plane + HW + pixel, mask=valid, other=0.0)
    gx = tl.load(ix + plane + pixel, mask=valid, other=0.0)
    gy = tl.load(iy + plane + pixel, mask=valid, other=0.0)
    rho = tl.load(rho_c + plane + pixel, mask=valid, other=0.0) + gx * u + gy * v
    step = rho * tl.load(neg_inv_grad + plane + pixel, mask=valid, other=0.0)
    step = tl.minimum(tl.maximum(step, -LAMBDA_THETA), LAMBDA_THETA)
    dual = dual_in + 4 * plane + pixel
    left, up = valid & (x > 0), valid & (y > 0)
    # backward differences of the dual field, zero outside the image
    div_u = (tl.load(dual, mask=valid, other=0.0) + tl.load(dual + 2 * HW, mask=valid, other=0.0)) \
        - tl.load(dual - 1, mask=left, other=0.0) - tl.load(dual + 2 * HW - WIDTH, mask=up, other=0.0)
    div_v = (tl.load(dual + HW, mask=valid, other=0.0) + tl.load(dual + 3 * HW, mask=valid, other=0.0)) \
        - tl.load(dual + HW - 1, mask=left, other=0.0) - tl.load(dual + 3 * HW - WIDTH, mask=up, other=0.0)
    update_u = div_u + gx * step
    update_v = div_v + gy * step
    return u + update_u, v + update_v, update_u, update_v


@triton.jit
def primal_dual_step_kernel(flow_in, dual_in, rho_c, ix, iy, neg_inv_grad, flow_out, dual_out, active, error,
                            WIDTH: tl.constexpr, HEIGHT: tl.constexpr, LAMBDA_THETA: tl.constexpr,
                            TAU: tl.constexpr, TAU_THETA: tl.constexpr, BLOCK_SIZE: tl.constexpr):
    """One primal-dual step of the pairs whose `active` flag is set: reads (flow_in, dual_in), writes
    (flow_out, dual_out) and adds each pair's squared update to `error` (B,). Grid: (pixel blocks, B)."""
    HW = WIDTH * HEIGHT
    pair = tl.program_id(1)
    pixel = tl.program_id(0) * BLOCK_SIZE + tl.arange(0, BLOCK_SIZE)
    flag = tl.load(active + pair)
    # the flag broadcast before the comparison: a block compared with a block gives a boolean mask everywhere
    valid = (pixel < HW) & ((tl.zeros_like(pixel) + flag) != 0)
    x = pixel % WIDTH
    y = pixel // WIDTH
    plane = pair.to(tl.int64) * HW
    u, v, update_u, update_v = _new_flow(flow_in, dual_in, rho_c, ix, iy, neg_inv_grad, plane, pixel, x, y,
                                         valid, WIDTH, HW, LAMBDA_THETA)
    right, down = valid & (x < WIDTH - 1), valid & (y < HEIGHT - 1)
    u_right, v_right, _, _ = _new_flow(flow_in, dual_in, rho_c, ix, iy, neg_inv_grad, plane, pixel + 1,
                                       x + 1, y, right, WIDTH, HW, LAMBDA_THETA)
    u_down, v_down, _, _ = _new_flow(flow_in, dual_in, rho_c, ix, iy, neg_inv_grad, plane, pixel + WIDTH,
                                     x, y + 1, down, WIDTH, HW, LAMBDA_THETA)
    # forward differences of the new flow, zero on the last column and row
    gx_u = tl.where(right, u_right - u, 0.0)
    gx_v = tl.where(right, v_right - v, 0.0)
    gy_u = tl.where(down, u_down - u, 0.0)
    gy_v = tl.where(down, v_down - v, 0.0)
    norm_u = tl.sqrt(gx_u * gx_u + gy_u * gy_u) * TAU_THETA + 1.0
    norm_v = tl.sqrt(gx_v * gx_v + gy_v * gy_v) * TAU_THETA + 1.0
    dual = dual_in + 4 * plane + pixel
    out = dual_out + 4 * plane + pixel
    tl.store(out, (tl.load(dual, mask=valid, other=0.0) + TAU * gx_u) / norm_u, mask=valid)
    tl.store(out + HW, (tl.load(dual + HW, mask=valid, other=0.0) + TAU * gx_v) / norm_v, mask=valid)
    tl.store(out + 2 * HW, (tl.load(dual + 2 * HW, mask=valid, other=0.0) + TAU * gy_u) / norm_u, mask=valid)
    tl.store(out + 3 * HW, (tl.load(dual + 3 * HW, mask=valid, other=0.0) + TAU * gy_v) / norm_v, mask=valid)
    tl.store(flow_out + 2 * plane + pixel, u, mask=valid)
    tl.store(flow_out + 2 * plane + HW + pixel, v, mask=valid)
    squared = tl.where(valid, update_u * update_u + update_v * update_v, 0.0)
    tl.atomic_add(error + pair, tl.sum(squared, 0), mask=flag != 0)


@triton.jit
def median5_kernel(flow_in, flow_out, active, WIDTH: tl.constexpr, HEIGHT: tl.constexpr,
                   BLOCK_SIZE: tl.constexpr, TAPS: tl.constexpr):
    """5x5 median with replicated borders of each flow component of the pairs whose `active` flag is set
    (as cv2.medianBlur). Grid: (pixel blocks, B * 2), one program per block of one component's plane."""
    HW = WIDTH * HEIGHT
    component_plane = tl.program_id(1)
    flag = tl.load(active + component_plane // 2)
    pixel = tl.program_id(0) * BLOCK_SIZE + tl.arange(0, BLOCK_SIZE)
    valid = (pixel < HW) & ((tl.zeros_like(pixel) + flag) != 0)
    tap = tl.arange(0, TAPS)
    x = tl.minimum(tl.maximum((pixel % WIDTH)[:, None] + (tap % 5 - 2)[None, :], 0), WIDTH - 1)
    y = tl.minimum(tl.maximum((pixel // WIDTH)[:, None] + (tap // 5 - 2)[None, :], 0), HEIGHT - 1)
    base = component_plane.to(tl.int64) * HW
    window = tl.load(flow_in + base + y * WIDTH + x, mask=valid[:, None] & (tap < 25)[None, :],
                     other=float("inf"))
    # the 13th smallest of 25: take the smallest out twelve times (one occurrence each, so ties count)
    for _ in tl.static_range(12):
        smallest = tl.argmin(window, 1)
        window = tl.where(tap[None, :] == smallest[:, None], float("inf"), window)
    median = tl.min(window, 1)
    tl.store(flow_out + base + pixel, median, mask=valid)


def primal_dual_step(flow_in: torch.Tensor, dual_in: torch.Tensor, data: tuple[torch.Tensor, ...],
                     flow_out: torch.Tensor, dual_out: torch.Tensor, active: torch.Tensor, error: torch.Tensor,
                     lambda_theta: float, tau: float, theta: float) -> None:
    """Launch one step for every pair (finished ones return at once); `error` (B,) must be zeroed first.
    `data` is (rho_c, ix, iy, neg_inv_grad)."""
    batch, _, height, width = flow_in.shape
    rho_c, ix, iy, neg_inv_grad = data
    grid = (triton.cdiv(height * width, BLOCK), batch)
    primal_dual_step_kernel[grid](flow_in, dual_in, rho_c, ix, iy, neg_inv_grad, flow_out, dual_out, active,
                                  error, WIDTH=width, HEIGHT=height, LAMBDA_THETA=lambda_theta, TAU=tau,
                                  TAU_THETA=tau / theta, BLOCK_SIZE=BLOCK)


def median5(flow_in: torch.Tensor, flow_out: torch.Tensor, active: torch.Tensor) -> None:
    """Write the 5x5 median of the active pairs' flows (B, 2, H, W) into `flow_out`; others are left alone."""
    batch, components, height, width = flow_in.shape
    grid = (triton.cdiv(height * width, MEDIAN_BLOCK), batch * components)
    median5_kernel[grid](flow_in, flow_out, active, WIDTH=width, HEIGHT=height, BLOCK_SIZE=MEDIAN_BLOCK,
                         TAPS=MEDIAN_TAPS)

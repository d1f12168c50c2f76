"""TV-L1's primal-dual step as one pure function of tensors, for `torch.compile` to fuse.

The eager step (`tvl1._InPlaceStep`) updates its fields in place through flattened views
to save memory traffic; a compiler wants the opposite: one function without side effects, which
inductor turns into a few fused kernels (C++ on the CPU, Triton on CUDA). Both compute the same
step: the thresholding of the linearised data term, the primal update by the divergence of the
dual field, and the dual update by the forward differences of the new flow, with pairs that have
converged (`active` False) left unchanged.
"""
from __future__ import annotations

import functools
from typing import Callable

import torch
import torch.nn.functional as F

StepFunction = Callable[..., tuple[torch.Tensor, torch.Tensor, torch.Tensor]]


def primal_dual_step(flow: torch.Tensor, dual: torch.Tensor, rho_c: torch.Tensor, ix: torch.Tensor,
                     iy: torch.Tensor, neg_inv_grad: torch.Tensor, active: torch.Tensor, lambda_theta: float,
                     tau: float, theta: float) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """One step for flows (B, 2, H, W) and dual fields (2, B, 2, H, W) (theta folded in, as the eager
    solver keeps them); returns the new flow, the new dual field and each pair's squared update (B,)."""
    rho = rho_c + ix * flow[:, 0] + iy * flow[:, 1]
    step = (rho * neg_inv_grad).clamp(-lambda_theta, lambda_theta)
    px, py = dual[0], dual[1]
    # backward differences, zero outside the image (the dual field's last column and row are zero)
    divergence = px - F.pad(px[..., :-1], (1, 0)) + py - F.pad(py[..., :-1, :], (0, 0, 1, 0))
    keep = active[:, None, None, None].to(flow.dtype)
    update = (divergence + torch.stack((ix * step, iy * step), dim=1)) * keep
    flow = flow + update
    error = update.square().sum(dim=(1, 2, 3))
    gx = F.pad(flow[..., 1:] - flow[..., :-1], (0, 1)) * keep
    gy = F.pad(flow[..., 1:, :] - flow[..., :-1, :], (0, 0, 0, 1)) * keep
    norm = 1.0 + (tau / theta) * torch.sqrt(gx * gx + gy * gy)
    dual = (dual + tau * torch.stack((gx, gy))) / norm
    return flow, dual, error


@functools.cache
def compiled_step() -> StepFunction:
    """`primal_dual_step` under torch.compile, one per process: compiled on its first call for shapes of any
    size, since one compilation per pyramid level and batch would exhaust torch's recompile limit."""
    return torch.compile(primal_dual_step, dynamic=True)

"""The pure primal-dual step (what torch.compile fuses) gives the eager solver's flow."""
from __future__ import annotations

import shutil

import numpy as np
import pytest
import torch

from twostream.pipeline.flow import get_flow_algorithm
from twostream.pipeline.flow.compiled_step import compiled_step, primal_dual_step
from twostream.pipeline.flow.errors import FlowError
from twostream.pipeline.flow.params import TVL1Params
from twostream.pipeline.flow.tvl1 import tvl1_flow


def _pairs() -> tuple[torch.Tensor, torch.Tensor]:
    rng = np.random.default_rng(5)
    texture = torch.from_numpy(rng.uniform(0, 255, (2, 40, 56)).astype(np.float32))
    texture = torch.nn.functional.avg_pool2d(texture[:, None], 5, 1, 2)[:, 0]
    return texture, torch.stack([torch.roll(texture[0], 2, dims=1), torch.roll(texture[1], -1, dims=0)])


PARAMS = TVL1Params(scales=2, warps=2, iterations=60)


def test_the_pure_step_gives_the_eager_flow():
    first, second = _pairs()
    eager = tvl1_flow(first, second, PARAMS)
    pure = tvl1_flow(first, second, PARAMS, step=primal_dual_step)
    # inputs scaled by 1 +- 1e-6 move the eager flow of these pairs by up to 7.7e-6 px on average (rounding_basis.py,
    # 8 draws; Intel Xeon 7.7e-6, AMD EPYC 7.6e-6), as far as another CPU model's rounding can; the pure step
    # differs by 2.4e-6 px on the Xeon, 2.7e-6 px on the EPYC
    assert float((pure - eager).norm(dim=1).mean()) < 1e-4


@pytest.mark.compile
@pytest.mark.skipif(not (shutil.which("g++") or shutil.which("c++") or shutil.which("clang++")),
                    reason="torch.compile on the CPU needs a C++ compiler")
def test_the_compiled_step_is_within_a_thousandth_of_a_pixel_of_eager():
    first, second = _pairs()
    eager = tvl1_flow(first, second, PARAMS)
    compiled = tvl1_flow(first, second, PARAMS, step=compiled_step())
    # mean endpoint difference, pixels: 2.4e-6 here; 7.7e-6 from inputs scaled by 1 +- 1e-6 (see above)
    assert float((compiled - eager).norm(dim=1).mean()) < 1e-3
    options = {"scales": 2, "warps": 2, "iterations": 60, "device": "cpu"}
    frames = np.stack([first[0], second[0]]).astype(np.uint8)
    on = get_flow_algorithm("tvl1", compile="on", **options).compute(frames)
    off = get_flow_algorithm("tvl1", compile="off", **options).compute(frames)
    assert float(np.linalg.norm(on - off, axis=-1).mean()) < 1e-3


def test_auto_compiles_only_on_cuda_and_a_bad_choice_is_refused():
    assert get_flow_algorithm("tvl1", device="cpu").step is None
    with pytest.raises(FlowError, match="compile 'always'"):
        get_flow_algorithm("tvl1", compile="always")


@pytest.mark.cuda
@pytest.mark.compile
def test_cuda_gives_the_cpu_flow_eager_and_compiled():
    first, second = _pairs()
    cpu = tvl1_flow(first, second, PARAMS)
    eager = tvl1_flow(first.cuda(), second.cuda(), PARAMS)
    compiled = tvl1_flow(first.cuda(), second.cuda(), PARAMS, step=compiled_step())
    # CUDA kernels sum in another order, and the epsilon stop can then end a warp one iteration apart
    assert float((eager.cpu() - cpu).norm(dim=1).mean()) < 1e-2  # mean endpoint difference, pixels
    assert float((compiled - eager).norm(dim=1).mean()) < 1e-3
    assert get_flow_algorithm("tvl1", device="cuda").step is not None  # auto compiles on CUDA

"""The basis of the tolerances of the flow tests that compare two solver paths (eager, pure, compiled, chunked,
Triton): how far the eager flow of each test's pairs moves when its inputs are scaled by 1 +- 1e-6 (a few
float32 ulps, as much as another CPU model's rounding differs), and whether any pair's iteration count changes.

Run: .venv/bin/python tests/pipeline/flow/rounding_basis.py
"""
from __future__ import annotations

import torch

import test_compiled_step
import test_step_chunks
import test_triton_kernels
from twostream.pipeline.flow.params import TVL1Params
from twostream.pipeline.flow.tvl1 import tvl1_flow

DRAWS = 8
RELATIVE = 1e-6


def sensitivity(first: torch.Tensor, second: torch.Tensor, params: TVL1Params) -> dict[str, float | int]:
    """The largest max and mean endpoint change over DRAWS scalings of the inputs, and how many changed a count."""
    records: list[dict] = []
    base = tvl1_flow(first, second, params, iterations=records)
    counts = [record["iterations"] for record in records]
    worst_max = worst_mean = 0.0
    changed = 0
    for seed in range(DRAWS):
        generator = torch.Generator().manual_seed(seed)

        def scaled(image: torch.Tensor) -> torch.Tensor:
            return image * (1 + RELATIVE * (2 * torch.rand(image.shape, generator=generator) - 1))

        moved_records: list[dict] = []
        moved = tvl1_flow(scaled(first), scaled(second), params, iterations=moved_records)
        change = (moved - base).norm(dim=1)
        worst_max, worst_mean = max(worst_max, float(change.max())), max(worst_mean, float(change.mean()))
        changed += [record["iterations"] for record in moved_records] != counts
    return {"max_px": worst_max, "mean_px": worst_mean, "count_changes": changed}


def main() -> None:
    """Print the sensitivity of each test's pairs."""
    one_pair = [frame.round() for frame in test_triton_kernels._pairs(1, 16, 24)]
    cases = {
        "test_triton_kernels: solver": (*test_triton_kernels._pairs(3, 16, 24),
                                        TVL1Params(scales=2, warps=2, iterations=30, inner_iterations=15,
                                                   epsilon=0.05)),
        "test_triton_kernels: algorithm": (*one_pair, TVL1Params(scales=1, warps=1, iterations=30)),
        "test_compiled_step": (*test_compiled_step._pairs(), test_compiled_step.PARAMS),
        "test_step_chunks": (*test_step_chunks._pairs(3), test_step_chunks.PARAMS),
    }
    for name, (first, second, params) in cases.items():
        result = sensitivity(first, second, params)
        print(f"{name:<32} max {result['max_px']:.1e} px  mean {result['mean_px']:.1e} px  "
              f"iteration counts changed in {result['count_changes']}/{DRAWS} draws")


if __name__ == "__main__":
    main()

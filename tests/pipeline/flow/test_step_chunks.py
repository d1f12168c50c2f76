"""The pure step in chunks between convergence checks, on kept buffers, as CUDA graphs where there is CUDA."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from twostream.pipeline.flow import get_flow_algorithm
from twostream.pipeline.flow.compiled_step import compiled_step, primal_dual_step
from twostream.pipeline.flow.params import TVL1Params
from twostream.pipeline.flow.step_chunks import chunk_length, padded_batch
from twostream.pipeline.flow.tvl1 import tvl1_flow

PARAMS = TVL1Params(scales=2, warps=2, iterations=60, inner_iterations=20)


def _pairs(count: int, device: str = "cpu") -> tuple[torch.Tensor, torch.Tensor]:
    """`count` pairs of smooth random textures, each moved by its own shift."""
    rng = np.random.default_rng(count)
    texture = torch.from_numpy(rng.uniform(0, 255, (count, 40, 56)).astype(np.float32))
    texture = torch.nn.functional.avg_pool2d(texture[:, None], 5, 1, 2)[:, 0]
    moved = torch.stack([torch.roll(t, (k % 3 - 1, k % 4), dims=(0, 1)) for k, t in enumerate(texture)])
    return texture.to(device), moved.to(device)


def _solve(first, second, **options) -> tuple[torch.Tensor, list[dict]]:
    records: list[dict] = []
    return tvl1_flow(first, second, PARAMS, iterations=records, **options), records


def test_chunks_between_checks_change_neither_flow_nor_iterations():
    first, second = _pairs(3)
    every_step, counted = _solve(first, second, step=primal_dual_step, sync_every=1)
    chunked, chunk_counted = _solve(first, second, step=primal_dual_step, sync_every=10)
    assert torch.equal(chunked, every_step)
    assert [r["iterations"] for r in chunk_counted] == [r["iterations"] for r in counted]
    # a chunk runs every pair to its end: chunks of 10 compute more pair-iterations than checks every step
    assert all(c["executed"] >= e["executed"] for c, e in zip(chunk_counted, counted))
    counts = [c for record in counted for c in record["iterations"]]
    assert min(counts) < PARAMS.iterations and len(set(counts)) > 2  # pairs stop apart: frozen ones must stay
    eager, _ = _solve(first, second)
    # 4.0e-6 px on an Intel Xeon, 1.9e-6 px on an AMD EPYC; inputs scaled by 1 +- 1e-6 move the eager flow of these
    # pairs by up to 1.4e-5 px on average (rounding_basis.py: 7.2e-6 to 1.4e-5 over runs on the Xeon, 7.1e-6 on the
    # EPYC), the most another CPU model's rounding should
    assert float((chunked - eager).norm(dim=1).mean()) < 1e-4
    assert (chunk_length(10, 30), chunk_length(1, 30), chunk_length(20, 30)) == (10, 1, 10)


def test_batches_are_padded_to_few_sizes_within_what_memory_allows():
    assert [padded_batch(pairs, 256) for pairs in (1, 3, 5, 17, 32, 33, 175, 256)] == [1, 4, 8, 32, 32, 64, 192, 256]
    assert (padded_batch(37, 40), padded_batch(100, 100), padded_batch(300, 256)) == (40, 100, 300)


def test_padding_a_batch_with_blank_pairs_and_reusing_buffers_change_nothing():
    first, second = _pairs(3)
    alone = [_solve(first[k:k + 1], second[k:k + 1], step=primal_dual_step, sync_every=10) for k in range(3)]
    for _ in range(2):  # the second call reuses the first one's buffers
        padded, records = _solve(first, second, step=primal_dual_step, sync_every=10, graphs=True, pad_to=4)
        assert padded.shape == (3, 2, 40, 56)
        for k, (flow, counted) in enumerate(alone):
            assert torch.equal(padded[k:k + 1], flow)
            assert [r["iterations"][k] for r in records] == [r["iterations"][0] for r in counted]


@pytest.mark.cuda
def test_cuda_graphs_replay_the_compiled_chunks_exactly():
    first, second = _pairs(5, "cuda")
    step = compiled_step()
    launched, launched_counts = _solve(first, second, step=step, sync_every=10)
    for _ in range(2):  # captured on the first call, replayed from then on
        replayed, replayed_counts = _solve(first, second, step=step, sync_every=10, graphs=True)
        assert torch.equal(replayed, launched) and replayed_counts == launched_counts
    eager, _ = _solve(first, second, sync_every=10)
    assert float((replayed - eager).norm(dim=1).mean()) < 1e-3


@pytest.mark.cuda
@pytest.mark.parametrize("compile", ["off", "on"])
def test_on_cuda_a_pair_gets_the_same_flow_alone_or_in_any_batch(compile):
    first, second = (images.round().to(torch.uint8).numpy() for images in _pairs(5))
    tvl1 = get_flow_algorithm("tvl1", device="cuda", compile=compile, scales=2, warps=2, iterations=60)
    together = tvl1.solve_pairs(first, second)  # padded to 8 when compiled
    for k in range(5):
        assert np.array_equal(tvl1.solve_pairs(first[k:k + 1], second[k:k + 1]), together[k:k + 1]), k

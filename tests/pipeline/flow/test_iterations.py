"""The TV-L1 solver reports how many primal-dual iterations each pair ran at each level and warp."""
from __future__ import annotations

import numpy as np
import torch

from twostream.pipeline.flow.params import TVL1Params
from twostream.pipeline.flow.tvl1 import tvl1_flow


def test_iterations_per_level_and_warp_stop_at_epsilon_per_pair():
    rng = np.random.default_rng(0)
    texture = torch.from_numpy(rng.uniform(0, 255, (48, 64)).astype(np.float32))
    texture = torch.nn.functional.avg_pool2d(texture[None, None], 5, 1, 2)[0, 0]  # smooth enough to track
    shifted = torch.roll(texture, shifts=2, dims=1)
    params = TVL1Params(scales=2, warps=2, iterations=60)
    first, second = torch.stack([texture, texture]), torch.stack([texture, shifted])
    records: list[dict] = []
    flow = tvl1_flow(first, second, params, iterations=records)
    assert [(r["level"], r["warp"]) for r in records] == [(1, 0), (1, 1), (0, 0), (0, 1)]  # coarsest first
    still = [r["iterations"][0] for r in records]
    moving = [r["iterations"][1] for r in records]
    assert still == [1, 1, 1, 1]  # identical images: the first update is zero, below epsilon
    assert all(1 < count <= 60 for count in moving)
    torch.testing.assert_close(flow, tvl1_flow(first, second, params))  # recording changes nothing


def test_a_pair_alone_stops_where_it_does_in_a_batch():
    rng = np.random.default_rng(1)
    texture = torch.from_numpy(rng.uniform(0, 255, (40, 56)).astype(np.float32))
    texture = torch.nn.functional.avg_pool2d(texture[None, None], 5, 1, 2)[0, 0]
    first = torch.stack([texture, texture])
    second = torch.stack([torch.roll(texture, shifts=1, dims=0), torch.roll(texture, shifts=3, dims=1)])
    params = TVL1Params(scales=2, warps=2, iterations=60)
    batched: list[dict] = []
    flows = tvl1_flow(first, second, params, iterations=batched)
    for index in range(2):
        alone: list[dict] = []  # one pair checked every step: the stop is decided on the host
        flow = tvl1_flow(first[index:index + 1], second[index:index + 1], params, iterations=alone)
        assert [r["iterations"] for r in alone] == [[r["iterations"][index]] for r in batched]
        torch.testing.assert_close(flow[0], flows[index], rtol=0, atol=1e-5)


def test_converged_pairs_cost_no_further_steps_in_a_batch():
    rng = np.random.default_rng(2)
    texture = torch.from_numpy(rng.uniform(0, 255, (3, 40, 56)).astype(np.float32))
    texture = torch.nn.functional.avg_pool2d(texture[:, None], 5, 1, 2)[:, 0]
    second = torch.stack([texture[0], torch.roll(texture[1], 1, dims=0), torch.roll(texture[2], 3, dims=1)])
    params = TVL1Params(scales=2, warps=2, iterations=60)
    records: list[dict] = []
    flows = tvl1_flow(texture, second, params, iterations=records)
    needed = [sum(r["iterations"]) for r in records]
    assert any(len(set(r["iterations"])) > 1 for r in records)  # pairs stop apart within a warp
    # checked every step, a batch of three goes on without each pair as soon as it stops
    assert [r["executed"] for r in records] == needed
    assert records[0]["pixels"] < records[-1]["pixels"] == 40 * 56  # the coarser level first
    for index in range(3):
        alone = tvl1_flow(texture[index:index + 1], second[index:index + 1], params)
        torch.testing.assert_close(alone[0], flows[index], rtol=0, atol=1e-5)

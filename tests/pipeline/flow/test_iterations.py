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

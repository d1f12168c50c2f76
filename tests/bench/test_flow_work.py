"""bench/flow.py's work ratios: pixel-iterations computed over those the pairs need alone, from real solver
records and from hand-made ones."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from twostream.pipeline.flow.params import TVL1Params
from twostream.pipeline.flow.tvl1 import tvl1_flow

ROOT = Path(__file__).resolve().parents[2]


def test_ratios_count_each_level_by_its_pixels(bench_script):
    records = [{"pixels": 100, "iterations": [10, 30], "executed": 40},  # both pairs dropped as they stopped
               {"pixels": 400, "iterations": [5, 5], "executed": 12}]  # a check came late: 2 extra steps
    ratios = bench_script("flow").work_ratios(records, chunk=20)
    needed = 100 * 40 + 400 * 10
    assert ratios["solved"] == pytest.approx((100 * 40 + 400 * 12) / needed)
    assert ratios["until_slowest"] == pytest.approx((100 * 2 * 30 + 400 * 2 * 5) / needed)
    assert ratios["chunks"] == pytest.approx((100 * 2 * 40 + 400 * 2 * 20) / needed)  # whole chunks of 20


def test_a_solved_batch_computes_what_its_pairs_need(bench_script):
    rng = np.random.default_rng(3)
    texture = torch.from_numpy(rng.uniform(0, 255, (4, 40, 56)).astype(np.float32))
    texture = torch.nn.functional.avg_pool2d(texture[:, None], 5, 1, 2)[:, 0]
    second = torch.stack([torch.roll(t, (k % 3 - 1, k), dims=(0, 1)) for k, t in enumerate(texture)])
    records: list[dict] = []
    tvl1_flow(texture, second, TVL1Params(scales=2, warps=2, iterations=60), iterations=records)
    ratios = bench_script("flow").work_ratios(records, chunk=10)
    assert ratios["solved"] == pytest.approx(1.0)
    assert ratios["until_slowest"] > 1.0 and ratios["chunks"] >= ratios["until_slowest"]


def test_the_model_counts_each_kernels_planes_per_pixel_iteration(bench_script):
    pytest.importorskip("triton")
    records = [{"pixels": 100, "iterations": [31, 2], "executed": 33}]  # 2 and 1 median rounds; one odd pair
    parts = bench_script("flow").kernel_bytes_per_pair(records, pairs=2, inner_iterations=30)
    assert parts["step"] == pytest.approx(4 * 100 * 33 * (10 + 6) / 2)
    assert parts["median"] == pytest.approx(4 * 100 * 3 * 2 * (1 + 1) / 2)
    assert parts["gather"] == pytest.approx(4 * 100 * 1 * 2 * (2 + 4) / 2)
    model = bench_script("flow").model_row(records, pairs=2)
    per_pair = sum(parts.values())
    assert model["predicted_pairs_per_s"]["H200 (HBM3e)"] == pytest.approx(0.8 * 4.8e12 / per_pair)


def test_the_flow_rows_run_from_prepared_inputs_without_ffmpeg_opencv_or_shared_data(tmp_path, shared_data,
                                                                                     bench_script):
    inputs = tmp_path / "inputs.npz"
    bench_script("flow").prepare_inputs(shared_data, inputs, pairs=2)
    out = tmp_path / "flow.json"
    environment = {**os.environ, "TWOSTREAM_SHARED_DATA": str(tmp_path / "absent")}  # no shared data either
    done = subprocess.run([sys.executable, "tests/bare_python.py", "bench/flow.py", "--inputs", str(inputs),
                           "--rows", "eager,work,model,iterations", "--iteration-pairs", "1", "--pairs", "1",
                           "--work-batch", "2", "--out", str(out)],
                          cwd=ROOT, capture_output=True, text=True, env=environment)
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(out.read_text())
    assert result["opencv"] is None
    assert [row["row"] for row in result["rows"]] == ["tvl1 (ours) CPU, batch 1, 1 thread"]
    assert 0 < result["rows"][0]["sintel_epe"] < 1
    assert result["work"]["pairs"] == 2 and result["model"]["predicted_pairs_per_s"]
    assert result["iterations"] == [] and "iteration rows skipped: they need the shared data" in done.stdout

"""The Triton kernels give the eager solver's steps, median and flow, leave finished pairs alone, and move the
bytes the GPU model counts. Without a GPU they run in Triton's interpreter on CPU tensors."""
from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

import numpy as np
import pytest
import torch

ON_CUDA = torch.cuda.is_available()
if not ON_CUDA:
    os.environ["TRITON_INTERPRET"] = "1"  # read when Triton is first imported, so before anything imports it
triton = pytest.importorskip("triton")

from twostream.pipeline.flow import get_flow_algorithm  # noqa: E402
from twostream.pipeline.flow import triton_kernels  # noqa: E402
from twostream.pipeline.flow.compiled_step import primal_dual_step  # noqa: E402
from twostream.pipeline.flow.errors import FlowError  # noqa: E402
from twostream.pipeline.flow.imageops import median_filter  # noqa: E402
from twostream.pipeline.flow.params import TVL1Params  # noqa: E402
from twostream.pipeline.flow.tvl1 import tvl1_flow  # noqa: E402

pytestmark = pytest.mark.triton
DEVICE = torch.device("cuda" if ON_CUDA else "cpu")
LAMBDA_THETA, TAU, THETA = 0.15 * 0.3, 0.25, 0.3


def _fields(batch: int, height: int, width: int) -> dict[str, torch.Tensor]:
    generator = torch.Generator().manual_seed(3)
    normal = lambda *shape: torch.randn(*shape, generator=generator)  # noqa: E731
    dual = normal(2, batch, 2, height, width) * 0.1
    dual[0, ..., -1] = 0  # the scheme keeps the x part's last column and the y part's last row at zero
    dual[1, ..., -1, :] = 0
    ix, iy = normal(batch, height, width), normal(batch, height, width)
    return {"flow": normal(batch, 2, height, width), "dual": dual, "rho_c": normal(batch, height, width),
            "ix": ix, "iy": iy, "neg_inv_grad": -1.0 / (ix * ix + iy * iy).clamp_min(1e-7)}


def _step_with_kernel(fields: dict[str, torch.Tensor], active: torch.Tensor) -> tuple[torch.Tensor, ...]:
    batch, _, height, width = fields["flow"].shape
    on_device = {name: value.to(DEVICE).contiguous() for name, value in fields.items()}
    dual = on_device["dual"].permute(1, 0, 2, 3, 4).reshape(batch, 4, height, width).contiguous()
    flow_out = torch.full_like(on_device["flow"], 7.0)
    dual_out = torch.full_like(dual, 7.0)
    error = torch.zeros(batch, device=DEVICE)
    data = tuple(on_device[name] for name in ("rho_c", "ix", "iy", "neg_inv_grad"))
    triton_kernels.primal_dual_step(on_device["flow"], dual, data, flow_out, dual_out,
                                    active.to(DEVICE, torch.int32), error, LAMBDA_THETA, TAU, THETA)
    dual_out = dual_out.reshape(batch, 2, 2, height, width).permute(1, 0, 2, 3, 4)
    return flow_out.cpu(), dual_out.cpu(), error.cpu()


def test_one_step_is_the_eager_step_and_a_finished_pair_is_not_touched():
    fields = _fields(3, 11, 19)
    active = torch.tensor([True, False, True])
    flow, dual, error = _step_with_kernel(fields, active)
    expected_flow, expected_dual, expected_error = primal_dual_step(
        fields["flow"], fields["dual"], fields["rho_c"], fields["ix"], fields["iy"], fields["neg_inv_grad"],
        active, LAMBDA_THETA, TAU, THETA)
    running = [0, 2]
    torch.testing.assert_close(flow[running], expected_flow[running], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(dual[:, running], expected_dual[:, running], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(error, expected_error, atol=1e-4, rtol=1e-5)
    assert bool((flow[1] == 7.0).all()) and bool((dual[:, 1] == 7.0).all())  # not written
    assert float(error[1]) == 0.0


def test_the_median_is_opencvs_5x5_median_of_the_running_pairs():
    flow = torch.randn(2, 2, 9, 14, generator=torch.Generator().manual_seed(1)).round(decimals=1)  # ties too
    out = torch.full_like(flow, 7.0).to(DEVICE)
    triton_kernels.median5(flow.to(DEVICE), out, torch.tensor([0, 1], dtype=torch.int32, device=DEVICE))
    out = out.cpu()
    assert torch.equal(out[1], median_filter(flow[1:], 5)[0])
    assert bool((out[0] == 7.0).all())


def _pairs(count: int, height: int, width: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Smoothed noise and the same moved by a different whole-pixel shift per pair, in 0..255."""
    rng = np.random.default_rng(5)
    texture = torch.from_numpy(rng.uniform(0, 255, (count, 1, height, width)).astype(np.float32))
    first = torch.nn.functional.avg_pool2d(texture, 5, 1, 2)[:, 0]
    second = torch.stack([torch.roll(image, (pair % 3 - 1, pair + 1), dims=(0, 1)) for pair, image in enumerate(first)])
    return first, second


def test_the_triton_solver_gives_the_eager_flow_and_iterations():
    first, second = _pairs(3, 16, 24)
    params = TVL1Params(scales=2, warps=2, iterations=30, inner_iterations=15, epsilon=0.05)
    eager_records, triton_records = [], []
    eager = tvl1_flow(first, second, params, iterations=eager_records)
    fused = tvl1_flow(first.to(DEVICE), second.to(DEVICE), params, iterations=triton_records,
                      sync_every=4, triton=True).cpu()
    # Two paths round differently, as two CPU models do. Inputs scaled by 1 +- 1e-6 move the eager flow of these
    # pairs by up to 1.2e-4 px and change no pair's iteration count (rounding_basis.py, 8 draws, on an Intel Xeon and
    # an AMD EPYC alike); Triton differs from eager by 5.9e-6 px on the Xeon, 1.7e-5 px on the EPYC.
    assert float((fused - eager).norm(dim=1).max()) < 1e-3  # pixels
    assert [record["iterations"] for record in triton_records] == [record["iterations"] for record in eager_records]
    counts = {count for record in eager_records for count in record["iterations"]}
    assert len(counts) > 1 and any(count % 2 for count in counts)  # pairs stop apart, some after odd steps
    # a finished pair costs nothing: the work is exactly the iterations the pairs needed
    assert all(record["executed"] == sum(record["iterations"]) for record in triton_records)


def test_the_algorithm_runs_the_kernels_and_says_when_it_cannot(monkeypatch):
    frames = torch.stack(_pairs(1, 16, 24))[:, 0].round().to(torch.uint8).numpy()
    options = {"scales": 1, "warps": 1, "iterations": 30, "device": str(DEVICE)}
    fused = get_flow_algorithm("tvl1", compile="triton", **options).compute(frames)
    eager = get_flow_algorithm("tvl1", compile="off", **{**options, "device": "cpu"}).compute(frames)
    # inputs scaled by 1 +- 1e-6 move the eager flow of this pair by up to 5.8e-5 px (rounding_basis.py)
    assert float(np.linalg.norm(fused - eager, axis=-1).max()) < 1e-3
    monkeypatch.delenv("TRITON_INTERPRET", raising=False)
    with pytest.raises(FlowError, match="TRITON_INTERPRET=1"):
        get_flow_algorithm("tvl1", compile="triton", device="cpu")
    with pytest.raises(FlowError, match="5x5 median"):
        tvl1_flow(*_pairs(1, 16, 24), TVL1Params(median_filter=3), triton=True)


@contextlib.contextmanager
def _traced_memory() -> Iterator[dict[str, set[int]]]:
    """Record every address the interpreter's kernels load from or store to."""
    from triton.runtime import interpreter

    builder = interpreter.InterpreterBuilder
    touched: dict[str, set[int]] = {"load": set(), "store": set()}
    load, store = builder.create_masked_load, builder.create_masked_store

    def traced_load(self, ptrs, mask, *args):
        touched["load"].update(np.asarray(ptrs.data)[np.asarray(mask.data, bool)].ravel().tolist())
        return load(self, ptrs, mask, *args)

    def traced_store(self, ptrs, value, mask, *args):
        touched["store"].update(np.asarray(ptrs.data)[np.asarray(mask.data, bool)].ravel().tolist())
        return store(self, ptrs, value, mask, *args)

    builder.create_masked_load, builder.create_masked_store = traced_load, traced_store
    try:
        yield touched
    finally:
        builder.create_masked_load, builder.create_masked_store = load, store


def _planes(addresses: set[int], tensors: list[torch.Tensor], pixels: int) -> float:
    """How many float32 planes of `pixels` the addresses inside `tensors` amount to."""
    inside = sum(1 for address in addresses for tensor in tensors
                 if tensor.data_ptr() <= address < tensor.data_ptr() + tensor.numel() * tensor.element_size())
    return inside / pixels


@pytest.mark.skipif(ON_CUDA, reason="counts the interpreter's memory accesses")
def test_the_kernels_move_the_planes_the_gpu_model_counts():
    batch, height, width = 2, 10, 16
    fields = _fields(batch, height, width)
    dual = fields["dual"].permute(1, 0, 2, 3, 4).reshape(batch, 4, height, width).contiguous()
    data = tuple(fields[name].contiguous() for name in ("rho_c", "ix", "iy", "neg_inv_grad"))
    flow_out, dual_out = torch.empty_like(fields["flow"]), torch.empty_like(dual)
    pixel_tensors = [fields["flow"], dual, *data, flow_out, dual_out]
    active = torch.tensor([0, 1], dtype=torch.int32)  # one pair runs: its planes are counted per pixel
    with _traced_memory() as touched:
        triton_kernels.primal_dual_step(fields["flow"], dual, data, flow_out, dual_out, active,
                                        torch.zeros(batch), LAMBDA_THETA, TAU, THETA)
    assert _planes(touched["load"], pixel_tensors, height * width) == triton_kernels.STEP_PLANES_READ
    assert _planes(touched["store"], pixel_tensors, height * width) == triton_kernels.STEP_PLANES_WRITTEN
    filtered = torch.empty_like(fields["flow"])
    with _traced_memory() as touched:
        triton_kernels.median5(fields["flow"], filtered, active)
    planes = [fields["flow"], filtered]
    assert _planes(touched["load"], planes, 2 * height * width) == triton_kernels.MEDIAN_PLANES_READ
    assert _planes(touched["store"], planes, 2 * height * width) == triton_kernels.MEDIAN_PLANES_WRITTEN


def test_kernels_that_fail_leave_the_eager_solver_with_a_warning(monkeypatch, caplog):
    frames = torch.stack(_pairs(1, 16, 24))[:, 0].round().to(torch.uint8).numpy()
    options = {"scales": 1, "warps": 1, "iterations": 30, "device": str(DEVICE)}
    algorithm = get_flow_algorithm("tvl1", compile="triton", **options)

    def broken(*args, **kwargs):
        raise RuntimeError("PassManager::run failed\nmore detail")  # as a Triton compile failure reads

    monkeypatch.setattr(triton_kernels, "primal_dual_step", broken)
    with caplog.at_level("WARNING"):
        flow = algorithm.compute(frames)
    assert "Triton kernels failed (RuntimeError: PassManager::run failed); solving eagerly" in caplog.text
    assert not algorithm.triton
    eager = get_flow_algorithm("tvl1", compile="off", **{**options, "device": "cpu"}).compute(frames)
    assert float(np.abs(flow - eager).max()) < 1e-4

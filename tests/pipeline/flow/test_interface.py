"""The flow interface every algorithm shares: names, shapes, parameters, errors, batching, the flow command."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from twostream.cli.main import main
from twostream.data.errors import TwostreamError
from twostream.pipeline.flow import FLOW_ALGORITHMS, get_flow_algorithm, read_flo
from twostream.pipeline.flow.tvl1 import tvl1_flow

cv2 = pytest.importorskip("cv2")  # OpenCV is what these tests compare with

TSN = {"tau": 0.25, "lambda": 0.15, "theta": 0.3, "scales": 5, "scale_step": 0.8, "warps": 5,
       "epsilon": 0.01, "iterations": 300}


def _moving_frames(count: int, height: int = 40, width: int = 48) -> np.ndarray:
    """Smooth texture translated by one pixel right and half a pixel down per frame."""
    rng = np.random.default_rng(3)
    texture = cv2.GaussianBlur((rng.random((height + 40, width + 40)) * 255).astype(np.float32), (0, 0), 1.0)
    texture = cv2.normalize(texture, None, 0, 255, cv2.NORM_MINMAX)
    frames = [
        cv2.warpAffine(texture, np.float32([[1, 0, t - 20], [0, 1, 0.5 * t - 20]]), (width, height),
                       flags=cv2.INTER_CUBIC)
        for t in range(count)
    ]
    return np.clip(np.rint(frames), 0, 255).astype(np.uint8)


def test_names():
    assert FLOW_ALGORITHMS == ("tvl1", "tvl1-opencv", "farneback")
    with pytest.raises(TwostreamError, match="unknown flow algorithm 'brox'.*tvl1"):
        get_flow_algorithm("brox")


@pytest.mark.parametrize("name", FLOW_ALGORITHMS)
def test_shapes_direction_and_params(name):
    algorithm = get_flow_algorithm(name, **({"device": "cpu"} if name == "tvl1" else {}))
    assert algorithm.name == name
    json.dumps(algorithm.params)
    frames = _moving_frames(4)
    flow = algorithm.compute(frames)
    assert flow.shape == (3, 40, 48, 2) and flow.dtype == np.float32
    centre = flow[:, 10:-10, 10:-10].reshape(-1, 2).mean(axis=0)
    np.testing.assert_allclose(centre, (1.0, 0.5), atol=0.15)
    np.testing.assert_array_equal(algorithm.compute_pair(frames[1], frames[2]), flow[1])


@pytest.mark.parametrize("name", ["tvl1", "tvl1-opencv"])
def test_tvl1_defaults_are_tsn_and_overridable(name):
    params = get_flow_algorithm(name).params
    assert {key: params[key] for key in TSN} == TSN
    assert params["inner_iterations"] * 10 == params["iterations"]
    assert get_flow_algorithm(name, warps=3, lambda_=0.2).params["warps"] == 3
    assert get_flow_algorithm(name, **{"lambda": 0.2}).params["lambda"] == 0.2
    with pytest.raises(TwostreamError, match="unknown TV-L1 parameter"):
        get_flow_algorithm(name, wraps=3)
    with pytest.raises(TwostreamError, match="scale_step"):
        get_flow_algorithm(name, scale_step=1.5)


@pytest.mark.parametrize("name", FLOW_ALGORITHMS)
@pytest.mark.parametrize(
    "frames, message",
    [
        (np.zeros((1, 20, 20), np.uint8), "at least 2 frames, got 1"),
        (np.zeros((3, 20, 20), np.float32), "uint8"),
        (np.zeros((3, 20, 20, 3), np.uint8), "grayscale"),
        ([[[0]]], "numpy array"),
    ],
)
def test_bad_frames_raise_clear_errors(name, frames, message):
    with pytest.raises(TwostreamError, match=message):
        get_flow_algorithm(name).compute(frames)


def test_pair_of_different_sizes_is_refused():
    with pytest.raises(TwostreamError, match="differ in size"):
        get_flow_algorithm("farneback").compute_pair(np.zeros((8, 8), np.uint8), np.zeros((8, 9), np.uint8))


def test_batches_give_the_same_flow_as_single_pairs():
    # batching must not change results: pairs converge at different iterations and are frozen then
    frames = _moving_frames(5)
    frames[3] = frames[2]  # a still pair converges sooner than the moving ones
    single = get_flow_algorithm("tvl1", device="cpu", batch_size=1).compute(frames)
    batched = get_flow_algorithm("tvl1", device="cpu", batch_size=3).compute(frames)
    np.testing.assert_allclose(batched, single, atol=1e-4)


def test_batched_sets_how_many_pairs_each_algorithm_takes_at_once():
    tvl1 = get_flow_algorithm("tvl1", device="cpu", scales=2, warps=2, iterations=30)
    assert tvl1.pairs_per_call(96, 128) == 1  # one pair at a time on the CPU unless told
    four = tvl1.batched(4)
    assert four.pairs_per_call(96, 128) == 4 and four.params == tvl1.params
    frames = _moving_frames(6)
    np.testing.assert_allclose(four.compute(frames), tvl1.compute(frames), atol=1e-4)
    farneback = get_flow_algorithm("farneback")
    assert farneback.batched(4) is farneback and farneback.pairs_per_call(96, 128) == 8


def test_torch_tvl1_option_errors():
    with pytest.raises(TwostreamError, match="batch_size"):
        get_flow_algorithm("tvl1", batch_size=0)
    with pytest.raises(TwostreamError, match="device"):
        get_flow_algorithm("tvl1", device="tpu")


def test_flow_command_writes_flo_and_png(tmp_path, capsys):
    frames = _moving_frames(2)
    for index, frame in enumerate(frames):
        cv2.imwrite(str(tmp_path / f"f{index}.png"), frame)
    code = main(["flow", str(tmp_path / "f0.png"), str(tmp_path / "f1.png"), "-o", str(tmp_path / "out.flo"),
                 "--flow", "farneback", "--png", str(tmp_path / "out.png")])
    assert code == 0
    assert "out.flo" in capsys.readouterr().out
    np.testing.assert_array_equal(read_flo(tmp_path / "out.flo"), get_flow_algorithm("farneback").compute(frames)[0])
    assert cv2.imread(str(tmp_path / "out.png")).shape == (40, 48, 3)


def test_flow_command_reports_bad_input(tmp_path, capsys):
    code = main(["flow", str(tmp_path / "missing.png"), str(tmp_path / "also.png"), "-o", str(tmp_path / "o.flo")])
    assert code == 2
    assert "missing.png: no such image file" in capsys.readouterr().err


def test_infrequent_convergence_checks_do_not_change_the_flow():
    # GPUs check convergence every few iterations; converged pairs must stay frozen in between
    frames = torch.from_numpy(_moving_frames(3)).float()
    every_step = tvl1_flow(frames[:-1], frames[1:], sync_every=1)
    every_seventh = tvl1_flow(frames[:-1], frames[1:], sync_every=7)
    torch.testing.assert_close(every_seventh, every_step, atol=1e-4, rtol=0)

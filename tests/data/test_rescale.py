"""Rescaling snippet features to T positions, checked against the method written out with scipy."""
import numpy as np
import pytest
from scipy.interpolate import interp1d

from twostream.data.rescale import RescaleError, rescale_positions


def described(features: np.ndarray, positions: int) -> np.ndarray:
    """The post-processing as described: linear interpolation over snippet indices, T equal bins between
    1e-4 and L-1-1e-4, the mean of 3 points a third of a bin apart from each bin's start."""
    curve = interp1d(np.arange(len(features)), features, axis=0)
    start, end = 1e-4, len(features) - 1 - 1e-4
    width = (end - start) / positions
    return np.stack([curve([start + (k + i / 3) * width for i in range(3)]).mean(axis=0) for k in range(positions)])


@pytest.mark.parametrize("length, positions", [(7, 100), (250, 100), (100, 100), (2, 5), (33, 128)])
def test_rescaling_matches_the_described_method(length, positions):
    features = np.random.default_rng(length).normal(size=(length, 6)).astype(np.float32)
    rescaled = rescale_positions(features, positions)
    assert rescaled.shape == (positions, 6) and rescaled.dtype == np.float32
    np.testing.assert_allclose(rescaled, described(features.astype(np.float64), positions), rtol=1e-5, atol=1e-5)


def test_a_linear_ramp_stays_linear_and_a_single_snippet_repeats():
    ramp = np.arange(11, dtype=np.float32)[:, None] * [1.0, -2.0]
    rescaled = rescale_positions(ramp, 4)
    steps = np.diff(rescaled[:, 0])
    assert np.allclose(steps, steps[0]) and np.allclose(rescaled[:, 1], -2 * rescaled[:, 0])
    assert rescaled[0, 0] > 0 and rescaled[-1, 0] < 10
    single = rescale_positions(np.array([[1.5, 2.5]]), 100)
    assert single.shape == (100, 2) and np.all(single == [1.5, 2.5])


def test_bad_input_is_refused():
    with pytest.raises(RescaleError, match="non-empty"):
        rescale_positions(np.zeros((0, 4)), 10)
    with pytest.raises(RescaleError, match="positions must be positive"):
        rescale_positions(np.zeros((5, 4)), 0)

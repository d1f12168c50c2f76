"""The PyTorch image operations reproduce OpenCV's resize, remap and median filter."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from twostream.pipeline.flow.imageops import (
    centered_gradient,
    median_filter,
    median_filter_torch,
    remap_bicubic,
    resize_linear,
    scaled_size,
)

cv2 = pytest.importorskip("cv2")  # OpenCV is what these tests compare with

RNG = np.random.default_rng(7)
IMAGE = (RNG.random((45, 61)) * 255).astype(np.float32)


def _tensor(image: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(image)[None, None]


@pytest.mark.parametrize("factor", [0.8, 0.5, 0.63])
def test_resize_by_factor_matches_opencv(factor):
    expected = cv2.resize(IMAGE, None, fx=factor, fy=factor, interpolation=cv2.INTER_LINEAR)
    size = scaled_size(*IMAGE.shape, factor)
    assert size == expected.shape
    np.testing.assert_allclose(resize_linear(_tensor(IMAGE), size, factor)[0, 0].numpy(), expected, atol=1e-3)


def test_resize_to_size_matches_opencv():
    expected = cv2.resize(IMAGE, (77, 56), interpolation=cv2.INTER_LINEAR)
    np.testing.assert_allclose(resize_linear(_tensor(IMAGE), (56, 77))[0, 0].numpy(), expected, atol=1e-3)


def test_remap_bicubic_matches_opencv_including_outside():
    height, width = IMAGE.shape
    flow = (RNG.normal(size=(2, height, width)) * 3).astype(np.float32)
    flow[0, :5] += 40  # far outside on the right
    xs, ys = np.meshgrid(np.arange(width, dtype=np.float32), np.arange(height, dtype=np.float32))
    expected = cv2.remap(IMAGE, xs + flow[0], ys + flow[1], cv2.INTER_CUBIC, borderMode=cv2.BORDER_CONSTANT)
    ours = remap_bicubic(_tensor(IMAGE), torch.from_numpy(flow)[None])[0, 0].numpy()
    np.testing.assert_allclose(ours, expected, atol=0.02)
    assert (ours[:5, -10:] == 0).all()


def test_centered_gradient_is_one_sided_at_borders():
    dx, dy = centered_gradient(_tensor(IMAGE))
    np.testing.assert_allclose(dx[0, 0, :, 0].numpy(), 0.5 * (IMAGE[:, 1] - IMAGE[:, 0]), rtol=1e-6)
    np.testing.assert_allclose(dx[0, 0, :, 5].numpy(), 0.5 * (IMAGE[:, 6] - IMAGE[:, 4]), rtol=1e-6)
    np.testing.assert_allclose(dy[0, 0, -1].numpy(), 0.5 * (IMAGE[-1] - IMAGE[-2]), rtol=1e-6)


@pytest.mark.parametrize("size", [3, 5])
def test_median_filters_match_opencv(size):
    planes = (RNG.normal(size=(2, 3, 40, 52)) * 4).astype(np.float32)
    expected = np.stack([[cv2.medianBlur(plane, size) for plane in pair] for pair in planes])
    np.testing.assert_array_equal(median_filter_torch(torch.from_numpy(planes), size).numpy(), expected)
    np.testing.assert_array_equal(median_filter(torch.from_numpy(planes), size).numpy(), expected)

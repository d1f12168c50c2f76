"""The Middlebury colour coding: hue from direction, saturation from speed, white at rest."""
from __future__ import annotations

import numpy as np
import pytest

from twostream.pipeline.flow.color import color_wheel, color_wheel_key, flow_to_color
from twostream.pipeline.flow.errors import FlowError


def _colour(u: float, v: float, scale: float = 1.0) -> np.ndarray:
    return flow_to_color(np.array([[[u, v]]]), max_magnitude=scale)[0, 0].astype(int)


def test_wheel_has_the_six_primaries_at_the_middlebury_positions():
    wheel = color_wheel()
    assert wheel.shape == (55, 3)
    for index, primary in [(0, (1, 0, 0)), (15, (1, 1, 0)), (21, (0, 1, 0)), (25, (0, 1, 1)), (36, (0, 0, 1)),
                           (49, (1, 0, 1))]:
        np.testing.assert_allclose(wheel[index], primary)


def test_directions_map_to_their_hues_and_rest_is_white():
    assert _colour(0, 0).tolist() == [255, 255, 255]
    assert _colour(1, 0).tolist() == [255, 0, 0]  # right: red
    down = _colour(0, 1)  # image y grows downwards: between red and green
    assert down[0] == 255 and 0 < down[1] < 255 and down[2] == 0
    left = _colour(-1, 0)  # left: cyan side
    assert left[0] == 0 and left[1] > 150 and left[2] == 255


def test_speed_sets_saturation_and_overspeed_is_dimmed():
    half, full, fast = _colour(0.5, 0, 1.0), _colour(1, 0, 1.0), _colour(2, 0, 1.0)
    assert half.tolist() == [255, 128, 128]
    assert full.tolist() == [255, 0, 0]
    assert fast.tolist() == [191, 0, 0]
    default_scale = flow_to_color(np.array([[[2.0, 0.0], [1.0, 0.0]]]))
    assert default_scale[0, 0].tolist() == [255, 0, 0] and default_scale[0, 1].tolist() == [255, 128, 128]


def test_invalid_vectors_are_black_and_shapes_are_checked():
    image = flow_to_color(np.array([[[np.nan, 1.0], [1.0, 0.0]]]))
    assert image[0, 0].tolist() == [0, 0, 0] and image[0, 1].tolist() == [255, 0, 0]
    with pytest.raises(FlowError, match=r"\(H, W, 2\)"):
        flow_to_color(np.zeros((4, 4, 3)))


def test_colour_key_is_white_outside_the_unit_disc():
    key = color_wheel_key(21)
    assert key.shape == (21, 21, 3)
    assert key[0, 0].tolist() == [255, 255, 255] and key[10, 10].tolist() == [255, 255, 255]
    assert key[10, 20].tolist() == [255, 0, 0]

"""Middlebury .flo files, TSN quantisation and colour coding."""
from __future__ import annotations

import numpy as np
import pytest

from twostream.data.errors import TwostreamError
from twostream.pipeline.flow import dequantize_flow, flow_to_color, quantize_flow, read_flo, write_flo


def test_flo_round_trip_is_exact(tmp_path):
    flow = np.random.default_rng(0).normal(size=(7, 11, 2)).astype(np.float32) * 5
    write_flo(tmp_path / "a.flo", flow)
    assert (tmp_path / "a.flo").stat().st_size == 12 + 7 * 11 * 2 * 4
    back = read_flo(tmp_path / "a.flo")
    assert back.dtype == np.float32 and back.shape == (7, 11, 2)
    np.testing.assert_array_equal(back, flow)


def test_flo_layout_is_magic_width_height_then_interleaved_uv(tmp_path):
    flow = np.zeros((2, 3, 2), np.float32)
    flow[1, 2] = (4.5, -1.25)
    write_flo(tmp_path / "a.flo", flow)
    raw = (tmp_path / "a.flo").read_bytes()
    assert np.frombuffer(raw[:4], "<f4")[0] == np.float32(202021.25)
    assert tuple(np.frombuffer(raw[4:12], "<i4")) == (3, 2)
    assert tuple(np.frombuffer(raw[12:], "<f4")[-2:]) == (4.5, -1.25)


@pytest.mark.parametrize(
    "content, message",
    [
        (b"", "shorter than the 12-byte header"),
        (np.array([1.0, 0, 0], "<f4").tobytes(), "magic number"),
        (np.array([202021.25], "<f4").tobytes() + np.array([-3, 2], "<i4").tobytes(), "bad .flo header"),
        (np.array([202021.25], "<f4").tobytes() + np.array([3, 2], "<i4").tobytes() + bytes(40), "truncated"),
    ],
)
def test_bad_flo_files_raise_clear_errors(tmp_path, content, message):
    path = tmp_path / "bad.flo"
    path.write_bytes(content)
    with pytest.raises(TwostreamError, match=message) as raised:
        read_flo(path)
    assert str(path) in str(raised.value)


def test_write_flo_rejects_wrong_shape(tmp_path):
    with pytest.raises(TwostreamError, match=r"\(H, W, 2\)"):
        write_flo(tmp_path / "x.flo", np.zeros((4, 4, 3), np.float32))


def test_quantisation_follows_tsn():
    flow = np.array([-25.0, -20.0, -0.1, 0.0, 0.1, 10.0, 20.0, 33.0], np.float32)
    expected = np.rint(255 * (np.clip(flow, -20, 20) + 20) / 40).astype(np.uint8)
    q = quantize_flow(flow)
    assert q.dtype == np.uint8
    np.testing.assert_array_equal(q, expected)
    assert (q[0], q[1], q[-2], q[-1]) == (0, 0, 255, 255)


def test_dequantisation_inverts_within_half_a_level():
    flow = np.linspace(-7.9, 7.9, 1001, dtype=np.float32)
    back = dequantize_flow(quantize_flow(flow, bound=8.0), bound=8.0)
    assert np.abs(back - flow).max() <= 8.0 / 255 + 1e-6


def test_quantisation_rejects_bad_bound_and_dtype():
    with pytest.raises(TwostreamError, match="bound"):
        quantize_flow(np.zeros(3), bound=0)
    with pytest.raises(TwostreamError, match="uint8"):
        dequantize_flow(np.zeros(3, np.float32))


def test_colour_coding_directions():
    flow = np.zeros((1, 4, 2), np.float32)
    flow[0, 1] = (1, 0)  # right: red
    flow[0, 2] = (0, 1)  # down: yellow-green side of the wheel
    flow[0, 3] = (-1, 0)  # left: cyan
    rgb = flow_to_color(flow)
    assert rgb.shape == (1, 4, 3) and rgb.dtype == np.uint8
    assert tuple(rgb[0, 0]) == (255, 255, 255)  # no motion: white
    red, down, left = rgb[0, 1].astype(int), rgb[0, 2].astype(int), rgb[0, 3].astype(int)
    assert red[0] == 255 and red[1] < 30
    assert left[0] < 30 and left[1] > 200 and left[2] > 200
    assert down[1] > down[2]

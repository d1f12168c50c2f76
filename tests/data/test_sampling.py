import numpy as np
import pytest

from twostream.data.sampling import (
    Crop,
    SamplingError,
    cut,
    cut_flow,
    dense_snippets,
    evaluation_crops,
    evaluation_snippets,
    flow_channels,
    rgb_index,
    stack_starts,
    train_crop,
    training_snippets,
)


def test_test_snippets_are_evenly_spaced_and_in_range():
    starts = evaluation_snippets(num_frames=131, snippets=25)  # 130 fields, 126 stack starts
    assert len(starts) == 25 and starts.min() >= 0 and starts.max() <= 125
    assert np.all(np.diff(starts) > 0)
    assert abs(np.diff(starts).mean() - 126 / 25) < 0.3
    assert rgb_index(starts[0]) == starts[0] + 2


def test_short_videos_repeat_snippets_and_too_short_ones_are_refused():
    starts = evaluation_snippets(num_frames=8, snippets=25)  # 3 stack starts
    assert set(starts.tolist()) == {0, 1, 2}
    with pytest.raises(SamplingError, match="shorter than a flow stack of 5 fields"):
        stack_starts(5)


def test_train_snippets_fall_one_in_each_segment():
    rng = np.random.default_rng(0)
    for _ in range(50):
        starts = training_snippets(100, 3, rng)  # 95 starts: segments [0,31), [31,63), [63,95)
        assert 0 <= starts[0] < 31 <= starts[1] < 63 <= starts[2] < 95


def test_ten_crops_are_corners_centre_and_mirrors():
    crops = evaluation_crops(256, 340, 224, 10)
    assert [(c.top, c.left) for c in crops[:5]] == [(0, 0), (0, 116), (32, 0), (32, 116), (16, 58)]
    assert [c.flip for c in crops] == [False] * 5 + [True] * 5
    assert evaluation_crops(256, 340, 224, 1) == [Crop(16, 58, 224)]
    assert [c.left for c in evaluation_crops(256, 340, 224, 3)] == [0, 58, 116]
    with pytest.raises(SamplingError, match="does not fit"):
        evaluation_crops(96, 128, 112, 10)


def test_flipped_flow_crop_reverses_positions_and_inverts_x():
    stack = np.zeros((5, 4, 6, 2), dtype=np.uint8)
    stack[..., 0] = np.arange(6, dtype=np.uint8) * 10  # x varies along width
    stack[..., 1] = 77
    mirrored = cut_flow(stack, Crop(0, 0, 4, flip=True))
    assert mirrored[0, 0, :, 0].tolist() == [255 - 30, 255 - 20, 255 - 10, 255 - 0]
    assert np.all(mirrored[..., 1] == 77)  # y is unchanged
    plain = cut_flow(stack, Crop(0, 0, 4))
    assert plain[0, 0, :, 0].tolist() == [0, 10, 20, 30]
    image = np.arange(4 * 6 * 3).reshape(4, 6, 3)
    assert np.array_equal(cut(image, Crop(0, 2, 4, flip=True)), image[:, 2:6][:, ::-1])


def test_flow_channels_interleave_x_and_y():
    stack = np.stack([np.full((2, 3, 2), (2 * t, 2 * t + 1)) for t in range(5)]).astype(np.uint8)
    channels = flow_channels(stack)
    assert channels.shape == (10, 2, 3) and channels[:, 0, 0].tolist() == list(range(10))


def test_train_crop_uses_scaled_sides_and_corner_spots():
    rng = np.random.default_rng(1)
    seen = set()
    for _ in range(200):
        top, left, h, w, flip = train_crop(256, 340, rng)
        assert h in (256, 224, 192, 168) and w in (256, 224, 192, 168)
        assert 0 <= top <= 256 - h and 0 <= left <= 340 - w
        seen.add(flip)
    assert seen == {True, False}


def test_dense_snippets_sit_at_the_middle_of_every_stride_window():
    starts = dense_snippets(num_frames=100, stride=16)  # windows centred on 8, 24, ..., 88 (mmaction2's count)
    assert rgb_index(starts).tolist() == [8, 24, 40, 56, 72, 88]
    assert len(dense_snippets(num_frames=1000, stride=5)) == 200


def test_dense_snippets_near_the_ends_move_inside_the_video():
    starts = dense_snippets(num_frames=10, stride=2)  # centres 1, 3, 5, 7, 9; stacks start at 0 .. 4
    assert starts.tolist() == [0, 1, 3, 4, 4]
    assert starts.max() == stack_starts(10) - 1


def test_dense_snippets_refuse_a_bad_stride_and_a_short_video():
    with pytest.raises(SamplingError, match="stride must be a positive number of frames"):
        dense_snippets(num_frames=100, stride=0)
    with pytest.raises(SamplingError, match="shorter than a flow stack"):
        dense_snippets(num_frames=5, stride=2)


def test_clips_start_every_stride_frames_while_their_flow_fields_last():
    from twostream.data.sampling import clip_frames, clip_starts

    starts = clip_starts(100, 16, 4)  # 99 flow fields: the last clip starts at 80 (84 + 16 would need field 99)
    assert starts.tolist() == list(range(0, 81, 4))
    assert clip_frames(80, 16, 100).tolist() == list(range(80, 96))
    assert clip_starts(10, 16, 4).tolist() == [0]  # shorter than a clip: one clip, its last field repeated
    assert clip_frames(0, 16, 10).tolist() == [*range(9), *[8] * 7]
    with pytest.raises(SamplingError, match="positive number of frames"):
        clip_starts(100, 16, 0)

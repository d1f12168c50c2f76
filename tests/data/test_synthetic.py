from collections import Counter
from dataclasses import replace

import numpy as np
import pytest

from twostream.data.errors import TwostreamError
from twostream.data.synthetic import (
    COLOURS,
    LETTERBOX,
    PRESETS,
    SyntheticConfig,
    class_cues,
    make_synthetic,
    plan_videos,
    render_video,
)
from twostream.pipeline.decode import FrameSize, read_video

TINY = PRESETS["tiny"]


def test_same_seed_gives_the_same_decoded_frames(tmp_path, tiny_dataset):
    root, manifest = tiny_dataset
    again = make_synthetic(tmp_path / "again", TINY, workers=1)
    for video in manifest.videos[:4]:
        first, _ = read_video(manifest.video_path(video), FrameSize.parse("native"))
        second, _ = read_video(again / "videos" / video.path, FrameSize.parse("native"))
        assert np.array_equal(first, second)


def test_another_seed_gives_other_videos():
    spec = plan_videos(TINY)[0]
    other = replace(TINY, seed=TINY.seed + 1)
    assert not np.array_equal(render_video(TINY, spec), render_video(other, plan_videos(other)[0]))


def test_dataset_reads_through_the_ucf101_code_path(tiny_dataset):
    root, manifest = tiny_dataset
    assert len(manifest) == TINY.classes * TINY.videos_per_class
    assert {v.path.rsplit(".", 1)[1] for v in manifest} == {"mp4", "avi"}
    for split in (1, 2, 3):
        train_groups = {v.group for v in manifest.select(split, "train")}
        test_groups = {v.group for v in manifest.select(split, "test")}
        assert test_groups and not train_groups & test_groups
    frames, info = read_video(manifest.video_path(manifest.videos[0]), FrameSize.parse("native"))
    assert frames.shape == (TINY.frames, TINY.height, TINY.width, 3)
    assert info.fps == pytest.approx(TINY.fps)


def test_classes_have_distinct_cues_and_degradations_mix():
    config = PRESETS["demo"]
    cues = [class_cues(c) for c in range(config.classes)]
    assert len({(shape, colour) for shape, colour, _ in cues}) == config.classes
    assert len({motion for _, _, motion in cues}) == config.classes
    specs = plan_videos(config)
    kinds = Counter(s.degradation for s in specs)
    assert set(kinds) == {None, "low_contrast", "blur", "distractor", "shake", "stutter", "mimic"}
    misleading = sum(kinds[k] for k in ("distractor", "mimic")) / sum(n for k, n in kinds.items() if k)
    assert 0.35 < misleading < 0.65  # half of the degraded videos mislead a stream
    assert all(s.decoy_class not in (None, s.class_index) for s in specs if s.degradation in ("distractor", "mimic"))


def test_degradations_leave_a_visible_trace():
    config = replace(PRESETS["test"], degrade_fraction=1.0)
    specs = plan_videos(config)
    clean = render_video(replace(config, degrade_fraction=0.0), plan_videos(replace(config, degrade_fraction=0.0))[0])
    shake = next(s for s in specs if s.degradation == "shake")
    low = next(s for s in specs if s.degradation == "low_contrast")
    # Camera shake moves the whole frame: consecutive frames differ far more than under a slow pan.
    step = lambda v: np.abs(np.diff(v.astype(np.float32), axis=0)).mean()  # noqa: E731
    assert step(render_video(config, shake)) > 1.5 * step(clean)
    # Grain: high-frequency energy rises.
    grain = lambda v: np.abs(np.diff(v.astype(np.float32), axis=2)).mean()  # noqa: E731
    assert grain(render_video(config, low)) > 1.3 * grain(clean)


def test_misleading_degradations_show_another_class_to_one_stream_and_a_trace_to_the_other():
    config = replace(PRESETS["test"], degrade_fraction=1.0, mislead_fraction=1.0)
    specs = plan_videos(config)
    assert {s.degradation for s in specs} == {"distractor", "mimic"}
    mimic = next(s for s in specs if s.degradation == "mimic")
    distractor = next(s for s in specs if s.degradation == "distractor")
    # mimic: still black bars over the top and bottom rows of every frame (the letterbox), nothing there moves
    frames = render_video(config, mimic).astype(np.float32)
    bar = int(round(LETTERBOX * config.height))
    assert frames[:, :bar].max() < 20 and frames[:, -bar:].max() < 20
    assert np.ptp(frames[:, :bar], axis=0).max() == 0
    # The true object holds still (it drifts only with the slow camera pan; a moving object travels ~9 px a frame).
    true_colour = np.array(COLOURS[class_cues(mimic.class_index)[1]], dtype=np.float32)
    near = np.linalg.norm(frames - true_colour, axis=-1) < 40
    assert near.sum(axis=(1, 2)).min() > 20
    centroids = np.array([np.argwhere(mask).mean(axis=0) for mask in near])
    assert np.linalg.norm(np.diff(centroids, axis=0), axis=1).max() < 3.0
    # distractor: the frames show the decoy class's colour and barely the true class's; the camera zooms in
    frames = render_video(config, distractor).astype(np.float32)
    decoy_colour = np.array(COLOURS[class_cues(distractor.decoy_class)[1]], dtype=np.float32)
    own_colour = np.array(COLOURS[class_cues(distractor.class_index)[1]], dtype=np.float32)
    assert (np.linalg.norm(frames[0] - decoy_colour, axis=-1) < 40).sum() > 20
    assert (np.linalg.norm(frames[0] - own_colour, axis=-1) < 40).sum() < 5
    centre_shift = np.abs(frames[-1, 30:42, 42:54] - frames[0, 30:42, 42:54]).mean()
    border_shift = np.abs(frames[-1, :6, :] - frames[0, :6, :]).mean()
    assert border_shift > centre_shift  # a zoom moves the border far more than the centre


def test_bad_configurations_are_refused(tmp_path):
    with pytest.raises(TwostreamError, match="classes must be between"):
        SyntheticConfig(classes=1).validate()
    with pytest.raises(TwostreamError, match="even"):
        SyntheticConfig(width=65).validate()
    make_synthetic(tmp_path, TINY, workers=1)
    with pytest.raises(TwostreamError, match="another configuration"):
        make_synthetic(tmp_path, replace(TINY, seed=5), workers=1)

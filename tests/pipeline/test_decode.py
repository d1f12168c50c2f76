import shutil
import subprocess

import numpy as np
import pytest

from twostream.data.runtime import ffmpeg_executable
from twostream.pipeline.decode import FrameSize, VideoDecodeError, VideoReader, iter_frame_batches, read_video


@pytest.mark.parametrize("name, frames, fps, source", [
    ("v_ApplyEyeMakeup_sample.avi", 164, 25.0, (320, 240)),
    ("kinetics_sample_340x256.mp4", 300, 30.0, (340, 256)),
])
def test_real_clips_decode_with_counts_from_the_stream(shared_data, name, frames, fps, source):
    video, info = read_video(shared_data / "videos" / name)
    assert video.shape == (frames, 256, 340, 3) and video.dtype == np.uint8
    assert (info.frames, info.fps, (info.source_width, info.source_height)) == (frames, fps, source)
    assert video.std() > 10  # real picture content, not a blank buffer


@pytest.mark.parametrize("size, shape", [("340x256", (256, 340)), ("short256", (256, 342)), ("native", (240, 320))])
def test_frame_sizes(shared_data, size, shape):
    first = next(iter(VideoReader(shared_data / "videos" / "v_ApplyEyeMakeup_sample.avi", FrameSize.parse(size))))
    assert first.shape == (*shape, 3)


def test_batches_cover_every_frame_in_order(shared_data):
    path = shared_data / "videos" / "v_ApplyEyeMakeup_sample.avi"
    whole, _ = read_video(path, FrameSize.parse("native"))
    batches = list(iter_frame_batches(path, 50, FrameSize.parse("native")))
    assert [len(b) for b in batches] == [50, 50, 50, 14]
    assert np.array_equal(np.concatenate(batches), whole)


def test_stopping_early_ends_ffmpeg(shared_data):
    reader = VideoReader(shared_data / "videos" / "kinetics_sample_340x256.mp4")
    with reader:
        next(iter(reader))
    assert reader._process.poll() is not None


def test_path_with_spaces_and_non_ascii_characters(tmp_path, shared_data):
    odd = tmp_path / "dir with space" / "vidéo ünïcode: 1.avi"
    odd.parent.mkdir()
    shutil.copy(shared_data / "videos" / "v_ApplyEyeMakeup_sample.avi", odd)
    video, info = read_video(odd)
    assert info.frames == 164


def _bad_file(tmp_path, kind: str, shared_data):
    clip = shared_data / "videos" / "kinetics_sample_340x256.mp4"
    path = tmp_path / {"zero": "zero.mp4", "text": "notes.avi", "truncated_mp4": "cut.mp4",
                       "truncated_avi": "cut.avi", "audio": "sound.m4a", "missing": "absent.mp4"}[kind]
    if kind == "zero":
        path.write_bytes(b"")
    elif kind == "text":
        path.write_text("this is a text file, renamed\n")
    elif kind == "truncated_mp4":
        path.write_bytes(clip.read_bytes()[: clip.stat().st_size // 3])
    elif kind == "truncated_avi":
        path.write_bytes((shared_data / "videos" / "v_ApplyEyeMakeup_sample.avi").read_bytes()[:120_000])
    elif kind == "audio":
        subprocess.run([ffmpeg_executable(), "-loglevel", "error", "-f", "lavfi", "-i", "sine=d=1", str(path)],
                       check=True)
    return path


@pytest.mark.parametrize("kind, reason", [
    ("zero", "empty"), ("text", "no frame could be decoded"), ("truncated_mp4", "no frame could be decoded"),
    ("truncated_avi", "truncated: the header says 164 frames"), ("audio", "has no video stream"),
    ("missing", "does not exist"),
])
def test_bad_inputs_raise_one_clear_error(tmp_path, shared_data, kind, reason):
    path = _bad_file(tmp_path, kind, shared_data)
    with pytest.raises(VideoDecodeError) as caught:
        read_video(path)
    assert reason in str(caught.value) and str(path) in str(caught.value)


def test_mp4_cut_after_its_index_is_reported_as_truncated(tmp_path, shared_data):
    faststart = tmp_path / "faststart.mp4"
    subprocess.run([ffmpeg_executable(), "-loglevel", "error", "-i", str(shared_data / "videos" / "kinetics_sample_340x256.mp4"),
                    "-c", "copy", "-movflags", "+faststart", str(faststart)], check=True)
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(faststart.read_bytes()[:400_000])
    with pytest.raises(VideoDecodeError, match="truncated: the header says 10.00 s"):
        read_video(cut)


def _sparse_avi(path):
    """An AVI of 12 s at 15 fps in its header (175 frames) that holds every sixth frame: the others are the
    empty chunks the AVI muxer writes for skipped timestamps, as webcams and surveillance recorders do."""
    subprocess.run([ffmpeg_executable(), "-loglevel", "error", "-f", "lavfi", "-i",
                    "testsrc=size=160x120:rate=15:duration=12", "-vf", r"select=not(mod(n\,6))",
                    "-fps_mode", "passthrough", "-c:v", "mjpeg", str(path)], check=True)
    return path


def test_an_avi_with_dropped_frames_is_judged_by_time_and_the_same_file_cut_in_half_is_refused(tmp_path):
    sparse = _sparse_avi(tmp_path / "sparse.avi")
    frames, info = read_video(sparse, FrameSize(None, None))
    assert len(frames) == 30 and info.header_frames == 175  # 30 frames decoded of 175 claimed
    assert info.header_frames_duration == pytest.approx(175 / 15, abs=1e-3) and info.duration == pytest.approx(12.0)
    cut = tmp_path / "cut.avi"
    cut.write_bytes(sparse.read_bytes()[: sparse.stat().st_size // 2])
    with pytest.raises(VideoDecodeError, match=r"truncated: the header says 175 frames \(11.67 s\) but only"):
        read_video(cut, FrameSize(None, None))


def test_frame_size_parsing():
    assert str(FrameSize.parse("340x256")) == "340x256"
    assert FrameSize.parse("short256").short_side == 256
    with pytest.raises(Exception, match="not understood"):
        FrameSize.parse("big")
    with pytest.raises(Exception, match="even"):
        FrameSize.parse("341x256")

"""Decoding any video ffmpeg reads into uint8 RGB frames, streamed, resized as TSN expects."""
from __future__ import annotations

import collections
import os
import re
import struct
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import ffmpeg
import numpy as np

from twostream.data.errors import TwostreamError
from twostream.data.runtime import ffmpeg_executable

# A decoded video shorter than this share of its container's duration is treated as truncated.
DEFAULT_MIN_DURATION_RATIO = 0.75

_SHOWINFO = re.compile(r"\bn:\s*(\d+)\s+pts:\s*(-?\d+)\s+pts_time:(-?[\d.]+).*?\bs:(\d+)x(\d+)")
_DURATION = re.compile(r"Duration: (\d+):(\d+):(\d+(?:\.\d+)?)")
_VIDEO_STREAM = re.compile(r"Stream #\d+:\d+.*?: Video: .*?, (\d{2,5})x(\d{2,5})")


class VideoDecodeError(TwostreamError):
    """A video could not be decoded: missing, empty, corrupt, truncated, or without a video stream."""

    def __init__(self, path: str | os.PathLike, reason: str, ffmpeg_message: str = "") -> None:
        detail = f" (ffmpeg: {ffmpeg_message})" if ffmpeg_message else ""
        super().__init__(f"cannot decode video {path}: {reason}{detail}")
        self.path = str(path)
        self.reason = reason
        self.ffmpeg_message = ffmpeg_message


@dataclass(frozen=True)
class FrameSize:
    """How decoded frames are resized: fixed WxH (TSN's 340x256), short side N, or the native size."""

    width: int | None = 340
    height: int | None = 256
    short_side: int | None = None

    @classmethod
    def parse(cls, text: str) -> "FrameSize":
        """Parse '340x256', 'short256' (short side 256, aspect kept) or 'native'."""
        value = text.strip().lower()
        if value == "native":
            return cls(None, None, None)
        if value.startswith("short") and value[5:].lstrip(":").isdigit():
            return cls(None, None, _even(int(value[5:].lstrip(":")), text))
        match = re.fullmatch(r"(\d+)x(\d+)", value)
        if match:
            return cls(_even(int(match.group(1)), text), _even(int(match.group(2)), text), None)
        raise TwostreamError(f"frame size {text!r} not understood; use WxH (e.g. 340x256), shortN (e.g. short256) or native")

    def __str__(self) -> str:
        if self.short_side:
            return f"short{self.short_side}"
        if self.width and self.height:
            return f"{self.width}x{self.height}"
        return "native"

    def scale_filter(self) -> str | None:
        """Return the ffmpeg scale filter for this size, or None for the native size."""
        if self.short_side:
            n = self.short_side
            return f"scale=w='if(lte(iw,ih),{n},-2)':h='if(lte(iw,ih),-2,{n})':flags=bilinear"
        if self.width and self.height:
            return f"scale={self.width}:{self.height}:flags=bilinear"
        return None


TSN_SIZE = FrameSize(340, 256)


def _even(value: int, text: str) -> int:
    if value < 2 or value % 2:
        raise TwostreamError(f"frame size {text!r}: sides must be even and at least 2")
    return value


@dataclass(frozen=True)
class VideoInfo:
    """What decoding found: frame count, frame rate and size of the decoded frames, and the header's claims."""

    path: str
    frames: int
    fps: float
    width: int
    height: int
    source_width: int | None
    source_height: int | None
    header_duration: float | None
    header_frames: int | None = None
    header_frame_seconds: float | None = None  # an AVI header's frame period

    @property
    def header_frames_duration(self) -> float | None:
        """Seconds an AVI header's frame count spans at its frame period (None without both)."""
        if not self.header_frames or not self.header_frame_seconds:
            return None
        return self.header_frames * self.header_frame_seconds

    @property
    def duration(self) -> float:
        """Seconds covered by the decoded frames."""
        return self.frames / self.fps if self.fps > 0 else 0.0


class _StderrWatcher(threading.Thread):
    """Drains ffmpeg's stderr, collecting frame timestamps, the output size and the last messages."""

    def __init__(self, stream) -> None:
        super().__init__(daemon=True)
        self.stream = stream
        self.size_known = threading.Event()
        self.size: tuple[int, int] | None = None
        self.pts_first: float | None = None
        self.pts_last: float | None = None
        self.frames_seen = 0
        self.header_duration: float | None = None
        self.source_size: tuple[int, int] | None = None
        self.messages: collections.deque[str] = collections.deque(maxlen=12)

    def run(self) -> None:
        try:
            for raw in iter(self.stream.readline, b""):
                self._take(raw.decode("utf-8", "replace").strip())
        finally:
            self.size_known.set()

    def _take(self, line: str) -> None:
        frame = _SHOWINFO.search(line)
        if frame:
            pts = float(frame.group(3))
            self.pts_first = pts if self.pts_first is None else self.pts_first
            self.pts_last = pts
            self.frames_seen += 1
            if self.size is None:
                self.size = (int(frame.group(4)), int(frame.group(5)))
                self.size_known.set()
            return
        if "showinfo" in line or not line:
            return
        duration = _DURATION.search(line)
        if duration and self.header_duration is None:
            h, m, s = duration.groups()
            self.header_duration = int(h) * 3600 + int(m) * 60 + float(s)
        stream = _VIDEO_STREAM.search(line)
        if stream and self.source_size is None:
            self.source_size = (int(stream.group(1)), int(stream.group(2)))
        self.messages.append(line)

    def last_error(self) -> str:
        """The most telling lines ffmpeg printed, joined: its errors where it printed any."""
        errors = [m for m in self.messages if re.search(r"error|invalid|corrupt|failed|not found|no such", m, re.I)]
        return " | ".join(errors[-3:])


class VideoReader:
    """Streams a video's frames as (H, W, 3) uint8 RGB arrays; `info` is complete once iteration ends.

    Use as an iterator (optionally in a `with` block so an early stop ends ffmpeg at once).
    """

    def __init__(
        self,
        path: str | os.PathLike,
        size: FrameSize = TSN_SIZE,
        min_duration_ratio: float | None = DEFAULT_MIN_DURATION_RATIO,
    ) -> None:
        self.path = Path(path)
        self.size = size
        self.min_duration_ratio = min_duration_ratio
        self.info: VideoInfo | None = None
        self._process = None

    def __enter__(self) -> "VideoReader":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        """Stop ffmpeg if it is still running."""
        if self._process is not None and self._process.poll() is None:
            self._process.kill()
            self._process.wait()

    def __iter__(self) -> Iterator[np.ndarray]:
        return self._frames()

    def _start(self):
        if not self.path.is_file():
            raise VideoDecodeError(self.path, "file does not exist" if not self.path.exists() else "is not a file")
        if self.path.stat().st_size == 0:
            raise VideoDecodeError(self.path, "file is empty (0 bytes)")
        filters = [f for f in (self.size.scale_filter(), "showinfo") if f]
        stream = ffmpeg.input("file:" + str(self.path.resolve()))
        stream = stream.output("pipe:", format="rawvideo", pix_fmt="rgb24", vf=",".join(filters),
                               fps_mode="passthrough", map="0:v:0")
        stream = stream.global_args("-hide_banner", "-nostdin", "-nostats")
        return stream.run_async(cmd=ffmpeg_executable(), pipe_stdout=True, pipe_stderr=True)

    def _frames(self) -> Iterator[np.ndarray]:
        self._process = process = self._start()
        watcher = _StderrWatcher(process.stderr)
        watcher.start()
        try:
            watcher.size_known.wait()
            if watcher.size is None:
                process.wait()
                watcher.join()
                reason = "has no video stream" if watcher.source_size is None and _no_video(watcher) else "no frame could be decoded"
                raise VideoDecodeError(self.path, reason, watcher.last_error())
            width, height = watcher.size
            frame_bytes = width * height * 3
            count = 0
            while True:
                buffer = bytearray(frame_bytes)
                got = _read_into(process.stdout, buffer)
                if got == 0:
                    break
                if got < frame_bytes:
                    raise VideoDecodeError(self.path, f"frame {count} ended after {got} of {frame_bytes} bytes")
                count += 1
                yield np.frombuffer(buffer, dtype=np.uint8).reshape(height, width, 3)
            returncode = process.wait()
            watcher.join()
            if returncode != 0:
                raise VideoDecodeError(self.path, f"ffmpeg failed after {count} frames (exit {returncode})",
                                       watcher.last_error())
            self.info = self._check(watcher, count, width, height)
        finally:
            self.close()

    def _check(self, watcher: _StderrWatcher, count: int, width: int, height: int) -> VideoInfo:
        fps = 0.0
        if count > 1 and watcher.pts_last is not None and watcher.pts_last > watcher.pts_first:
            fps = (count - 1) / (watcher.pts_last - watcher.pts_first)
        info = VideoInfo(str(self.path), count, round(fps, 4), width, height,
                         *(watcher.source_size or (None, None)), watcher.header_duration, *avi_header(self.path))
        if self.min_duration_ratio:
            # Judged by time: an AVI header's frame count may include dropped (empty) frames, so a
            # valid file can decode far fewer frames than it claims while covering its whole duration.
            # A cut AVI's container duration is estimated from what is left: its header's frames x period is not.
            # One frame spans no time: then only the frame count can tell.
            least = self.min_duration_ratio
            claimed = info.header_frames_duration
            if info.header_duration and count > 1 and info.duration < least * info.header_duration:
                claim = f"{info.header_duration:.2f} s"
            elif claimed and count > 1 and info.duration < least * claimed:
                claim = f"{info.header_frames} frames ({claimed:.2f} s)"
            elif info.header_frames and (not claimed or count < 2) and count < least * info.header_frames:
                claim = f"{info.header_frames} frames"
            else:
                return info
            raise VideoDecodeError(
                self.path,
                f"truncated: the header says {claim} but only {count} frames ({info.duration:.2f} s) "
                "could be decoded; re-encode or replace the file",
                watcher.last_error(),
            )
        return info


def avi_header(path: str | os.PathLike) -> tuple[int | None, float | None]:
    """Return the frame count and frame period (seconds) an AVI file's main header claims; (None, None) for
    other containers, None for a field the header leaves at zero."""
    with open(path, "rb") as stream:
        head = stream.read(56)
    if len(head) < 56 or head[:4] != b"RIFF" or head[8:12] != b"AVI " or head[24:28] != b"avih":
        return None, None
    microseconds = struct.unpack_from("<I", head, 32)[0]
    return struct.unpack_from("<I", head, 48)[0] or None, microseconds / 1e6 if microseconds else None


def _no_video(watcher: _StderrWatcher) -> bool:
    return any("does not contain any stream" in m or "matches no streams" in m for m in watcher.messages)


def _read_into(stream, buffer: bytearray) -> int:
    view = memoryview(buffer)
    filled = 0
    while filled < len(buffer):
        got = stream.readinto(view[filled:])
        if not got:
            break
        filled += got
    return filled


def iter_frames(path: str | os.PathLike, size: FrameSize = TSN_SIZE) -> Iterator[np.ndarray]:
    """Yield a video's frames one by one as (H, W, 3) uint8 RGB arrays."""
    yield from VideoReader(path, size)


def iter_frame_batches(path: str | os.PathLike, batch: int, size: FrameSize = TSN_SIZE) -> Iterator[np.ndarray]:
    """Yield a video's frames in (B, H, W, 3) uint8 arrays of at most `batch` frames."""
    pending: list[np.ndarray] = []
    for frame in iter_frames(path, size):
        pending.append(frame)
        if len(pending) == batch:
            yield np.stack(pending)
            pending = []
    if pending:
        yield np.stack(pending)


def read_video(path: str | os.PathLike, size: FrameSize = TSN_SIZE) -> tuple[np.ndarray, VideoInfo]:
    """Decode a whole video into one (N, H, W, 3) uint8 array with its VideoInfo."""
    reader = VideoReader(path, size)
    frames = list(reader)
    assert reader.info is not None
    out = np.empty((len(frames), reader.info.height, reader.info.width, 3), dtype=np.uint8)
    for index in range(len(frames)):
        out[index] = frames[index]
        frames[index] = None  # release each frame once copied, so the video is held once, not twice
    return out, reader.info

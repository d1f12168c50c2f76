"""frames.zarr: per video, RGB frames (JPEG bytes or raw uint8) and TSN-quantised optical flow.

Per video group ``videos/<video_id>``:

- ``rgb``: JPEG: shape (N,), dtype variable-length bytes, one encoded frame per element; raw:
  (N, H, W, 3) uint8. One frame per chunk, up to ``SHARD_FRAMES`` frames per shard file.
- ``flow``: (N-1, H, W, 2) uint8, x then y, quantised as TSN (see ``twostream.pipeline.flow``);
  ``flow[t]`` is the field from frame t to frame t+1. Chunks of ``FLOW_CHUNK`` fields, so a stack of
  5 fields is one or two chunk reads.
- attributes: source path and size, decoded frames, fps, frame size, flow algorithm, parameters and
  bound, tool version, and the completion mark.
"""
from __future__ import annotations

import os
from typing import Any, Sequence

import cv2
import numpy as np
import zarr

from twostream.pipeline.stores.integrity import CheckedArray, checked_array
from twostream.pipeline.stores.video_store import StoreDamageError, StoreError, VideoStore, create_array

FRAME_ARRAYS = ("rgb", "flow")
SHARD_FRAMES = 100
FLOW_CHUNK = 5
RGB_ENCODINGS = ("jpeg", "raw")


class FrameStore(VideoStore):
    """Reader (and, through `write_video`, writer) of a frames.zarr store."""

    kind = "frames"

    def num_frames(self, video_id: str) -> int:
        """Number of RGB frames of a video."""
        return int(self.array(video_id, "rgb").shape[0])

    def array(self, video_id: str, name: str) -> CheckedArray:
        """A video's "rgb" or "flow" array; its reads name the video and array when they meet damage."""
        return checked_array(self, self.video(video_id), video_id, name)

    def expected_arrays(self) -> list[str]:
        """The arrays every video of the store holds."""
        return list(FRAME_ARRAYS)

    def frame_size(self) -> tuple[int, int] | None:
        """(height, width) shared by the store's frames, when the frame size is fixed."""
        size = self.config.get("frame_size", "")
        if "x" in size:
            width, height = size.split("x")
            return int(height), int(width)
        return None

    def rgb(self, video_id: str, indices: Sequence[int] | slice | None = None) -> np.ndarray:
        """Return RGB frames of a video as (K, H, W, 3) uint8 (all frames when `indices` is None)."""
        array = self.array(video_id, "rgb")
        selection = slice(None) if indices is None else indices
        if self.config.get("rgb_encoding") == "raw":
            return np.asarray(array.get_orthogonal_selection((selection,)) if not isinstance(selection, slice)
                              else array[selection])
        encoded = array.get_orthogonal_selection((selection,)) if not isinstance(selection, slice) else array[selection]
        try:
            return np.stack([decode_jpeg(item, video_id) for item in np.atleast_1d(encoded)])
        except StoreError:
            raise StoreDamageError(self.path, video_id, "rgb", "a stored frame is not a decodable JPEG",
                                   self.kind) from None

    def flow(self, video_id: str, start: int = 0, length: int | None = None) -> np.ndarray:
        """Return quantised flow fields [start, start+length) of a video as (L, H, W, 2) uint8."""
        array = self.array(video_id, "flow")
        stop = array.shape[0] if length is None else start + length
        if start < 0 or stop > array.shape[0]:
            raise StoreError(f"video {video_id!r} has {array.shape[0]} flow fields; asked for [{start}, {stop})")
        return np.asarray(array[start:stop])

    def info(self, video_id: str) -> dict[str, Any]:
        """The attributes recorded for a video (source, frames, fps, flow parameters, ...)."""
        return dict(self.video(video_id).attrs)


def encode_jpeg(frame_rgb: np.ndarray, quality: int) -> bytes:
    """Encode an (H, W, 3) RGB frame as JPEG bytes."""
    ok, data = cv2.imencode(".jpg", cv2.cvtColor(frame_rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise StoreError("OpenCV could not encode a frame as JPEG")
    return data.tobytes()


def decode_jpeg(data: bytes, where: str = "") -> np.ndarray:
    """Decode JPEG bytes into an (H, W, 3) RGB frame."""
    image = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), cv2.IMREAD_COLOR)
    if image is None:
        raise StoreError(f"a stored frame of {where or 'a video'} is not a decodable JPEG; re-extract it with --overwrite")
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


class FrameGroupWriter:
    """Appends one video's frames and flow to its (staging) group, a shard at a time."""

    def __init__(self, group: zarr.Group, height: int, width: int, rgb_encoding: str) -> None:
        if rgb_encoding not in RGB_ENCODINGS:
            raise StoreError(f"RGB encoding {rgb_encoding!r}: use one of {', '.join(RGB_ENCODINGS)}")
        self.rgb_encoding = rgb_encoding
        if rgb_encoding == "jpeg":
            self.rgb = create_array(group, "rgb", compress=False, shape=(0,), chunks=(1,), shards=(SHARD_FRAMES,),
                                    dtype=zarr.dtype.VariableLengthBytes())
        else:
            self.rgb = create_array(group, "rgb", shape=(0, height, width, 3), chunks=(1, height, width, 3),
                                    shards=(SHARD_FRAMES, height, width, 3), dtype="uint8")
        self.flow = create_array(group, "flow", shape=(0, height, width, 2), chunks=(FLOW_CHUNK, height, width, 2),
                                 shards=(SHARD_FRAMES, height, width, 2), dtype="uint8")
        self._rgb_pending: list[Any] = []
        self._flow_pending: list[np.ndarray] = []
        self._flow_count = 0

    def add_frame(self, frame_rgb: np.ndarray, jpeg_quality: int) -> None:
        """Queue one RGB frame; a full shard is written out."""
        self._queue_rgb(encode_jpeg(frame_rgb, jpeg_quality) if self.rgb_encoding == "jpeg" else frame_rgb)

    def add_encoded_frame(self, jpeg: bytes) -> None:
        """Queue one frame that is already JPEG-encoded, kept byte for byte (JPEG stores only)."""
        if self.rgb_encoding != "jpeg":
            raise StoreError("encoded frames can only go into a store whose RGB encoding is jpeg")
        self._queue_rgb(jpeg)

    def _queue_rgb(self, item: Any) -> None:
        self._rgb_pending.append(item)
        if len(self._rgb_pending) == SHARD_FRAMES:
            self._write_rgb()

    def add_flow(self, quantised: np.ndarray) -> None:
        """Queue quantised flow fields (K, H, W, 2) uint8; full shards are written out."""
        self._flow_pending.append(quantised)
        self._flow_count += len(quantised)
        if self._flow_count >= SHARD_FRAMES:
            self._write_flow(SHARD_FRAMES)

    def close(self) -> None:
        """Write what is still queued."""
        if self._rgb_pending:
            self._write_rgb()
        while self._flow_count:
            self._write_flow(min(self._flow_count, SHARD_FRAMES))

    def _write_rgb(self) -> None:
        if self.rgb_encoding == "jpeg":
            block = np.empty(len(self._rgb_pending), dtype=object)
            block[:] = self._rgb_pending
        else:
            block = np.stack(self._rgb_pending)
        self.rgb.append(block, axis=0)
        self._rgb_pending = []

    def _write_flow(self, count: int) -> None:
        joined = np.concatenate(self._flow_pending)
        self.flow.append(joined[:count], axis=0)
        rest = joined[count:]
        self._flow_pending = [rest] if len(rest) else []
        self._flow_count = len(rest)


def source_fingerprint(path: str | os.PathLike) -> dict[str, Any]:
    """Path and size of a source file, recorded with what was made from it."""
    return {"source_path": str(path), "source_bytes": os.path.getsize(path)}

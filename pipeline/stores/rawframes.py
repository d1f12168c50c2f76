"""The rawframes folder layout that mmaction2, TSN and denseflow use, read and written.

``<root>/<video_id>/img_00001.jpg``, ``flow_x_00001.jpg``, ``flow_y_00001.jpg`` (1-based, TSN and
mmaction2); denseflow's 0-based names and its ``x_``/``y_`` prefixes are read too. ``flow_x_K`` is
the field between frames K and K+1 (1-based), i.e. ``flow[K-1]`` of the store.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable

import cv2
import numpy as np

from twostream.data.errors import TwostreamError
from twostream.data.io import atomic_path
from twostream.pipeline.stores.frame_store import FrameGroupWriter, FrameStore, decode_jpeg, encode_jpeg
from twostream.pipeline.stores.video_store import StoreDamageError

_NAME = re.compile(r"^(img|flow_x|flow_y|x|y)_(\d+)\.(jpg|jpeg|png)$", re.IGNORECASE)
FLOW_JPEG_QUALITY = 95


class RawframesError(TwostreamError):
    """A rawframes folder is missing, empty, or inconsistent."""


def list_rawframes(folder: str | os.PathLike) -> tuple[list[Path], list[Path], list[Path]]:
    """Return the (frames, flow x, flow y) image paths of one video folder, in index order."""
    folder = Path(folder)
    if not folder.is_dir():
        raise RawframesError(f"rawframes folder {folder} does not exist")
    found: dict[str, list[tuple[int, Path]]] = {"img": [], "x": [], "y": []}
    for path in folder.iterdir():
        match = _NAME.match(path.name)
        if match:
            kind = match.group(1).lower().replace("flow_", "")
            found[kind].append((int(match.group(2)), path))
    for kind, items in found.items():
        items.sort()
        indices = [i for i, _ in items]
        if indices and indices != list(range(indices[0], indices[0] + len(indices))):
            raise RawframesError(f"{folder}: {kind} images are not numbered consecutively")
    frames, xs, ys = ([p for _, p in found[k]] for k in ("img", "x", "y"))
    if not frames:
        raise RawframesError(f"{folder} holds no img_NNNNN.jpg frames")
    if len(xs) != len(ys):
        raise RawframesError(f"{folder}: {len(xs)} flow_x images but {len(ys)} flow_y images")
    if len(frames) < 2 or not xs:
        raise RawframesError(f"{folder}: {len(frames)} frames and {len(xs)} flow fields; need at least 2 and 1")
    return frames, xs, ys


def import_rawframes_video(store_path: str, video_id: str, folder: str, overwrite: bool = False) -> dict:
    """Copy one rawframes folder into a frames store (JPEG frames kept byte for byte); return counts."""
    cv2.setNumThreads(1)
    store = FrameStore.open(store_path)
    frames, xs, ys = list_rawframes(folder)
    fields = min(len(xs), len(frames) - 1)  # some tools write N fields for N frames: the last has no successor
    first = decode_jpeg(frames[0].read_bytes(), video_id)
    height, width = first.shape[:2]
    encoding = store.config["rgb_encoding"]
    with store.write_video(video_id, overwrite=overwrite) as group:
        writer = FrameGroupWriter(group, height, width, encoding)
        for path in frames:
            data = path.read_bytes()
            frame = decode_jpeg(data, f"{video_id} ({path.name})")
            if frame.shape[:2] != (height, width):
                raise RawframesError(f"{path}: {frame.shape[1]}x{frame.shape[0]} differs from the first frame's "
                                     f"{width}x{height}")
            if encoding == "jpeg" and path.suffix.lower() in (".jpg", ".jpeg"):
                writer.add_encoded_frame(data)  # the original bytes: no second lossy encoding
            else:
                writer.add_frame(frame, store.config.get("jpeg_quality") or 95)
        for index in range(fields):
            planes = [cv2.imread(str(p[index]), cv2.IMREAD_GRAYSCALE) for p in (xs, ys)]
            if any(plane is None or plane.shape != (height, width) for plane in planes):
                raise RawframesError(f"{xs[index].parent}: flow image {index + 1} is unreadable or not {width}x{height}")
            writer.add_flow(np.stack(planes, axis=-1)[None])
        writer.close()
        group.attrs.update({"source_path": str(folder), "frames": len(frames), "flow_fields": fields,
                            "width": width, "height": height, "flow": "imported", "bound": store.config["bound"],
                            "imported_from": "rawframes"})
    return {"frames": len(frames), "seconds": 0.0}


@dataclass
class RawframesExport:
    """What an export wrote: the video ids, and each damaged video left out with its damage."""

    written: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)


def export_rawframes(store_path: str | os.PathLike, out: str | os.PathLike, video_ids: Iterable[str] | None = None,
                     overwrite: bool = False, progress: Callable[[int, int, int], None] | None = None
                     ) -> RawframesExport:
    """Write complete videos of a frames store as rawframes folders; a video the store cannot read (damaged) is
    left out, with no folder, and recorded, and the others are written."""
    store = FrameStore.open(store_path)
    wanted = list(video_ids) if video_ids is not None else store.video_ids()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    export = RawframesExport()
    for done, video_id in enumerate(wanted, 1):
        target = out / video_id
        if target.exists() and not overwrite:
            raise RawframesError(f"{target} exists; pass --overwrite to replace it")
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            with atomic_path(target, directory=True) as partial:
                _write_video_folder(store, video_id, partial)
            export.written.append(video_id)
        except StoreDamageError as error:
            export.failed[video_id] = str(error)
        if progress:
            progress(done, len(wanted), len(export.failed))
    return export


def _write_video_folder(store: FrameStore, video_id: str, folder: Path) -> None:
    rgb = store.array(video_id, "rgb")
    for index in range(rgb.shape[0]):
        name = folder / f"img_{index + 1:05d}.jpg"
        if store.config.get("rgb_encoding") == "jpeg":
            name.write_bytes(rgb[index : index + 1][0])
        else:
            name.write_bytes(encode_jpeg(np.asarray(rgb[index]), store.config.get("jpeg_quality") or 95))
    flow = store.array(video_id, "flow")
    for start in range(0, flow.shape[0], 100):
        block = np.asarray(flow[start : start + 100])
        for offset, flow_field in enumerate(block):
            number = start + offset + 1
            for axis, label in ((0, "x"), (1, "y")):
                ok, data = cv2.imencode(".jpg", flow_field[..., axis], [cv2.IMWRITE_JPEG_QUALITY, FLOW_JPEG_QUALITY])
                (folder / f"flow_{label}_{number:05d}.jpg").write_bytes(data.tobytes())

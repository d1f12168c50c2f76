"""Checking that every video of a manifest decodes, before a long extraction job."""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict
from pathlib import Path
from typing import Callable

from twostream.data.io import write_json_atomic
from twostream.data.manifest import Manifest, VideoEntry
from twostream.pipeline.decode import TSN_SIZE, FrameSize, VideoDecodeError, VideoReader


def check_video(manifest: Manifest, video: VideoEntry, size: FrameSize = TSN_SIZE) -> dict:
    """Decode one video and return its id with either its VideoInfo fields or the error."""
    reader = VideoReader(manifest.video_path(video), size)
    try:
        for _ in reader:
            pass
    except VideoDecodeError as error:
        return {"video_id": video.video_id, "ok": False, "error": str(error)}
    return {"video_id": video.video_id, "ok": True, **asdict(reader.info)}


def check_videos(
    manifest: Manifest,
    size: FrameSize = TSN_SIZE,
    workers: int = 2,
    progress: Callable[[int, int], None] | None = None,
    report: str | Path | None = None,
) -> list[dict]:
    """Decode every video of a manifest; return one record per video, in manifest order.

    With `report`, the records are also written there as JSON (atomically).
    """
    results: list[dict] = []
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:  # ffmpeg runs in its own processes
        for record in pool.map(lambda video: check_video(manifest, video, size), manifest.videos):
            results.append(record)
            if progress:
                progress(len(results), len(manifest))
    if report is not None:
        Path(report).parent.mkdir(parents=True, exist_ok=True)
        write_json_atomic(report, results, indent=1)
    return results

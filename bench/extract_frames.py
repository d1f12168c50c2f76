"""Benchmark of extract-frames: decoding, flow, store size against JPEG rawframes, dask scaling.

Run: python bench/extract_frames.py [--out bench/results/extract_frames.json] [--pairs 6]
     python bench/extract_frames.py --only-sharing --device cuda --sharing-videos 32 --sharing-frames 64
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import cv2
import numpy as np

from twostream.data.manifest import Manifest, VideoEntry
from twostream.data.runtime import ffmpeg_executable
from twostream.data.splits import index_ucf101
from twostream.data.synthetic import PRESETS, make_synthetic
from twostream.pipeline.batch import Execution
from twostream.pipeline.decode import TSN_SIZE, VideoReader, read_video
from twostream.pipeline.extract_frames import FrameExtractionConfig, extract_frames
from twostream.pipeline.flow import FLOW_ALGORITHMS, get_flow_algorithm
from twostream.pipeline.stores.rawframes import export_rawframes

from common import report, shared_clips, timed


def decode_rows(clips: dict[str, Path]) -> list[dict]:
    """Decode rate of each clip at TSN's 340x256."""
    rows = []
    for name, path in clips.items():
        seconds, count = timed(lambda: sum(1 for _ in VideoReader(path, TSN_SIZE)), repeat=2)
        rows.append({"measure": "decode", "input": name, "value": count / seconds, "unit": "frames/s"})
    return rows


def flow_rows(clip: Path, pairs: int) -> list[dict]:
    """Flow rate of each algorithm on consecutive 340x256 pairs of a real clip (one thread)."""
    cv2.setNumThreads(1)
    frames, _ = read_video(clip, TSN_SIZE)
    gray = np.stack([cv2.cvtColor(f, cv2.COLOR_RGB2GRAY) for f in frames[: pairs + 1]])
    rows = []
    for name in FLOW_ALGORITHMS:
        algorithm = get_flow_algorithm(name)
        seconds, _ = timed(lambda: algorithm.compute(gray))
        rows.append({"measure": "flow", "input": f"{clip.stem} 340x256", "algorithm": name,
                     "value": pairs / seconds, "unit": "pairs/s"})
    return rows


def _trimmed(clip: Path, frames: int, folder: Path) -> Path:
    out = folder / f"{clip.stem}_{frames}.mp4"
    subprocess.run([ffmpeg_executable(), "-loglevel", "error", "-y", "-i", str(clip), "-frames:v", str(frames),
                    "-c:v", "libx264", "-crf", "18", str(out)], check=True)
    return out


def _folder_bytes(folder: Path, prefix: str) -> int:
    return sum(p.stat().st_size for p in folder.rglob(f"{prefix}*") if p.is_file())


def _store_bytes(store: Path, array: str) -> int:
    return sum(p.stat().st_size for p in store.glob(f"videos/*/{array}/**/*") if p.is_file())


def size_rows(clips: dict[str, Path], frames: int, work: Path) -> list[dict]:
    """Bytes per frame of frames.zarr (RGB as JPEG and raw, flow uint8) against JPEG rawframes folders."""
    rows = []
    for name, clip in clips.items():
        short = _trimmed(clip, frames, work)
        manifest = Manifest("bench", str(work), ["x"], [VideoEntry(name, short.name, 0, "x")])
        for encoding in ("jpeg", "raw"):
            store = work / f"{name}-{encoding}.zarr"
            extract_frames(manifest, store, config=FrameExtractionConfig(flow="tvl1-opencv", rgb_encoding=encoding),
                           execution=Execution(no_cluster=True))
            rows.append({"measure": "store bytes/frame", "input": name, "algorithm": f"rgb {encoding}",
                         "value": _store_bytes(store, "rgb") / frames, "unit": "bytes"})
            if encoding == "jpeg":
                rows.append({"measure": "store bytes/frame", "input": name, "algorithm": "flow uint8 zstd",
                             "value": _store_bytes(store, "flow") / (frames - 1), "unit": "bytes"})
                raw = work / f"{name}-rawframes"
                export_rawframes(store, raw)
                rows.append({"measure": "rawframes bytes/frame", "input": name, "algorithm": "img jpg",
                             "value": _folder_bytes(raw, "img_") / frames, "unit": "bytes"})
                rows.append({"measure": "rawframes bytes/frame", "input": name, "algorithm": "flow_x+flow_y jpg",
                             "value": _folder_bytes(raw, "flow_") / (frames - 1), "unit": "bytes"})
                store_total = _store_bytes(store, "rgb") + _store_bytes(store, "flow")
                rows.append({"measure": "store / rawframes", "input": name, "algorithm": "all",
                             "value": store_total / (_folder_bytes(raw, "img_") + _folder_bytes(raw, "flow_")),
                             "unit": "ratio (goal <= 1.5)"})
    return rows


def scaling_rows(work: Path) -> list[dict]:
    """Wall time of the same extraction on a LocalCluster of 1 and of 2 workers."""
    root = make_synthetic(work / "synthetic", PRESETS["test"], workers=2)
    manifest = index_ucf101(root / "splits", root / "videos")
    config = FrameExtractionConfig(frame_size="native", flow="tvl1-opencv")
    times = {}
    for workers in (1, 2):
        seconds, summary = timed(lambda: extract_frames(manifest, work / f"scale-{workers}.zarr", config=config,
                                                        execution=Execution(workers=workers)))
        assert summary.ok
        times[workers] = seconds
        rows_input = f"synthetic test preset ({len(manifest)} videos)"
    return [{"measure": "dask wall time", "input": rows_input, "algorithm": f"{w} worker(s)", "value": t,
             "unit": "s"} for w, t in times.items()] + [
        {"measure": "dask speed-up", "input": rows_input, "algorithm": "2 vs 1 workers",
         "value": times[1] / times[2], "unit": "x (goal >= 1.7)"}]


def sharing_rows(clips: dict[str, Path], work: Path, device: str, *, videos: int, frames: int,
                 threads: int) -> list[dict]:
    """extract-frames of `videos` 340x256 videos (the real clips cut to `frames` frames, in turn) with TV-L1
    on `device`: one worker solving each video alone, then `threads` videos at once sharing flow batches."""
    cuts = [_trimmed(clip, frames, work) for clip in clips.values()]
    entries = [VideoEntry(f"v{k}", cuts[k % len(cuts)].name, 0, "x") for k in range(videos)]
    manifest = Manifest("bench", str(work), ["x"], entries)
    rows, rates = [], {}
    for sharing, execution in (("off", Execution(workers=1)), ("on", Execution(workers=1, threads_per_worker=threads))):
        config = FrameExtractionConfig(device=device, flow_sharing=sharing)
        seconds, summary = timed(lambda: extract_frames(manifest, work / f"sharing-{sharing}.zarr", config=config,
                                                        execution=execution))
        assert summary.ok, summary.failed
        rates[sharing] = summary.frames / seconds
        label = "alone" if sharing == "off" else f"{threads} videos sharing batches"
        rows.append({"measure": "extract-frames", "input": f"{videos} videos x {frames} frames 340x256",
                     "algorithm": f"tvl1 {device}, {label}", "value": rates[sharing], "unit": "frames/s"})
    rows.append({"measure": "shared flow batches", "input": rows[-1]["input"], "algorithm": "on / off",
                 "value": rates["on"] / rates["off"], "unit": "x"})
    return rows


def main() -> None:
    """Run every measurement, print the table and write the JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", help="JSON file (default bench/results/extract_frames.json)")
    parser.add_argument("--pairs", type=int, default=6, help="frame pairs timed per flow algorithm")
    parser.add_argument("--size-frames", type=int, default=40, help="frames per clip for the size comparison")
    parser.add_argument("--device", default="cpu", help="where TV-L1 runs in the shared-batch rows")
    parser.add_argument("--sharing-videos", type=int, default=4, help="videos in the shared-batch rows")
    parser.add_argument("--sharing-frames", type=int, default=8, help="frames per video in the shared-batch rows")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1,
                        help="videos extracted at once in the shared-batch rows (default: one per core)")
    parser.add_argument("--only-sharing", action="store_true", help="run only the shared-batch rows")
    args = parser.parse_args()
    clips = shared_clips()
    if not clips:
        sys.exit("shared data not found: set TWOSTREAM_SHARED_DATA")
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        rows = []
        if not args.only_sharing:
            rows += decode_rows(clips) + flow_rows(clips["ucf101"], args.pairs)
            rows += size_rows(clips, args.size_frames, work) + scaling_rows(work)
        rows += sharing_rows(clips, work, args.device, videos=args.sharing_videos, frames=args.sharing_frames,
                             threads=args.threads)
    report("extract_frames", rows, args.out, cores=os.cpu_count())


if __name__ == "__main__":
    main()

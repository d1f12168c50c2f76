"""Stage two at scale: peak memory and time of train-gate and evaluate as the number of videos grows.

For each N, writes a features store with the project's own writer at a per-video size like UCF101's
with BN-Inception (inception4e maps 1056x7x7 and logits, both streams, S snippets x C crops; random
values, 101 classes, used by up to N / 8 of them), then runs, each in a fresh process, `train-gate` (one epoch a phase, Algorithm 1's
two phases, DataLoader in-process) and `evaluate`, and reports their peak resident size (VmHWM), the
seconds per training epoch, and the read throughput of the views a training epoch samples through the
feature source against a raw zarr read of the same chunks. Goals: peak RSS flat within 15 % across N,
epoch time linear in N, read throughput at least 80 % of raw.
Run: python bench/fusion_scale.py [--videos 100 400 1600] [--snippets 25] [--crops 10] [--out FILE]
(UCF101's 25 x 10 views take about 52 MB of disk per video; fewer views keep the ladder on a small disk.)
"""
from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import zarr

from twostream.data.manifest import Manifest, VideoEntry
from twostream.data.sampling import CROP_MODES, STREAMS
from twostream.fusion.sources import StoredFeatureSource
from twostream.fusion.training.datasets import segment_snippets
from twostream.pipeline.backbones import build_backbone, save_checkpoint
from twostream.pipeline.stores.feature_store import FeatureStore, write_array

from common import report

CLASSES = 101
BACKBONE, MAP_TAP = "bninception", "inception4e"
MEASURE = """
import sys
from twostream.cli.main import main
code = main(sys.argv[1:])
peak = next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmHWM"))
print("PEAK_KIB", peak)
sys.exit(code)
"""


def _checkpoints(folder: Path) -> tuple[dict[str, Path], dict[str, dict], tuple[int, int, int]]:
    """Random BN-Inception checkpoints of both streams, what a store records of them, and the map's shape."""
    paths, described = {}, {}
    for stream in STREAMS:
        net = build_backbone(BACKBONE, stream, CLASSES)
        paths[stream] = folder / f"{stream}.pt"
        sha = save_checkpoint(paths[stream], net)
        described[stream] = {"backbone": BACKBONE, "checkpoint_sha256": sha, "num_classes": CLASSES,
                             "normalization": net.normalization.to_dict(), "taps": [MAP_TAP, "logits"],
                             "map_tap": MAP_TAP}
        shape = net.tap_shape(MAP_TAP, 224)
    return paths, described, tuple(int(d) for d in shape)


def _manifest(count: int) -> Manifest:
    """`count` videos in 25 groups, three quarters of the groups for training (split 1), the rest tested; the
    labels use up to CLASSES classes, at least 8 videos each, so that every class has training videos in several
    groups for the validation carve (the networks keep CLASSES outputs)."""
    used = max(2, min(CLASSES, count // 8))
    videos = []
    for index in range(count):
        group = index % 25 + 1
        label = index % used
        role = "test" if group > 18 else "train"
        videos.append(VideoEntry(f"v{index:05d}", f"c{label}/v{index:05d}.avi", label, f"c{label}", {"1": role},
                                 group))
    return Manifest("ucf101", "/nonexistent", [f"c{c}" for c in range(CLASSES)], videos)


def write_store(path: Path, manifest: Manifest, checkpoints: dict[str, Path], *, described: dict,
                shape: tuple[int, int, int], snippets: int, crops: int) -> float:
    """Write the features store of `manifest` with random values; return the seconds it took."""
    config = {"streams": described, "sampling": {"snippets": snippets, "crops": crops, "crop_size": 224,
                                                  "input_size": 224, "flow_stack": 5}, "frames": {}}
    store = FeatureStore.create_or_open(path, config, dataset=manifest.dataset, classes=list(manifest.classes),
                                        checkpoints={stream: str(checkpoints[stream]) for stream in STREAMS})
    rng = np.random.default_rng(0)
    start = time.perf_counter()
    for video in manifest:
        with store.write_video(video.video_id) as group:
            for stream in STREAMS:
                write_array(group, f"{stream}/{MAP_TAP}",
                            rng.standard_normal((snippets, crops, *shape), dtype=np.float32), "float16")
                logits = rng.standard_normal((snippets, crops, CLASSES), dtype=np.float32)
                logits[..., video.label] += 2.0
                write_array(group, f"{stream}/logits", logits, "float32")
            write_array(group, "flowmag", np.abs(rng.standard_normal((snippets, crops, *shape[1:]))), "float16")
            group.attrs.update({"label": video.label, "class_name": video.class_name})
    return time.perf_counter() - start


def _run(arguments: list[str]) -> tuple[float, int]:
    """Run one twostream command in a fresh process; return its seconds and peak resident size in bytes."""
    start = time.perf_counter()
    result = subprocess.run([sys.executable, "-c", MEASURE, *arguments], capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if result.returncode != 0:
        raise SystemExit(f"twostream {arguments[0]} failed:\n{result.stderr[-3000:]}")
    peak = next(int(line.split()[1]) for line in result.stdout.splitlines() if line.startswith("PEAK_KIB"))
    return seconds, peak * 1024


def read_throughput(store_path: Path, segments: int = 3) -> tuple[float, float]:
    """MB/s of one epoch's sampled training views (segments x one crop per video, every field the gate
    reads), through the feature source and as a raw zarr read of the same chunks, side by side."""
    source = StoredFeatureSource(store_path)
    fields = ("rgb_map", "flow_map", "rgb_logits", "flow_logits")
    rng = np.random.default_rng(1)
    picks = []
    for index in range(len(source)):
        snippets, crops = source.view_grid(index)
        chosen = segment_snippets(snippets, segments, rng)
        picks.append((index, chosen, np.full(segments, int(rng.integers(crops)))))
    root = zarr.open_group(str(store_path), mode="r")
    names = [f"rgb/{MAP_TAP}", f"flow/{MAP_TAP}", "rgb/logits", "flow/logits"]
    start, total = time.perf_counter(), 0
    for index, snippets, crops in picks:
        total += sum(a.nbytes for a in source.read_views(index, fields, snippets, crops).values())
    ours = total / (time.perf_counter() - start) / 1e6
    start, raw_total = time.perf_counter(), 0
    for index, snippets, crops in picks:  # plain zarr: the same chunks, one orthogonal selection per array
        group = root["videos"][source.video_ids[index]]
        for name in names:
            rows = (np.unique(snippets), np.unique(crops))
            raw_total += np.asarray(group[name].get_orthogonal_selection(rows)).nbytes
    raw = raw_total / (time.perf_counter() - start) / 1e6
    return ours, raw


def main() -> None:
    """Run the ladder of stores and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--videos", type=int, nargs="+", default=[100, 400, 1600])
    parser.add_argument("--snippets", type=int, default=25)
    parser.add_argument("--crops", type=int, default=10, choices=CROP_MODES)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--work", help="folder for the stores (default: a temporary folder)")
    parser.add_argument("--out")
    args = parser.parse_args()
    work = Path(args.work) if args.work else Path(tempfile.mkdtemp(prefix="fusion_scale-"))
    work.mkdir(parents=True, exist_ok=True)
    paths, described, shape = _checkpoints(work)
    per_video = 2 * args.snippets * args.crops * int(np.prod(shape)) * 2
    need = per_video * max(args.videos)
    if shutil.disk_usage(work).free < 1.2 * need:
        raise SystemExit(f"the largest store needs about {need / 1e9:.1f} GB in {work}; free space is short: "
                         "pass fewer --videos, --snippets or --crops, or a --work folder on a larger disk")
    rows = []
    try:
        for count in args.videos:
            manifest = _manifest(count)
            manifest_path = manifest.save(work / f"manifest{count}.json")
            store = work / f"features{count}.zarr"
            written = write_store(store, manifest, paths, described=described, shape=shape, snippets=args.snippets,
                                  crops=args.crops)
            data = [str(manifest_path), "--features", str(store)]
            train_seconds, train_peak = _run(["train-gate", *data, "--run", str(work / "runs" / f"gate{count}"),
                                              "--overwrite", "--max-epochs-per-phase", "1",
                                              "--batch-size", str(args.batch_size)])
            history = [json.loads(line) for line in
                       (work / "runs" / f"gate{count}" / "split1" / "metrics.jsonl").read_text().splitlines()]
            epoch_seconds = float(np.mean([record["seconds"] for record in history]))
            eval_seconds, eval_peak = _run(["evaluate", *data, "--out", str(work / f"results{count}.json")])
            ours, raw = read_throughput(store)
            train_videos = len(manifest.select("1", "train"))
            rows.append({"videos": count, "train videos": train_videos, "store GB": per_video * count / 1e9,
                         "write s": written, "train-gate peak MB": train_peak / 1e6,
                         "s per epoch": epoch_seconds, "s per epoch per 100 train videos":
                         100 * epoch_seconds / train_videos, "train-gate s": train_seconds,
                         "evaluate peak MB": eval_peak / 1e6, "evaluate s": eval_seconds,
                         "read MB/s": ours, "raw read MB/s": raw, "read / raw": ours / raw})
            shutil.rmtree(store)
    finally:
        if not args.work:
            shutil.rmtree(work, ignore_errors=True)
    peaks = [row["train-gate peak MB"] for row in rows]
    report("fusion_scale", rows, args.out, snippets=args.snippets, crops=args.crops, map_shape=list(shape),
           train_peak_spread=max(peaks) / min(peaks) - 1,
           evaluate_peak_spread=max(r["evaluate peak MB"] for r in rows) / min(r["evaluate peak MB"] for r in rows) - 1)


if __name__ == "__main__":
    main()

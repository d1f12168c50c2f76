"""Benchmark of extract-features: the backbones alone against the whole path (read, crop, normalise,
forward, write) on the same videos in one run; bytes per video per tap; projected size for UCF101.

Run: python bench/extract_features.py [--backbone efficientnet_lite0] [--videos 6] [--device cpu] [--amp | --no-amp]
     [--preset test] [--stride 4] [--out FILE]
On CUDA both measures run under autocast (bf16/fp16) as extract-features does by default; --no-amp runs fp32.
A backbone that reads clips (i3d) is measured in clips per second, its features extracted densely, a clip every
--stride frames (the `demo` preset's 24-frame videos give 2 clips each at stride 4).
"""
from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch

from twostream.cli.vocabulary import add_amp
from twostream.data.runtime import autocast
from twostream.data.sampling import clip_starts
from twostream.data.splits import index_ucf101
from twostream.data.synthetic import PRESETS, make_synthetic
from twostream.pipeline.backbones import backbone_type, build_backbone, save_checkpoint
from twostream.pipeline.batch import Execution
from twostream.pipeline.extract_features import FeatureExtractionConfig, extract_features
from twostream.pipeline.extract_frames import FrameExtractionConfig, extract_frames
from twostream.pipeline.stores.feature_store import FeatureStore
from twostream.pipeline.stores.frame_store import FrameStore

from common import report

UCF101_VIDEOS = 13_320


def _inputs(work: Path, videos: int, preset: str = "test"):
    root = make_synthetic(work / "synthetic", PRESETS[preset], workers=2)
    manifest = index_ucf101(root / "splits", root / "videos")
    manifest = manifest.subset([v.video_id for v in manifest.videos[:videos]])
    frames = work / "frames.zarr"
    extract_frames(manifest, frames, config=FrameExtractionConfig(frame_size="340x256", flow="farneback"),
                   execution=Execution(no_cluster=True))
    return manifest, frames


def _checkpoints(work: Path, backbone: str, classes: list[str]) -> dict[str, str]:
    paths = {}
    for modality in ("rgb", "flow"):
        net = build_backbone(backbone, modality, len(classes), pretrained=backbone == "efficientnet_lite0")
        paths[modality] = str(work / f"{modality}.pt")
        save_checkpoint(paths[modality], net, class_names=classes)
    return paths


def backbone_alone(backbone: str, views: int, batch: int, *, size: int, device: str, classes: int,
                   amp: bool = True) -> float:
    """Images (or clips) per second of both frozen nets' forward passes on ready uint8 batches (normalisation
    included), under autocast on CUDA when `amp` is set."""
    nets = {m: build_backbone(backbone, m, classes).to(device).eval() for m in ("rgb", "flow")}
    taps = {m: list(net.default_taps) for m, net in nets.items()}
    data = {m: torch.randint(0, 256, (batch, *net.input_shape(size, size)[1:]), dtype=torch.uint8, device=device)
            for m, net in nets.items()}
    cuda = torch.device(device).type == "cuda"
    with torch.inference_mode(), autocast(device, amp):
        for m, net in nets.items():
            net.forward_taps(net.normalization.apply(data[m], m), taps[m])
        if cuda:
            torch.cuda.synchronize()
        start = time.perf_counter()
        done = 0
        while done < views:
            for m, net in nets.items():
                net.forward_taps(net.normalization.apply(data[m], m), taps[m])
            done += batch
        if cuda:
            torch.cuda.synchronize()  # kernels run asynchronously: time them to their end
    return 2 * done / (time.perf_counter() - start)


def _bytes(store: Path, video_id: str, name: str) -> int:
    return sum(p.stat().st_size for p in (store / "videos" / video_id / name).rglob("*") if p.is_file())


def main() -> None:
    """Measure, print the table and write the JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backbone", default="efficientnet_lite0")
    parser.add_argument("--videos", type=int, default=6)
    parser.add_argument("--snippets", type=int, default=5)
    parser.add_argument("--crops", type=int, default=10)
    parser.add_argument("--batch-size", type=int, default=50)
    parser.add_argument("--preset", choices=tuple(PRESETS), default="test", help="synthetic videos to read")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--stride", type=int, default=4, help="frames between clips, for a backbone that reads clips")
    add_amp(parser, True)
    parser.add_argument("--out")
    args = parser.parse_args()
    torch.set_num_threads(torch.get_num_threads())
    clip = backbone_type(args.backbone).CLIP_FRAMES
    unit = "clips/s" if clip else "images/s"
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        manifest, frames = _inputs(work, args.videos, args.preset)
        checkpoints = _checkpoints(work, args.backbone, manifest.classes)
        sampling = {"sampling": "dense", "stride": args.stride} if clip else {"snippets": args.snippets}
        config = FeatureExtractionConfig(rgb_checkpoint=checkpoints["rgb"], flow_checkpoint=checkpoints["flow"],
                                         crops=args.crops, batch_size=args.batch_size, device=args.device,
                                         amp=args.amp, **sampling)
        frame_store = FrameStore.open(frames)
        per_video = {video.video_id: len(clip_starts(frame_store.num_frames(video.video_id), clip, args.stride)) if clip
                     else args.snippets for video in manifest}
        views = sum(per_video.values()) * args.crops
        # before extract-features, which leaves torch with a worker's thread count
        alone = backbone_alone(args.backbone, views, args.batch_size, size=224, device=args.device,
                               classes=len(manifest.classes), amp=args.amp)
        store = work / "features.zarr"
        extract_features(manifest.subset([manifest.videos[0].video_id]), frames, work / "warm.zarr", config=config,
                         execution=Execution(no_cluster=True))  # loads the checkpoints once, as a worker would
        start = time.perf_counter()
        summary = extract_features(manifest, frames, store, config=config, execution=Execution(no_cluster=True))
        whole = 2 * views / (time.perf_counter() - start)
        assert summary.ok, summary.failed
        features = FeatureStore.open(store)
        rows = [{"measure": "backbones alone", "value": alone, "unit": unit},
                {"measure": "whole extract-features path", "value": whole, "unit": unit},
                {"measure": "whole path / backbones alone", "value": whole / alone, "unit": "ratio (goal >= 0.9)"}]
        video_id = features.video_ids()[0]
        per_view = per_video[video_id] * args.crops
        for name in features.expected_arrays():
            stored = _bytes(store, video_id, name)
            raw = features.array(video_id, name).nbytes
            rows.append({"measure": f"bytes/video {name}", "value": stored,
                         "unit": f"bytes at {per_video[video_id]}x{args.crops}", "compression": raw / stored})
            for label, views_per_video in () if clip else (("25x10", 250), ("5x1 training", 5)):
                projected = stored / per_view * views_per_video * UCF101_VIDEOS
                rows.append({"measure": f"UCF101 projection {name}", "value": projected / 1e9,
                             "unit": f"GB at {label}"})
    report("extract_features", rows, args.out, backbone=args.backbone, device=args.device, amp=args.amp,
           videos=args.videos, crops=args.crops, input_size=224,
           **({"clip_frames": clip, "stride": args.stride} if clip else {"snippets": args.snippets}))


if __name__ == "__main__":
    main()

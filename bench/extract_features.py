"""Benchmark of extract-features: the backbones alone against the whole path (read, crop, normalise,
forward, write) on the same videos in one run; bytes per video per tap; projected size for UCF101.

Run: python bench/extract_features.py [--backbone efficientnet_lite0] [--videos 6] [--device cpu] [--amp | --no-amp]
     [--preset test] [--out FILE]
On CUDA both measures run under autocast (bf16/fp16) as extract-features does by default; --no-amp runs fp32.
"""
from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch

from twostream.cli.vocabulary import add_amp
from twostream.data.runtime import autocast
from twostream.data.splits import index_ucf101
from twostream.data.synthetic import PRESETS, make_synthetic
from twostream.pipeline.backbones import build_backbone, save_checkpoint
from twostream.pipeline.batch import Execution
from twostream.pipeline.extract_features import FeatureExtractionConfig, extract_features
from twostream.pipeline.extract_frames import FrameExtractionConfig, extract_frames
from twostream.pipeline.stores.feature_store import FeatureStore

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
    """Images per second of both frozen nets' forward passes on ready uint8 batches (normalisation included),
    under autocast on CUDA when `amp` is set."""
    nets = {m: build_backbone(backbone, m, classes).to(device).eval() for m in ("rgb", "flow")}
    taps = {m: list(net.default_taps) for m, net in nets.items()}
    data = {"rgb": torch.randint(0, 256, (batch, 3, size, size), dtype=torch.uint8, device=device),
            "flow": torch.randint(0, 256, (batch, 10, size, size), dtype=torch.uint8, device=device)}
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
    add_amp(parser, True)
    parser.add_argument("--out")
    args = parser.parse_args()
    torch.set_num_threads(torch.get_num_threads())
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        manifest, frames = _inputs(work, args.videos, args.preset)
        checkpoints = _checkpoints(work, args.backbone, manifest.classes)
        config = FeatureExtractionConfig(rgb_checkpoint=checkpoints["rgb"], flow_checkpoint=checkpoints["flow"],
                                         snippets=args.snippets, crops=args.crops, batch_size=args.batch_size,
                                         device=args.device, amp=args.amp)
        views = args.videos * args.snippets * args.crops
        alone = backbone_alone(args.backbone, views, args.batch_size, size=224, device=args.device,
                               classes=len(manifest.classes),
                               amp=args.amp)
        store = work / "features.zarr"
        extract_features(manifest.subset([manifest.videos[0].video_id]), frames, work / "warm.zarr", config=config,
                         execution=Execution(no_cluster=True))  # loads the checkpoints once, as a worker would
        start = time.perf_counter()
        summary = extract_features(manifest, frames, store, config=config, execution=Execution(no_cluster=True))
        whole = 2 * views / (time.perf_counter() - start)
        assert summary.ok, summary.failed
        rows = [{"measure": "backbones alone", "value": alone, "unit": "images/s"},
                {"measure": "whole extract-features path", "value": whole, "unit": "images/s"},
                {"measure": "whole path / backbones alone", "value": whole / alone, "unit": "ratio (goal >= 0.9)"}]
        features = FeatureStore.open(store)
        video_id = features.video_ids()[0]
        names = [f"{s}/{t}" for s in ("rgb", "flow") for t in features.taps(s)] + ["flowmag"]
        per_view = args.snippets * args.crops
        for name in names:
            stored = _bytes(store, video_id, name)
            raw = features.array(video_id, name).nbytes
            rows.append({"measure": f"bytes/video {name}", "value": stored, "unit": f"bytes at {args.snippets}x{args.crops}",
                         "compression": raw / stored})
            for label, views_per_video in (("25x10", 250), ("5x1 training", 5)):
                projected = stored / per_view * views_per_video * UCF101_VIDEOS
                rows.append({"measure": f"UCF101 projection {name}", "value": projected / 1e9,
                             "unit": f"GB at {label}"})
    report("extract_features", rows, args.out, backbone=args.backbone, device=args.device, amp=args.amp,
           videos=args.videos, snippets=args.snippets, crops=args.crops, input_size=224)


if __name__ == "__main__":
    main()

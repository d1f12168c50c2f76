"""`twostream extract-features`: the frozen streams' taps over TSN (or dense) snippets and crops into features.zarr."""
from __future__ import annotations

import argparse

from twostream.cli.execution_args import add_execution_arguments, execution_from_args, report_batch
from twostream.cli.progress import ProgressPrinter
from twostream.cli.vocabulary import (
    add_amp,
    add_device,
    add_features,
    add_frames,
    add_manifest,
    add_overwrite,
    default_of,
)
from twostream.data.manifest import load_manifest
from twostream.data.sampling import CROP_MODES, SAMPLINGS, STREAMS
from twostream.pipeline.backbones import NORMALIZATIONS
from twostream.pipeline.backbones.registry import OFFLINE_IMAGENET
from twostream.pipeline.extract_features import FeatureExtractionConfig, extract_features

NAME = "extract-features"
HELP = "run the frozen spatial and temporal nets over frames.zarr and cache their taps in features.zarr"
DEFAULTS = FeatureExtractionConfig  # a class: its checkpoints have no default


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register the command's options."""
    add_manifest(parser)
    add_frames(parser)
    add_features(parser, written=True)
    parser.add_argument("--rgb-checkpoint", required=True,
                        help="spatial net checkpoint (any supported format), or imagenet[:BACKBONE] for the ImageNet "
                             f"weights that install offline ({', '.join(OFFLINE_IMAGENET)}; 1000-class logits)")
    parser.add_argument("--flow-checkpoint", required=True,
                        help="temporal net checkpoint (any supported format), or imagenet[:BACKBONE]: the same "
                             "weights with the first convolution cross-modality initialised")
    for stream in STREAMS:
        parser.add_argument(f"--{stream}-prefix", metavar="PREFIX",
                            help=f"take the {stream} net from a file holding several: the keys starting with PREFIX "
                                 "(e.g. rgb_, flow_), with PREFIX removed")
    for stream in STREAMS:
        parser.add_argument(f"--{stream}-normalization", choices=tuple(NORMALIZATIONS),
                            help=f"{stream} input normalisation instead of the one the checkpoint implies (caffe_tsn: "
                                 "BGR minus 104/117/123; tsn_pytorch: minus 104/117/128; imagenet: RGB mean/std)")
    parser.add_argument("--rgb-taps", nargs="+", help="taps to keep (default: the backbone's, e.g. inception4e "
                                                      "inception5b global_pool logits)")
    parser.add_argument("--flow-taps", nargs="+", help="taps to keep for the temporal net")
    parser.add_argument("--snippets", type=int, default=default_of(DEFAULTS, "snippets"),
                        help="snippets per video, evenly spaced (TSN: 25)")
    parser.add_argument("--sampling", choices=SAMPLINGS, default=default_of(DEFAULTS, "sampling"),
                        help="tsn: --snippets evenly spaced; dense: one snippet every --stride frames, taps averaged "
                             "over the crops, pooled vector and logits by default (temporal localisation)")
    parser.add_argument("--stride", type=int, help="dense sampling: frames between snippets (ActivityNet 16, THUMOS14 5)")
    parser.add_argument("--crops", type=int, choices=CROP_MODES, default=default_of(DEFAULTS, "crops"),
                        help="crops per snippet: 1 centre, 3, or 10 (TSN: the corners and centre, and their mirror "
                             "images)")
    parser.add_argument("--crop-size", type=int,
                        help="side of the crops cut from the frames (default: the input size the checkpoints "
                             "record, else 224)")
    parser.add_argument("--input-size", type=int,
                        help="resize crops to this side for the networks (default: the input size the checkpoints "
                             "record, else the crop size)")
    parser.add_argument("--batch-size", type=int, default=default_of(DEFAULTS, "batch_size"),
                        help="views per forward pass (with a clip network such as I3D, clips: 16 frames each)")
    add_device(parser, default_of(DEFAULTS, "device"))
    add_amp(parser, default_of(DEFAULTS, "amp"))
    parser.add_argument("--strict", action=argparse.BooleanOptionalAction, default=default_of(DEFAULTS, "strict"),
                        help="refuse checkpoints with missing or unexpected keys")
    parser.add_argument("--any-classes", action="store_true", default=default_of(DEFAULTS, "any_classes"),
                        help="allow checkpoints whose classes differ from the manifest's (features of other videos)")
    parser.add_argument("--fold-checkpoints", metavar="DIR",
                        help="folder written by `train-streams --folds K` (folds.json, fold<k>/rgb.pt, "
                             "fold<k>/flow.pt): each video of its folds also gets the taps of the fold pair "
                             "that never trained on it, under oof/ (for --train-scores out-of-fold)")
    add_overwrite(parser, "videos already in the store (extract them again)")
    add_execution_arguments(parser)


def config(args: argparse.Namespace) -> FeatureExtractionConfig:
    """The FeatureExtractionConfig the options describe."""
    return FeatureExtractionConfig(
        rgb_checkpoint=args.rgb_checkpoint, flow_checkpoint=args.flow_checkpoint,
        rgb_taps=tuple(args.rgb_taps) if args.rgb_taps else None,
        flow_taps=tuple(args.flow_taps) if args.flow_taps else None,
        snippets=args.snippets, crops=args.crops, crop_size=args.crop_size, input_size=args.input_size,
        batch_size=args.batch_size, device=args.device, amp=args.amp, strict=args.strict,
        any_classes=args.any_classes, fold_checkpoints=args.fold_checkpoints,
        rgb_prefix=args.rgb_prefix, flow_prefix=args.flow_prefix,
        rgb_normalization=args.rgb_normalization, flow_normalization=args.flow_normalization,
        sampling=args.sampling, stride=args.stride)


def run(args: argparse.Namespace) -> int:
    """Extract the features; exit 1 if any video failed."""
    manifest = load_manifest(args.manifest)
    settings = config(args)
    summary = extract_features(manifest, args.frames, args.features, config=settings,
                               execution=execution_from_args(args),
                               overwrite=args.overwrite, progress=ProgressPrinter("videos"))
    return report_batch(summary, f"{len(summary.written)} videos written",
                        f", {len(summary.not_in_frames)} missing from the frames store")

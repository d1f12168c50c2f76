"""`twostream train-streams`: TSN fine-tuning of the spatial (RGB) and temporal (flow) networks."""
from __future__ import annotations

import argparse
import sys

from twostream.cli.progress import format_seconds
from twostream.data.errors import TwostreamError
from twostream.data.manifest import load_manifest
from twostream.pipeline.backbones import BACKBONES
from twostream.pipeline.backbones.registry import TSN_DROPOUT
from twostream.pipeline.streams.train_streams import (
    STREAMS,
    StreamResult,
    StreamTrainingConfig,
    TrainedStreams,
    train_streams,
)
from twostream.pipeline.streams.selection import BY_LOSS

NAME = "train-streams"
HELP = "fine-tune the RGB and flow networks TSN-style on frames.zarr; writes <out>/rgb.pt and <out>/flow.pt"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register the command's options."""
    defaults = StreamTrainingConfig()
    parser.add_argument("manifest", help="manifest written by `twostream index`")
    parser.add_argument("--frames", required=True, help="frames.zarr written by `twostream extract-frames`")
    parser.add_argument("--out", required=True, help="folder for <stream>.pt, <stream>.state.pt, <stream>.metrics.jsonl")
    parser.add_argument("--backbone", choices=BACKBONES, default=defaults.backbone)
    parser.add_argument("--streams", default=",".join(STREAMS), help="comma-separated streams to train (rgb,flow)")
    parser.add_argument("--split", default=str(defaults.split), help="split whose training videos are used")
    parser.add_argument("--val-fraction", type=float, default=defaults.val_fraction,
                        help="share of each class's training videos held out for validation, whole groups at a time")
    parser.add_argument("--epochs", type=int, default=defaults.epochs)
    parser.add_argument("--batch-size", type=int, default=defaults.batch_size, help="videos per batch")
    parser.add_argument("--input-size", type=int, default=defaults.input_size, help="side of the network input in pixels")
    parser.add_argument("--segments", type=int, default=defaults.segments, help="TSN segments per video")
    parser.add_argument("--lr", type=float, default=defaults.lr)
    parser.add_argument("--lr-steps", help="comma-separated epochs after which the rate drops tenfold "
                                           "(default: half and three quarters of --epochs)")
    parser.add_argument("--classifier-lr-mult", type=float, default=defaults.classifier_lr_mult,
                        help="learning-rate multiplier of the new classifier (TSN: 1; 10 helps small datasets)")
    parser.add_argument("--patience", type=int, default=defaults.patience,
                        help="stop after this many epochs without a better validation accuracy (never when "
                             "validation is too small to tell epochs apart: then all epochs train)")
    parser.add_argument("--dropout-rgb", type=float, default=TSN_DROPOUT["rgb"])
    parser.add_argument("--dropout-flow", type=float, default=TSN_DROPOUT["flow"])
    parser.add_argument("--partial-bn", choices=("auto", "on", "off"), default="auto",
                        help="freeze all BatchNorm layers but the first (auto: when starting from trained weights)")
    parser.add_argument("--init-checkpoint", action="append", default=[], metavar="[STREAM=]PATH",
                        help="start from this checkpoint instead of ImageNet weights (repeatable; an RGB "
                             "checkpoint serves the flow stream by cross-modality initialisation)")
    parser.add_argument("--no-pretrained", action="store_true", help="start from random weights")
    parser.add_argument("--workers", type=int, default=defaults.workers, help="DataLoader worker processes")
    parser.add_argument("--device", default=defaults.device, help="cpu or cuda[:N]")
    parser.add_argument("--no-amp", action="store_true", help="train in float32 on CUDA too")
    parser.add_argument("--seed", type=int, default=defaults.seed)
    parser.add_argument("--folds", type=int, default=defaults.folds, metavar="K",
                        help="after the full pair, train K more pairs into <out>/fold1..foldK, each without one fold "
                             "(whole groups) of the training videos, and write <out>/folds.json; their features "
                             "(extract-features --fold-checkpoints) give out-of-fold training scores (default: none)")
    parser.add_argument("--resume", action="store_true", help="continue the runs saved in --out (finished ones, "
                                                              "folds included, are skipped)")


def init_checkpoints(items: list[str], streams: list[str]) -> dict[str, str]:
    """Turn `[STREAM=]PATH` items into a checkpoint per stream (a bare PATH serves every stream)."""
    chosen: dict[str, str] = {}
    for item in items:
        stream, sep, path = item.partition("=")
        if sep and stream in STREAMS:
            chosen[stream] = path
        else:
            chosen.update({name: item for name in streams})
    return chosen


def config_from_args(args: argparse.Namespace, streams: list[str]) -> StreamTrainingConfig:
    """The training settings the options describe."""
    try:
        lr_steps = tuple(int(step) for step in args.lr_steps.split(",")) if args.lr_steps else None
    except ValueError:
        raise TwostreamError(f"--lr-steps {args.lr_steps!r}: expected comma-separated epoch numbers") from None
    return StreamTrainingConfig(
        backbone=args.backbone, pretrained=not args.no_pretrained,
        init_checkpoints=init_checkpoints(args.init_checkpoint, streams), split=args.split,
        val_fraction=args.val_fraction, segments=args.segments, input_size=args.input_size, epochs=args.epochs,
        batch_size=args.batch_size, lr=args.lr, lr_steps=lr_steps, patience=args.patience,
        classifier_lr_mult=args.classifier_lr_mult,
        dropout={"rgb": args.dropout_rgb, "flow": args.dropout_flow},
        partial_bn={"auto": None, "on": True, "off": False}[args.partial_bn],
        workers=args.workers, device=args.device, amp=not args.no_amp, seed=args.seed, folds=args.folds,
    )


def print_epoch(record: dict) -> None:
    """One progress line per epoch on stderr."""
    fold = f"fold {record['fold']} " if "fold" in record else ""
    print(f"{fold}{record['stream']} epoch {record['epoch']}/{record['epochs']}: loss {record['train_loss']:.3f} "
          f"acc {record['train_accuracy']:.1%} | val loss {record['val_loss']:.3f} acc {record['val_accuracy']:.1%} "
          f"(best {record['best_val_accuracy']:.1%} at epoch {record['best_epoch']}) | "
          f"{record['images_per_s']:.0f} images/s, {format_seconds(record['seconds'])} | "
          f"{format_seconds(record['seconds_left'])} left", file=sys.stderr, flush=True)


def describe(result: StreamResult) -> list[str]:
    """Lines summing up one stream: validation accuracy, where the checkpoint is, what it confuses."""
    stop = "stopped early" if result.stopped_early else "all epochs"
    if result.selected_by == BY_LOSS:
        stop += f", lowest validation loss {result.val_loss:.3f}: validation too small to choose by accuracy"
    lines = [f"{result.stream}: validation accuracy {result.val_accuracy:.1%} "
             f"(mean per class {result.val_mean_class_accuracy:.1%}) at epoch {result.best_epoch} of "
             f"{result.epochs_run} ({stop}); {result.train_videos} training / {result.val_videos} validation videos; "
             f"{result.checkpoint}"]
    for true, predicted, count in result.mistakes():
        lines.append(f"  {true} taken for {predicted}: {count} video{'s' if count > 1 else ''}")
    return lines


def run(args: argparse.Namespace) -> int:
    """Train the requested streams and print each one's validation accuracy."""
    streams = [name.strip() for name in args.streams.split(",") if name.strip()]
    config = config_from_args(args, streams)
    manifest = load_manifest(args.manifest)
    trained = train_streams(manifest, args.frames, args.out, config, streams, args.resume, print_epoch)
    for result in trained.full.values():
        print("\n".join(describe(result)))
    for line in describe_folds(trained):
        print(line)
    return 0


def describe_folds(trained: TrainedStreams) -> list[str]:
    """One line per fold: each stream's validation accuracy and videos, and the folder."""
    lines = []
    for fold, results in trained.folds.items():
        parts = [f"{r.stream} {r.val_accuracy:.1%} ({r.train_videos} training / {r.val_videos} validation videos)"
                 for r in results.values()]
        lines.append(f"fold {fold}: validation accuracy {', '.join(parts)}; "
                     f"{next(iter(results.values())).checkpoint.parent}")
    return lines

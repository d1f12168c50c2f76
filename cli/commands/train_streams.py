"""`twostream train-streams`: TSN fine-tuning of the spatial (RGB) and temporal (flow) networks."""
from __future__ import annotations

import argparse
import sys

from twostream.cli.progress import format_seconds
from twostream.cli.vocabulary import (
    add_amp,
    add_device,
    add_frames,
    add_loader_workers,
    add_manifest,
    add_seed,
    default_of,
)
from twostream.data.manifest import load_manifest
from twostream.pipeline.backbones import FRAME_BACKBONES
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
DEFAULTS = StreamTrainingConfig()
PARTIAL_BN = {"auto": None, "on": True, "off": False}  # --partial-bn's choices as StreamTrainingConfig.partial_bn


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register the command's options."""
    add_manifest(parser)
    add_frames(parser)
    parser.add_argument("--out", required=True,
                        help="folder for <stream>.pt, <stream>.state.pt and <stream>.metrics.jsonl")
    parser.add_argument("--backbone", choices=FRAME_BACKBONES, default=DEFAULTS.backbone, help="the streams' network")
    parser.add_argument("--streams", nargs="+", choices=STREAMS, default=list(STREAMS), help="streams to train")
    parser.add_argument("--split", default=DEFAULTS.split, help="split whose training videos are used")
    parser.add_argument("--val-fraction", type=float, default=DEFAULTS.val_fraction,
                        help="share of each class's training videos held out for validation, whole groups at a time")
    parser.add_argument("--epochs", type=int, default=DEFAULTS.epochs, help="epochs at most")
    parser.add_argument("--batch-size", type=int, default=DEFAULTS.batch_size, help="videos per batch")
    parser.add_argument("--input-size", type=int, default=DEFAULTS.input_size, help="side of the network input in pixels")
    parser.add_argument("--segments", type=int, default=DEFAULTS.segments, help="TSN segments per video")
    parser.add_argument("--lr", type=float, default=DEFAULTS.lr, help="learning rate (of the fine-tuned layers)")
    parser.add_argument("--lr-steps", type=int, nargs="+", metavar="EPOCH", default=default_of(DEFAULTS, "lr_steps"),
                        help="epochs after which the rate drops tenfold (default: half and three quarters of "
                             "--epochs)")
    parser.add_argument("--classifier-lr-mult", type=float, default=DEFAULTS.classifier_lr_mult,
                        help="learning-rate multiplier of the new classifier (TSN: 1; 10 helps small datasets)")
    parser.add_argument("--patience", type=int, default=DEFAULTS.patience,
                        help="stop after this many epochs that neither beat the best validation accuracy nor lower the "
                             "validation loss (never when validation is too small to tell epochs apart: then all "
                             "epochs train)")
    for stream in STREAMS:
        parser.add_argument(f"--dropout-{stream}", type=float, default=DEFAULTS.dropout[stream],
                            help=f"dropout before the {stream} network's classifier (TSN's)")
    parser.add_argument("--partial-bn", choices=tuple(PARTIAL_BN),
                        default={value: name for name, value in PARTIAL_BN.items()}[DEFAULTS.partial_bn],
                        help="freeze all BatchNorm layers but the first (auto: when starting from trained weights)")
    parser.add_argument("--init-checkpoint", action="append", default=[], metavar="[STREAM=]PATH",
                        help="start from this checkpoint instead of ImageNet weights (repeatable; an RGB "
                             "checkpoint serves the flow stream by cross-modality initialisation)")
    parser.add_argument("--pretrained", action=argparse.BooleanOptionalAction, default=DEFAULTS.pretrained,
                        help="start from the backbone's ImageNet weights (--no-pretrained: random weights)")
    add_loader_workers(parser, DEFAULTS.workers)
    add_device(parser, DEFAULTS.device)
    add_amp(parser, DEFAULTS.amp)
    add_seed(parser, DEFAULTS.seed, "the validation carve, the classifier's initial weights and the sampling")
    parser.add_argument("--folds", type=int, default=DEFAULTS.folds, metavar="K",
                        help="after the full pair, train K more pairs into <out>/fold1..foldK, each without one fold "
                             "(whole groups) of the training videos, and write <out>/folds.json; their features "
                             "(extract-features --fold-checkpoints) give out-of-fold training scores (0: none)")
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


def config(args: argparse.Namespace) -> StreamTrainingConfig:
    """The training settings the options describe."""
    return StreamTrainingConfig(
        backbone=args.backbone, pretrained=args.pretrained,
        init_checkpoints=init_checkpoints(args.init_checkpoint, args.streams), split=args.split,
        val_fraction=args.val_fraction, segments=args.segments, input_size=args.input_size, epochs=args.epochs,
        batch_size=args.batch_size, lr=args.lr, lr_steps=tuple(args.lr_steps) if args.lr_steps else None,
        patience=args.patience, classifier_lr_mult=args.classifier_lr_mult,
        dropout={stream: getattr(args, f"dropout_{stream}") for stream in STREAMS},
        partial_bn=PARTIAL_BN[args.partial_bn], workers=args.loader_workers, device=args.device, amp=args.amp,
        seed=args.seed, folds=args.folds,
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
    settings = config(args)
    manifest = load_manifest(args.manifest)
    trained = train_streams(manifest, args.frames, args.out, config=settings, streams=args.streams, resume=args.resume,
                            progress=print_epoch)
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

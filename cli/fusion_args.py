"""Command-line options shared by the fusion commands (train-gate, train-mfuse, evaluate), their defaults read
from the commands' config dataclasses."""
from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

from twostream.cli.vocabulary import (
    add_amp,
    add_device,
    add_features,
    add_loader_workers,
    add_manifest,
    add_overwrite,
    add_seed,
    default_of,
)
from twostream.data.manifest import Manifest, load_manifest
from twostream.data.metrics import spatial_share
from twostream.data.selection import SELECTIONS
from twostream.fusion.training.loop import TrainConfig
from twostream.pipeline.stores.verify import verify_store
from twostream.pipeline.stores.video_store import StoreError


def add_data_arguments(parser: argparse.ArgumentParser, defaults: object) -> None:
    """Register the manifest, the features store, the split and the validation carve, with the defaults of the
    config instance `defaults` (a GateConfig, HeadConfig or EvaluateConfig)."""
    add_manifest(parser)
    add_features(parser)
    parser.add_argument("--split", default=default_of(defaults, "split"), help="split number, or 'all' for every split")
    parser.add_argument("--val-fraction", type=float, default=default_of(defaults, "val_fraction"),
                        help="share of the training videos held out for validation, by whole groups, class by class")
    parser.add_argument("--leave-out-damaged", action="store_true",
                        help="first read every chunk of the manifest's videos in the features store (as `twostream "
                             "verify` does) and leave the damaged ones out, saying how many; without it a damaged "
                             "video stops the command, naming it")


def data_manifest(args: argparse.Namespace) -> Manifest:
    """The manifest the command reads: all of `args.manifest`, or with --leave-out-damaged its videos whose
    features read whole (the damaged ones named on stderr)."""
    manifest = load_manifest(args.manifest)
    if not args.leave_out_damaged:
        return manifest
    if not (Path(args.features) / "zarr.json").is_file():
        raise StoreError(f"--leave-out-damaged reads a features.zarr store; {args.features} is not one (an HDF5 "
                         "export checks each chunk's Fletcher-32 sum as it is read): drop the flag")
    report = verify_store(args.features, only=[video.video_id for video in manifest])
    if report.unchecked:
        print(f"{args.features}: {report.unchecked_text()}", file=sys.stderr)
    if report.damaged:
        named = ", ".join(list(report.damaged)[:5]) + (", ..." if len(report.damaged) > 5 else "")
        print(f"{args.features}: leaving out {len(report.damaged)} damaged video(s) of {len(manifest)} ({named}); "
              f"`twostream verify {args.manifest} --features {args.features} --repair` re-extracts them",
              file=sys.stderr)
    return manifest.subset(video.video_id for video in manifest if video.video_id not in report.damaged)


def add_training_arguments(parser: argparse.ArgumentParser, defaults: object) -> None:
    """Register where the run goes and how its head trains, with the defaults of the config instance `defaults`
    (a GateConfig or HeadConfig, whose `training` is a TrainConfig)."""
    training: TrainConfig = defaults.training  # type: ignore[attr-defined]
    parser.add_argument("--run", required=True, metavar="DIR",
                        help="the run's folder, e.g. runs/gated: each split is written to DIR/split<N>/")
    add_overwrite(parser, "a run folder that exists")
    add_seed(parser, training.seed, "the validation carve, the initial weights and the sampling")
    parser.add_argument("--rgb-checkpoint", help="spatial checkpoint the features came from (default: the network "
                                                 "the store keeps; for a store of an earlier version, the file it "
                                                 "records, looked up beside the store when it moved)")
    parser.add_argument("--batch-size", type=int, default=training.batch_size, help="samples per mini-batch")
    parser.add_argument("--accumulate", type=int, default=training.accumulate, metavar="N",
                        help="mini-batches whose gradients add up before one optimiser step, for an effective batch "
                             "of batch-size x N. The gated TSN authors trained the gate with batch 4 and iter_size "
                             "32, an effective 128: --batch-size 4 --accumulate 32")
    parser.add_argument("--lrs", type=float, nargs="+", default=default_of(training, "lrs"), metavar="LR",
                        help="learning rates, each used until the schedule steps on")
    parser.add_argument("--patience", type=int, default=training.patience,
                        help="epochs without improvement before the rate steps or the phase ends")
    parser.add_argument("--max-epochs-per-phase", type=int, default=training.max_epochs_per_phase, metavar="N",
                        help="epochs a training phase runs at most (with --select last: exactly)")
    parser.add_argument("--select", choices=SELECTIONS, default=training.selection,
                        help="the epoch kept: best validation accuracy with the validation loss breaking its ties "
                             "(accuracy), the lowest validation loss (loss), or the last epoch of a schedule that runs "
                             "--max-epochs-per-phase epochs a phase (last)")
    parser.add_argument("--segments", type=int, default=training.segments,
                        help="K segments per video, whose scores are averaged (TSN)")
    add_device(parser, training.device)
    add_amp(parser, training.amp)
    add_loader_workers(parser, training.num_workers)
    parser.add_argument("--preload", action="store_true", default=defaults.preload,  # type: ignore[attr-defined]
                        help="read the split's features into memory before training (faster on a small dataset; "
                             "memory grows with it); by default each step reads only the views it samples")


def train_config(args: argparse.Namespace, defaults: TrainConfig) -> TrainConfig:
    """The TrainConfig the options describe, the rest of its fields from `defaults`."""
    return dataclasses.replace(defaults, segments=args.segments, batch_size=args.batch_size,
                               accumulate=args.accumulate, lrs=tuple(args.lrs), patience=args.patience,
                               max_epochs_per_phase=args.max_epochs_per_phase, seed=args.seed, device=args.device,
                               amp=args.amp, num_workers=args.loader_workers, selection=args.select)


def print_results(results: dict) -> None:
    """Print each split's kept epoch with its validation accuracy, and the test accuracy, of a training command."""
    for split, fit in results.items():
        test = fit.predictions.get("test")
        line = f"split {split}: kept epoch {fit.best_epoch}, validation accuracy {fit.best_accuracy:.3f}"
        if test is not None:
            line += f", test mean class accuracy {test.mean_class_accuracy:.3f}, top-1 {test.top1:.3f}"
        if test is not None and test.gate_weights is not None:
            share = spatial_share(test.gate_weights)
            line += f", gate spatial share over test videos {share.mean():.2f} +- {share.std():.2f}"
        if fit.zero_gate_total:
            line += f", {fit.zero_gate_total} zero-gate views fell back to equal weights"
        print(f"{line} -> {fit.run_dir}")

"""Command-line options shared by the fusion commands (train-gate, train-mfuse, evaluate)."""
from __future__ import annotations

import argparse

from twostream.data.metrics import spatial_share
from twostream.fusion.training.loop import TrainConfig
from twostream.data.selection import SELECTIONS


def add_data_arguments(parser: argparse.ArgumentParser) -> None:
    """Register the manifest, the feature store, the split and the validation carve."""
    parser.add_argument("manifest", help="manifest written by `twostream index`")
    parser.add_argument("--features", required=True, help="features.zarr written by `twostream extract-features`, or its HDF5 export "
                        "(`twostream export-features --format h5`)")
    parser.add_argument("--split", default="1", help="split number, or 'all' for every split (default 1)")
    parser.add_argument("--val-fraction", type=float, default=0.2,
                        help="share of training videos held out for validation, by whole groups")
    parser.add_argument("--seed", type=int, default=0)


def add_training_arguments(parser: argparse.ArgumentParser) -> None:
    """Register where runs go and how heads are trained."""
    parser.add_argument("--runs", default="runs", help="folder of run folders (default runs/)")
    parser.add_argument("--name", required=True, help="run name: runs/<name>/split<N>/")
    parser.add_argument("--rgb-checkpoint", help="spatial checkpoint the features came from (default: recorded)")
    parser.add_argument("--batch-size", type=int, default=32, help="samples per mini-batch (default %(default)s)")
    parser.add_argument("--accumulate", type=int, default=1, metavar="N",
                        help="mini-batches whose gradients add up before one optimiser step, for an effective batch "
                             "of batch-size x N (default 1). The gated TSN authors trained the gate with batch 4 and "
                             "iter_size 32, an effective 128: --batch-size 4 --accumulate 32; train-gate's default "
                             "32 x 1 takes four times as many steps per epoch")
    parser.add_argument("--lrs", type=float, nargs="+", default=[1e-3, 1e-4],
                        help="learning rates, each used until the schedule steps on (default %(default)s)")
    parser.add_argument("--patience", type=int, default=3, help="epochs without improvement before a step or stop")
    parser.add_argument("--max-epochs-per-phase", type=int, default=100)
    parser.add_argument("--select", choices=SELECTIONS, default=TrainConfig().selection,
                        help="the epoch kept: best validation accuracy with the validation loss breaking its ties "
                             "(accuracy), the lowest validation loss (loss), or the last epoch of a schedule that runs "
                             "--max-epochs-per-phase epochs a phase (last) (default %(default)s)")
    parser.add_argument("--segments", type=int, default=3, help="K segments per video, whose scores are averaged (TSN; default %(default)s)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--amp", action="store_true", help="mixed precision on CUDA")
    parser.add_argument("--loader-workers", type=int, default=0, help="DataLoader worker processes")
    parser.add_argument("--overwrite", action="store_true", help="replace a run folder of the same name")
    parser.add_argument("--preload", action="store_true",
                        help="read the split's features into memory before training (faster on a small dataset; "
                             "memory grows with it); by default each step reads only the views it samples")


def train_config(args: argparse.Namespace) -> TrainConfig:
    """Build the TrainConfig the options describe."""
    return TrainConfig(segments=args.segments, batch_size=args.batch_size, accumulate=args.accumulate,
                       lrs=tuple(args.lrs),
                       patience=args.patience, max_epochs_per_phase=args.max_epochs_per_phase, seed=args.seed,
                       device=args.device, amp=args.amp, num_workers=args.loader_workers, selection=args.select)


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

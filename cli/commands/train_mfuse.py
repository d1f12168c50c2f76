"""`twostream train-mfuse`: multiplicative fusion, feature amplification or baselines A/B on cached features."""
from __future__ import annotations

import argparse

from twostream.cli.fusion_args import add_data_arguments, add_training_arguments, print_results, train_config
from twostream.data.manifest import load_manifest
from twostream.fusion.experiment import HEAD_INPUTS, HEADS, HeadConfig, train_mfuse

NAME = "train-mfuse"
HELP = "train multiplicative fusion (or feature amplification, baseline A or B) from features.zarr"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register the command's options."""
    add_data_arguments(parser)
    add_training_arguments(parser)
    parser.add_argument("--head", choices=HEADS, default="mfusion")
    parser.add_argument("--on", choices=tuple(HEAD_INPUTS), default="maps",
                        help="fuse the last convolutional maps (conv5-like) or the pooled vectors (fc7-like)")
    parser.add_argument("--tap", help="feature maps fused, or amplified (default: each backbone's last convolutional "
                                      "map: inception5b, conv5, head, conv4)")
    parser.add_argument("--vec-tap", help="vectors --on vectors fuses (default: each backbone's pooled vector, the "
                                          "classifier's input: fc7 for VGG, else global_pool)")
    parser.add_argument("--width", type=int, default=2048, help="m-fusion channels K")
    parser.add_argument("--score-weights", type=float, nargs=3, default=[2, 3, 4], metavar=("HEAD", "RGB", "FLOW"),
                        help="final score: weighted average of the head, spatial and temporal scores (2:3:4)")
    parser.add_argument("--head-only", action="store_true", help="score with the head alone")
    parser.add_argument("--dropout", type=float, default=0.5)
    parser.add_argument("--train-scores", choices=("clean", "out-of-fold"), default="clean",
                        help="the features and stream scores training and validation read: clean (the full models', "
                             "which fitted the training videos) or out-of-fold (the fold models' that never saw the "
                             "video: a store extracted with --fold-checkpoints); testing uses the full models'. "
                             "(dropout does not apply: m-fusion's loss reads no stream scores)")


def run(args: argparse.Namespace) -> int:
    """Train and print the results per split."""
    config = HeadConfig(split=args.split, head=args.head, on=args.on, tap=args.tap, vec_tap=args.vec_tap,
                        width=args.width, score_weights=None if args.head_only else tuple(args.score_weights),
                        checkpoint=args.rgb_checkpoint, dropout=args.dropout, val_fraction=args.val_fraction,
                        train_scores=args.train_scores,
                        training=train_config(args), overwrite=args.overwrite, preload=args.preload)
    results = train_mfuse(args.features, load_manifest(args.manifest), args.runs, args.name, config)
    print_results(results)
    return 0

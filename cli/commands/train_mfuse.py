"""`twostream train-mfuse`: multiplicative fusion, feature amplification or baselines A/B on cached features."""
from __future__ import annotations

import argparse
import dataclasses

from twostream.cli.fusion_args import add_data_arguments, add_training_arguments, data_manifest, print_results, train_config
from twostream.cli.vocabulary import default_of
from twostream.fusion.configs import HEAD_INPUTS, HEADS, PAPER_SCORE_WEIGHTS, HeadConfig
from twostream.fusion.train import train_mfuse
from twostream.fusion.training.loop import SCHEDULES
from twostream.fusion.training.tasks import FINAL_SCORES

NAME = "train-mfuse"
HELP = "train multiplicative fusion (or feature amplification, baseline A or B) from features.zarr"
# Park et al.'s fusion networks: batch 128, one RGB frame and its flow stack per sample, three rates
DEFAULTS = HeadConfig()


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register the command's options."""
    add_data_arguments(parser, DEFAULTS)
    add_training_arguments(parser, DEFAULTS)
    parser.add_argument("--schedule", choices=SCHEDULES, default=DEFAULTS.training.schedule,
                        help="steps (Park et al.'s: the rate drops tenfold at --step-iterations and training stops "
                             "at --iterations, keeping the weights best on validation) or plateau (a drop, then the "
                             "end, after --patience epochs without improvement)")
    parser.add_argument("--step-iterations", type=int, nargs="+", default=default_of(DEFAULTS, "step_iterations"),
                        metavar="N", help="iterations at which the rate steps to the next of --lrs")
    parser.add_argument("--iterations", type=int, default=DEFAULTS.iterations,
                        help="iterations in all with --schedule steps")
    parser.add_argument("--iteration-scale", type=float, default=DEFAULTS.iteration_scale,
                        help="multiply the iteration counts by this (default: training videos / 9537, UCF101 split "
                             "1's, so a run passes over its videos as often as Park et al.'s did)")
    parser.add_argument("--head", choices=HEADS, default=DEFAULTS.head,
                        help="m-fusion (Park et al.), baseline A (concatenation + FC), baseline B (1x1 conv + FC), "
                             "or feature amplification of the spatial maps by the flow's magnitude")
    parser.add_argument("--fuse", choices=tuple(HEAD_INPUTS), default=DEFAULTS.on,
                        help="fuse the last convolutional maps (conv5-like) or the pooled vectors (fc7-like)")
    parser.add_argument("--map-tap", default=DEFAULTS.tap,
                        help="feature maps fused, or amplified (default: each backbone's last convolutional map: "
                             "inception5b, conv5, head, conv4)")
    parser.add_argument("--vector-tap", default=DEFAULTS.vec_tap,
                        help="vectors --fuse vectors fuses (default: each backbone's pooled vector, the classifier's "
                             "input: fc7 for VGG, else global_pool)")
    parser.add_argument("--width", type=int, default=DEFAULTS.width, help="m-fusion channels K")
    parser.add_argument("--score-weights", type=float, nargs=3, metavar=("HEAD", "RGB", "FLOW"),
                        help="final score: weighted average of the head, spatial and temporal scores (default: Park "
                             "et al.'s 2:3:4; for amplification the head alone, whose combinations `evaluate` shows)")
    parser.add_argument("--head-only", action="store_true", help="score with the head alone")
    parser.add_argument("--final-score", choices=FINAL_SCORES, default=DEFAULTS.final_score,
                        help="what the final score averages over views and networks: each network's softmax "
                             "(probabilities, Park et al.) or its pre-softmax logits")
    parser.add_argument("--dropout", type=float, default=DEFAULTS.dropout,
                        help="dropout before the head's classifier (Park et al.'s)")
    parser.add_argument("--train-scores", choices=("clean", "out-of-fold"), default=DEFAULTS.train_scores,
                        help="the features and stream scores training and validation read: clean (the full models', "
                             "which fitted the training videos) or out-of-fold (the fold models' that never saw the "
                             "video: a store extracted with --fold-checkpoints); testing uses the full models'. "
                             "(dropout does not apply: m-fusion's loss reads no stream scores)")


def config(args: argparse.Namespace) -> HeadConfig:
    """The HeadConfig the options describe."""
    return HeadConfig(split=args.split, val_fraction=args.val_fraction, head=args.head, on=args.fuse,
                      tap=args.map_tap, vec_tap=args.vector_tap, width=args.width,
                      score_weights=None if args.head_only else _score_weights(args.score_weights),
                      final_score=args.final_score, checkpoint=args.rgb_checkpoint, dropout=args.dropout,
                      train_scores=args.train_scores,
                      training=dataclasses.replace(train_config(args, DEFAULTS.training), schedule=args.schedule),
                      step_iterations=tuple(args.step_iterations), iterations=args.iterations,
                      iteration_scale=args.iteration_scale, overwrite=args.overwrite, preload=args.preload)


def run(args: argparse.Namespace) -> int:
    """Train and print the results per split."""
    print_results(train_mfuse(data_manifest(args), args.features, args.run, config=config(args)))
    return 0


def _score_weights(given: list[float] | None) -> tuple[float, ...] | str:
    """The weights given, else the paper's for the head."""
    return PAPER_SCORE_WEIGHTS if given is None else tuple(given)

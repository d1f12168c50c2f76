"""`twostream train-gate`: gated fusion (gated TSN) trained with Algorithm 1 on cached features."""
from __future__ import annotations

import argparse

from twostream.cli.fusion_args import add_data_arguments, add_training_arguments, print_results, train_config
from twostream.data.manifest import load_manifest
from twostream.data.sampling import STREAMS
from twostream.fusion.experiment import (
    GATE_ACTIVATIONS,
    GATE_BODIES,
    GATE_FUSIONS,
    GATE_INITS,
    GATE_TRAINING,
    GateConfig,
    train_gate,
)
from twostream.fusion.training.train_scores import TRAIN_SCORES
from twostream.pipeline.backbones.registry import TSN_DROPOUT

NAME = "train-gate"
HELP = "train gated fusion (a gating ConvNet weighting the two streams' scores) from features.zarr"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register the command's options."""
    add_data_arguments(parser)
    add_training_arguments(parser)
    parser.set_defaults(lrs=list(GATE_TRAINING.lrs))
    parser.add_argument("--body", choices=GATE_BODIES, default=GateConfig().body,
                        help="the gate's body: both streams' maps pooled side by side, standardised, and one hidden "
                             "layer (pooled; needs --fusion concat), or the spatial network's layers after the tap, as "
                             "the paper (layers) (default %(default)s)")
    parser.add_argument("--fusion", choices=GATE_FUSIONS, default=GateConfig().fusion,
                        help="join the two maps by a 1x1 conv (initialised to their mean) or by concatenation")
    parser.add_argument("--activation", choices=GATE_ACTIVATIONS, default=GateConfig().activation,
                        help="gate output activation (default %(default)s)")
    parser.add_argument("--lam", type=float, default=1.0,
                        help="weight of the gate's own classification loss in phase 2 (0: no multi-task; the "
                             "authors' released configuration used 0.1)")
    parser.add_argument("--tap", help="feature map the gate reads (default: the store's map tap, e.g. inception4e); at "
                                      "the last map tap (inception5b; efficientnet_lite0: head; tiny: conv4) concat "
                                      "fusion feeds the two streams' pooled maps side by side to the gate and classifier")
    parser.add_argument("--dropout", type=float, default=0.8)
    parser.add_argument("--gate-init", choices=GATE_INITS, default="spatial",
                        help="weights the gate's body starts from: the fine-tuned spatial net (default) or the same "
                             "architecture's ImageNet weights, as the paper's gate (efficientnet_lite0 only: the one "
                             "backbone whose ImageNet weights install offline)")
    parser.add_argument("--train-bn", action="store_true",
                        help="train the BatchNorm layers of the gate's body (statistics, scale and shift); by "
                             "default they stay frozen, as in the authors' release")
    parser.add_argument("--train-scores", choices=TRAIN_SCORES, default=GateConfig().train_scores,
                        help="the stream scores training fuses (default: clean; on bench/fusion_quality.py's report "
                             "seeds dropout scores did no better): clean (the cached ones, the streams' own fit of the "
                             "training videos), dropout (recomputed from the cached pooled vector through the frozen "
                             "classifiers under dropout, as the papers' end-to-end runs) or out-of-fold (training and "
                             "validation read the maps and scores of fold models that never saw the video: a store "
                             "extracted with --fold-checkpoints); testing uses the full models' clean ones")
    parser.add_argument("--score-dropout", type=float, nargs=2, default=[TSN_DROPOUT[s] for s in STREAMS],
                        metavar=("RGB", "FLOW"), help="dropout rates of --train-scores dropout (TSN's 0.8 and 0.7)")
    parser.add_argument("--flow-checkpoint", help="temporal checkpoint the features came from, for --train-scores "
                                                  "dropout (default: recorded)")


def run(args: argparse.Namespace) -> int:
    """Train and print the results per split."""
    config = GateConfig(split=args.split, body=args.body, fusion=args.fusion, activation=args.activation, lam=args.lam, tap=args.tap,
                        checkpoint=args.rgb_checkpoint, flow_checkpoint=args.flow_checkpoint, dropout=args.dropout,
                        gate_init=args.gate_init, train_bn=args.train_bn,
                        train_scores=args.train_scores, score_dropout=tuple(args.score_dropout),
                        val_fraction=args.val_fraction,
                        training=train_config(args), overwrite=args.overwrite, preload=args.preload)
    results = train_gate(args.features, load_manifest(args.manifest), args.runs, args.name, config)
    print_results(results)
    return 0

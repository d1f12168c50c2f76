"""`twostream train-gate`: gated fusion (gated TSN) trained with Algorithm 1 on cached features."""
from __future__ import annotations

import argparse

from twostream.cli.fusion_args import add_data_arguments, add_training_arguments, data_manifest, print_results, train_config
from twostream.cli.vocabulary import default_of
from twostream.fusion.configs import GATE_ACTIVATIONS, GATE_BODIES, GATE_FUSIONS, GATE_INITS, GATE_TRAIN_ON, GateConfig
from twostream.fusion.train import train_gate
from twostream.fusion.training.train_scores import TRAIN_SCORES

NAME = "train-gate"
HELP = "train gated fusion (a gating network weighting the two streams' scores per video) from features.zarr"
DEFAULTS = GateConfig()


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register the command's options."""
    add_data_arguments(parser, DEFAULTS)
    add_training_arguments(parser, DEFAULTS)
    parser.add_argument("--body", choices=GATE_BODIES, default=DEFAULTS.body,
                        help="the gate's body: both streams' maps pooled side by side, standardised, and one hidden "
                             "layer (pooled; needs --fusion concat), or the spatial network's layers after the tap, as "
                             "the paper (layers)")
    parser.add_argument("--fusion", choices=GATE_FUSIONS, default=DEFAULTS.fusion,
                        help="join the two maps by a 1x1 conv (initialised to their mean) or by concatenation")
    parser.add_argument("--activation", choices=GATE_ACTIVATIONS, default=DEFAULTS.activation,
                        help="the gate's output activation: two non-negative weights (relu) or a share (softmax)")
    parser.add_argument("--multitask-weight", type=float, default=DEFAULTS.lam, metavar="LAMBDA",
                        help="weight lambda of the gate's own classification loss in Algorithm 1's second phase (0: "
                             "no multi-task; the authors' released configuration used 0.1)")
    parser.add_argument("--map-tap", default=DEFAULTS.tap,
                        help="feature map the gate reads (default: the store's map tap, e.g. inception4e); at the "
                             "last map tap (inception5b; efficientnet_lite0: head; tiny: conv4) concat fusion feeds "
                             "the two streams' pooled maps side by side to the gate and classifier")
    parser.add_argument("--dropout", type=float, default=DEFAULTS.dropout,
                        help="dropout before the gate's and the gate classifier's last layers")
    parser.add_argument("--gate-init", choices=GATE_INITS, default=DEFAULTS.gate_init,
                        help="weights the layers body starts from: the fine-tuned spatial net or the same "
                             "architecture's ImageNet weights, as the paper's gate (efficientnet_lite0 only: the one "
                             "backbone whose ImageNet weights install offline)")
    parser.add_argument("--train-bn", action="store_true", default=DEFAULTS.train_bn,
                        help="train the BatchNorm layers of the layers body (statistics, scale and shift); by "
                             "default they stay frozen, as in the authors' release")
    parser.add_argument("--train-scores", choices=TRAIN_SCORES, default=DEFAULTS.train_scores,
                        help="the stream scores training fuses: clean (the cached ones, the streams' own fit of the "
                             "training videos), dropout (recomputed from the cached pooled vector through the frozen "
                             "classifiers under dropout, as the papers' end-to-end runs) or out-of-fold (training and "
                             "validation read the maps and scores of fold models that never saw the video: a store "
                             "extracted with --fold-checkpoints); testing uses the full models' clean ones")
    parser.add_argument("--train-on", choices=GATE_TRAIN_ON, default=DEFAULTS.train_on,
                        help="the videos the gate trains on: the training videos less the validation carve (train), "
                             "or all of them (train+val: needs --select last; validation then only monitors); auto: "
                             "all of them with --select last, else the carve is held out to choose the epoch on")
    parser.add_argument("--score-dropout", type=float, nargs=2, default=default_of(DEFAULTS, "score_dropout"),
                        metavar=("RGB", "FLOW"), help="dropout rates of --train-scores dropout (TSN's)")
    parser.add_argument("--flow-checkpoint", help="temporal checkpoint the features came from, for --train-scores "
                                                  "dropout (default: the network the store keeps, else the file it "
                                                  "records)")


def config(args: argparse.Namespace) -> GateConfig:
    """The GateConfig the options describe."""
    return GateConfig(split=args.split, val_fraction=args.val_fraction, body=args.body, fusion=args.fusion,
                      activation=args.activation, lam=args.multitask_weight, tap=args.map_tap,
                      checkpoint=args.rgb_checkpoint, flow_checkpoint=args.flow_checkpoint, dropout=args.dropout,
                      gate_init=args.gate_init, train_bn=args.train_bn, train_scores=args.train_scores,
                      score_dropout=tuple(args.score_dropout), train_on=args.train_on, training=train_config(args, DEFAULTS.training),
                      overwrite=args.overwrite, preload=args.preload)


def run(args: argparse.Namespace) -> int:
    """Train and print the results per split."""
    print_results(train_gate(data_manifest(args), args.features, args.run, config=config(args)))
    return 0

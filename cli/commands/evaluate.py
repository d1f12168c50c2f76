"""`twostream evaluate`: one table of every method's accuracy per split, as the papers report it."""
from __future__ import annotations

import argparse

from twostream.cli.fusion_args import add_data_arguments, data_manifest
from twostream.cli.vocabulary import add_seed
from twostream.fusion.comparison import evaluate
from twostream.fusion.configs import EvaluateConfig

NAME = "evaluate"
HELP = "compare late-fusion rules and trained fusion runs: mean class accuracy and top-1 per split"
DEFAULTS = EvaluateConfig()


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register the command's options."""
    add_data_arguments(parser, DEFAULTS)
    add_seed(parser, DEFAULTS.seed, "the validation carve (as the runs') and the bootstrap")
    parser.add_argument("--runs", nargs="+", default=[], metavar="DIR",
                        help="run folders to include, as train-gate and train-mfuse --run wrote them")
    parser.add_argument("--out", required=True, help="write the table here as JSON, and as Markdown beside it")
    parser.add_argument("--bootstrap", type=int, default=DEFAULTS.bootstrap, metavar="N",
                        help="resamples of the test videos for the 95%% intervals (0: none)")
    parser.add_argument("--compare", nargs=2, action="append", default=[], metavar=("RUN", "OTHER"),
                        help="also give the paired difference RUN minus OTHER, two of the --runs folders "
                             "(repeatable)")


def config(args: argparse.Namespace) -> EvaluateConfig:
    """The EvaluateConfig the options describe."""
    return EvaluateConfig(split=args.split, val_fraction=args.val_fraction, seed=args.seed, bootstrap=args.bootstrap,
                          compare=tuple(tuple(pair) for pair in args.compare))


def run(args: argparse.Namespace) -> int:
    """Build, print and write the table."""
    table = evaluate(data_manifest(args), args.features, args.runs, config=config(args))
    written = table.write(args.out)
    print(table.to_markdown())
    print(f"\nwritten: {written[0]} and {written[1]}")
    return 0

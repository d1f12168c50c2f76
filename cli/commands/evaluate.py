"""`twostream evaluate`: one table of every method's accuracy per split, as the papers report it."""
from __future__ import annotations

import argparse
from pathlib import Path

from twostream.cli.fusion_args import add_data_arguments
from twostream.data.io import write_text_atomic
from twostream.data.manifest import load_manifest
from twostream.fusion.experiment import evaluate

NAME = "evaluate"
HELP = "compare late-fusion rules and trained fusion runs: mean class accuracy and top-1 per split"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register the command's options."""
    add_data_arguments(parser)
    parser.add_argument("--runs", nargs="*", default=[], help="run folders (runs/<name>) to include")
    parser.add_argument("--out", required=True, help="write the table here as JSON, and as Markdown beside it")


def run(args: argparse.Namespace) -> int:
    """Build, print and write the table."""
    table = evaluate(args.features, load_manifest(args.manifest), args.runs, args.split, args.val_fraction, args.seed)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(out, table.to_json() + "\n")
    write_text_atomic(out.with_suffix(".md"), table.to_markdown() + "\n")
    print(table.to_markdown())
    print(f"\nwritten: {out} and {out.with_suffix('.md')}")
    return 0

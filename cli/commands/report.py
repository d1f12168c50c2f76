"""`twostream report`: one self-contained HTML report (and PNG figures, results.md) from finished runs."""
from __future__ import annotations

import argparse

from twostream.cli.vocabulary import add_features, add_frames, default_of
from twostream.fusion.report.build import ReportConfig, build_report
from twostream.fusion.training.runs import split_folder

NAME = "report"
HELP = "write report.html (figures embedded), the figures as PNG and results.md from one or more runs"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register the command's options."""
    parser.add_argument("--runs", nargs="+", required=True, metavar="DIR",
                        help="run folders, as train-gate and train-mfuse --run wrote them")
    parser.add_argument("--split", default="1", help="the split of the runs to report")
    parser.add_argument("--out", required=True, help="folder to write report.html, the PNG figures and results.md to")
    parser.add_argument("--results", help="comparison table JSON (as `twostream evaluate --out` writes); default: "
                                          "computed from the runs' test predictions")
    parser.add_argument("--title", default=default_of(ReportConfig(), "title"), help="the report's title")
    parser.add_argument("--manifest", help="the dataset's manifest: class names and the dataset for provenance")
    parser.add_argument("--provenance", help="JSON file of provenance to show (stores' attributes, checkpoints)")
    parser.add_argument("--flow-bench", help="the flow benchmark's JSON (bench/results/flow.json)")
    add_frames(parser, required=False, note=": show a frame and its flow beside each example video")
    add_features(parser, required=False, note=": show its attributes (backbones, checkpoints) as provenance")
    parser.add_argument("--attributes", metavar="CSV",
                        help="per-video attributes over the manifest's (a CSV with a video_id column and one column "
                             "per attribute): a figure per attribute of the gate's spatial share per value")
    parser.add_argument("--probe", metavar="JSON", help="an attribute probe's result (`twostream probe --out`) to show")


def config(args: argparse.Namespace) -> ReportConfig:
    """The ReportConfig the options describe."""
    return ReportConfig(title=args.title, comparison=args.results, flow_bench=args.flow_bench,
                        provenance=args.provenance, manifest=args.manifest, frames=args.frames,
                        features=args.features, attributes=args.attributes, probe=args.probe)


def run(args: argparse.Namespace) -> int:
    """Build the report and print its path."""
    print(build_report([split_folder(run, args.split) for run in args.runs], args.out, config=config(args)))
    return 0

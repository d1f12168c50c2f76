"""`twostream report`: one self-contained HTML report (and PNG figures, results.md) from finished runs."""
from __future__ import annotations

import argparse

from twostream.fusion.report.build import ReportConfig, build_report

NAME = "report"
HELP = "write report.html (figures embedded), the figures as PNG and results.md from one or more run folders"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register the command's options."""
    parser.add_argument("runs", nargs="+", metavar="RUN", help="run folders written by training (runs/<name>)")
    parser.add_argument("--out", required=True, help="folder to write report.html, the PNG figures and results.md to")
    parser.add_argument("--results", help="comparison table JSON (as written by evaluation); default: computed "
                                          "from the runs' test predictions")
    parser.add_argument("--title", default="twostream report", help="the report's title")
    parser.add_argument("--manifest", help="the dataset's manifest: class names and the dataset for provenance")
    parser.add_argument("--provenance", help="JSON file of provenance to show (stores' attributes, checkpoints)")
    parser.add_argument("--flow-bench", help="the flow benchmark's JSON (bench/results/flow.json)")
    parser.add_argument("--frames", help="frames.zarr: show a frame and its flow beside each example video")
    parser.add_argument("--features", help="features.zarr: show its attributes (backbones, checkpoints) as provenance")
    parser.add_argument("--attributes", metavar="CSV",
                        help="per-video attributes over the manifest's (a CSV with a video_id column and one column "
                             "per attribute): a figure per attribute of the gate's spatial share per value")
    parser.add_argument("--probe", metavar="JSON", help="an attribute probe's result (`twostream probe --out`) to show")


def run(args: argparse.Namespace) -> int:
    """Build the report and print its path."""
    config = ReportConfig(title=args.title, comparison=args.results, flow_bench=args.flow_bench,
                          provenance=args.provenance, manifest=args.manifest, frames=args.frames,
                          features=args.features, attributes=args.attributes, probe=args.probe)
    print(build_report(args.runs, args.out, config))
    return 0

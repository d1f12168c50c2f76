"""`twostream report`: one self-contained HTML report (and PNG figures, results.md) from finished runs."""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from twostream.data.errors import TwostreamError
from twostream.data.manifest import load_manifest
from twostream.pipeline.feature_store import FeatureStore
from twostream.pipeline.frame_store import FrameStore
from twostream.pipeline.frame_view import frame_and_flow_reader
from twostream.fusion.report import build_report

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


def _provenance(args: argparse.Namespace) -> tuple[dict, list[str] | None]:
    provenance: dict = {}
    if args.provenance:
        try:
            provenance = json.loads(Path(args.provenance).read_text())
        except json.JSONDecodeError as error:
            raise TwostreamError(f"{args.provenance}: not JSON ({error})") from None
        if not isinstance(provenance, dict):
            raise TwostreamError(f"{args.provenance}: provenance must be a JSON object")
    class_names = None
    if args.manifest:
        manifest = load_manifest(args.manifest)
        class_names = list(manifest.classes)
        provenance = {"dataset": manifest.dataset, "manifest": str(Path(args.manifest).resolve()),
                      "classes": len(class_names), "videos": len(manifest), **provenance}
    for label, path, kind in (("frames store", args.frames, FrameStore), ("features store", args.features,
                                                                          FeatureStore)):
        if path:
            provenance[label] = {"path": str(Path(path).resolve()), **kind.open(path).attrs}
    return provenance, class_names


def run(args: argparse.Namespace) -> int:
    """Build the report and print its path."""
    provenance, class_names = _provenance(args)
    path = build_report(args.runs, args.out, comparison=args.results, flow_bench=args.flow_bench,
                        provenance=provenance or None, title=args.title, class_names=class_names,
                        frame_and_flow=frame_and_flow_reader(args.frames) if args.frames else None)
    print(path)
    return 0

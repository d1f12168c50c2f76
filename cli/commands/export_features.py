"""`twostream export-features`: write features.zarr as per-video npy files or one HDF5 file."""
from __future__ import annotations

import argparse
import sys

from twostream.cli.progress import ProgressPrinter
from twostream.pipeline.export_features import FORMATS, ExportConfig, export_features
from twostream.pipeline.stores.feature_h5 import COMPRESSIONS

NAME = "export-features"
HELP = ("write features.zarr as <out>/<video>/<stream>_<tap>.npy files with a JSON sidecar, or as one HDF5 file "
        "that train-gate, train-mfuse and evaluate read")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register the command's options."""
    parser.add_argument("store", help="features.zarr store written by `twostream extract-features`")
    parser.add_argument("--format", required=True, choices=FORMATS, help="npy: a folder per video; h5: one file")
    parser.add_argument("--out", required=True, help="folder (npy) or file (h5) to write")
    parser.add_argument("--taps", nargs="+", metavar="TAP",
                        help="only these taps: TAP, STREAM/TAP or flowmag (default: every tap and flowmag)")
    parser.add_argument("--streams", default="rgb,flow", help="comma-separated streams to export (default rgb,flow)")
    parser.add_argument("--videos", nargs="+", metavar="VIDEO_ID", help="only these videos (default: all complete)")
    parser.add_argument("--compression", choices=COMPRESSIONS, help="HDF5 compression (default gzip)")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing output")


def run(args: argparse.Namespace) -> int:
    """Export and report what was written and skipped."""
    streams = [s.strip() for s in args.streams.split(",") if s.strip()]
    config = ExportConfig(format=args.format, taps=args.taps, streams=streams, video_ids=args.videos,
                          compression=args.compression, overwrite=args.overwrite)
    summary = export_features(args.store, args.out, config, ProgressPrinter("videos"))
    print(f"{summary.out}: {len(summary.written)} videos written ({', '.join(summary.arrays)}) "
          f"in {summary.seconds:.1f}s, {len(summary.skipped)} skipped")
    for video_id, reason in summary.skipped.items():
        print(f"  SKIPPED {video_id}: {reason}", file=sys.stderr)
    return 0

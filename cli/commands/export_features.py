"""`twostream export-features`: write features.zarr as per-video npy files, one HDF5 file, or a dense store's
localisation matrices (csv or npy)."""
from __future__ import annotations

import argparse
import sys

from twostream.cli.progress import ProgressPrinter
from twostream.cli.vocabulary import add_overwrite, default_of
from twostream.data.sampling import STREAMS
from twostream.pipeline.export_features import FORMATS, ExportConfig, export_features
from twostream.pipeline.stores.feature_h5 import COMPRESSIONS
from twostream.pipeline.stores.feature_localization import DEFAULT_POSITIONS, NATIVE

NAME = "export-features"
HELP = ("write features.zarr as <out>/<video>/<stream>_<tap>.npy files with a JSON sidecar, as one HDF5 file "
        "that train-gate, train-mfuse and evaluate read, or (dense stores) as <out>/<video>.csv or .npy matrices "
        "for temporal localisation (BSN, BMN, G-TAD)")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register the command's options."""
    parser.add_argument("--features", required=True, metavar="STORE",
                        help="features.zarr written by `twostream extract-features`")
    parser.add_argument("--format", required=True, choices=FORMATS,
                        help="npy: a folder per video; h5: one file; localization-csv / localization-npy: one "
                             "(positions, features) file per video, rgb columns then flow columns")
    parser.add_argument("--out", required=True, help="folder (npy, localization formats) or file (h5) to write")
    parser.add_argument("--taps", nargs="+", metavar="TAP",
                        help="only these taps: TAP, STREAM/TAP or flowmag (default: every tap and flowmag; "
                             "localization formats: one per stream, default logits)")
    parser.add_argument("--streams", nargs="+", choices=STREAMS, default=default_of(ExportConfig, "streams"),
                        help="streams to export")
    parser.add_argument("--videos", nargs="+", metavar="VIDEO_ID", help="only these videos (default: all complete)")
    parser.add_argument("--compression", choices=COMPRESSIONS, default=default_of(ExportConfig, "compression"),
                        help="HDF5 compression (default: gzip)")
    parser.add_argument("--positions", type=_positions, metavar="T",
                        help=f"localization formats: rows per video, snippets rescaled by linear interpolation in "
                             f"time (default {DEFAULT_POSITIONS}), or {NATIVE} for one row per snippet")
    add_overwrite(parser, "an existing output")


def _positions(text: str) -> int | str:
    """Parse --positions: a number of rows, or "native"."""
    if text == NATIVE:
        return NATIVE
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of positions or {NATIVE!r}, got {text!r}") from None


def run(args: argparse.Namespace) -> int:
    """Export and report what was written and skipped; exit 1 when videos were skipped, as the extract commands."""
    config = ExportConfig(format=args.format, taps=args.taps, streams=args.streams, video_ids=args.videos,
                          compression=args.compression, overwrite=args.overwrite, positions=args.positions)
    summary = export_features(args.features, args.out, config=config, progress=ProgressPrinter("videos"))
    print(f"{summary.out}: {len(summary.written)} videos written ({', '.join(summary.arrays)}) "
          f"in {summary.seconds:.1f}s, {len(summary.skipped)} skipped")
    for video_id, reason in summary.skipped.items():
        print(f"  SKIPPED {video_id}: {reason}", file=sys.stderr)
    return 1 if summary.skipped else 0

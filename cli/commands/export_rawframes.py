"""`twostream export-rawframes`: write a frames store as mmaction2/TSN/denseflow rawframes folders."""
from __future__ import annotations

import argparse

from twostream.cli.progress import ProgressPrinter
from twostream.cli.vocabulary import add_frames, add_overwrite
from twostream.pipeline.stores.rawframes import export_rawframes

NAME = "export-rawframes"
HELP = "write a frames store as <out>/<video>/img_00001.jpg, flow_x_00001.jpg, flow_y_00001.jpg folders"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register the command's options."""
    add_frames(parser)
    parser.add_argument("--out", required=True, help="folder to write one sub-folder per video into")
    parser.add_argument("--videos", nargs="+", metavar="VIDEO_ID", help="only these videos (default: all complete)")
    add_overwrite(parser, "video folders that exist")


def run(args: argparse.Namespace) -> int:
    """Export the folders; exit 1 when damaged videos were left out, as the other batch commands."""
    export = export_rawframes(args.frames, args.out, args.videos, args.overwrite, ProgressPrinter("videos"))
    print(f"{args.out}: {len(export.written)} video folders written, {len(export.failed)} failed")
    for video_id, error in export.failed.items():
        print(f"  FAILED {video_id}: {error}")
    return 1 if export.failed else 0

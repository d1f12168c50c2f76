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
    """Export the folders."""
    written = export_rawframes(args.frames, args.out, args.videos, args.overwrite, ProgressPrinter("videos"))
    print(f"{args.out}: {len(written)} video folders written")
    return 0

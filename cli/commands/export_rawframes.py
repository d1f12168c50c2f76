"""`twostream export-rawframes`: write a frames store as mmaction2/TSN/denseflow rawframes folders."""
from __future__ import annotations

import argparse

from twostream.cli.progress import ProgressPrinter
from twostream.pipeline.stores.rawframes import export_rawframes

NAME = "export-rawframes"
HELP = "write frames.zarr as <out>/<video>/img_00001.jpg, flow_x_00001.jpg, flow_y_00001.jpg folders"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register the command's options."""
    parser.add_argument("store", help="frames.zarr store")
    parser.add_argument("--out", required=True, help="folder to write one sub-folder per video into")
    parser.add_argument("--videos", nargs="+", metavar="VIDEO_ID", help="only these videos (default: all complete)")
    parser.add_argument("--overwrite", action="store_true", help="replace video folders that exist")


def run(args: argparse.Namespace) -> int:
    """Export the folders."""
    written = export_rawframes(args.store, args.out, args.videos, args.overwrite, ProgressPrinter("videos"))
    print(f"{args.out}: {len(written)} video folders written")
    return 0

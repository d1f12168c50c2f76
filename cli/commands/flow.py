"""`twostream flow FRAME1 FRAME2 -o OUT.flo`: optical flow of one image pair."""
from __future__ import annotations

import argparse

from twostream.cli.vocabulary import add_device, default_of
from twostream.data.runtime import AUTO_DEVICE
from twostream.pipeline.flow import FLOW_ALGORITHMS, FlowError, flow_between_images

NAME = "flow"
HELP = "optical flow from FRAME1 to FRAME2, written as Middlebury .flo (and optionally a colour PNG)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register the flow command's arguments."""
    parser.add_argument("frame1", help="first image (read as grayscale)")
    parser.add_argument("frame2", help="second image, same size")
    parser.add_argument("-o", "--out", required=True, help="output .flo file")
    parser.add_argument("--flow", choices=FLOW_ALGORITHMS, default=default_of(flow_between_images, "algorithm"),
                        help="optical flow algorithm")
    parser.add_argument("--png", help="also write the Middlebury colour coding of the flow to this PNG")
    add_device(parser, note="; tvl1 only")


def run(args: argparse.Namespace) -> int:
    """Compute and write the flow of the pair."""
    options = {}
    if args.device != AUTO_DEVICE:
        if args.flow != "tvl1":
            raise FlowError(f"--device applies to --flow tvl1 only, not {args.flow}")
        options["device"] = args.device
    flow = flow_between_images(args.frame1, args.frame2, args.out, algorithm=args.flow, png=args.png, **options)
    height, width = flow.shape[:2]
    print(f"wrote {args.out}: {width}x{height} flow ({args.flow})" + (f", {args.png}" if args.png else ""))
    return 0

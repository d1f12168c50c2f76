"""`twostream check-videos`: decode every video of a manifest and report frame counts or errors."""
from __future__ import annotations

import argparse

from twostream.cli.progress import ProgressPrinter
from twostream.cli.vocabulary import add_manifest, default_of
from twostream.data.manifest import load_manifest
from twostream.pipeline.check_videos import check_videos
from twostream.pipeline.decode import FrameSize
from twostream.pipeline.extract_frames import FrameExtractionConfig

NAME = "check-videos"
HELP = "decode every video of a manifest; report frames, fps and size, and list the videos that fail"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register the command's options."""
    add_manifest(parser)
    parser.add_argument("--frame-size", default=default_of(FrameExtractionConfig(), "frame_size"),
                        help="decode at WxH, shortN (short side N) or native, as extract-frames would")
    parser.add_argument("--workers", type=int, default=default_of(check_videos, "workers"),
                        help="worker processes: videos decoded at once")
    parser.add_argument("--report", help="write the per-video results to this JSON file")


def run(args: argparse.Namespace) -> int:
    """Decode the videos and print a summary; exit 1 if any failed."""
    manifest = load_manifest(args.manifest)
    results = check_videos(manifest, FrameSize.parse(args.frame_size), args.workers, ProgressPrinter("videos"),
                           report=args.report)
    good = [r for r in results if r["ok"]]
    bad = [r for r in results if not r["ok"]]
    frames = sum(r["frames"] for r in good)
    print(f"{len(good)}/{len(results)} videos decode ({frames} frames)")
    for record in bad:
        print(f"  FAILED {record['video_id']}: {record['error']}")
    return 1 if bad else 0

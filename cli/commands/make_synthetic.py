"""`twostream make-synthetic`: render the synthetic action dataset as real video files."""
from __future__ import annotations

import argparse

from twostream.cli.progress import ProgressPrinter
from twostream.data.synthetic import DEFAULT_PRESET, PRESETS, make_synthetic, plan_videos, preset

NAME = "make-synthetic"
HELP = "render a synthetic action dataset (real mp4/avi files, UCF101 layout) whose videos each degrade one cue"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register the command's options."""
    parser.add_argument("--out", required=True, help="folder to write videos/, splits/ and metadata.json into")
    parser.add_argument("--preset", choices=tuple(PRESETS), default=DEFAULT_PRESET,
                        help="size preset; the options below override its fields")
    parser.add_argument("--classes", type=int, help="number of classes")
    parser.add_argument("--videos-per-class", type=int, help="videos rendered per class")
    parser.add_argument("--groups", type=int, help="scene groups (each split tests on whole groups)")
    parser.add_argument("--width", type=int, help="frame width in pixels")
    parser.add_argument("--height", type=int, help="frame height in pixels")
    parser.add_argument("--frames-per-video", type=int, help="frames per video")
    parser.add_argument("--fps", type=float, help="frames per second of the files")
    parser.add_argument("--container", choices=("mp4", "avi", "mixed"), help="file format (mixed: both, alternating)")
    parser.add_argument("--degrade-fraction", type=float, help="share of videos with one cue degraded")
    parser.add_argument("--mislead-fraction", type=float,
                        help="share of the degraded videos whose degradation misleads a stream (not only blurs it)")
    parser.add_argument("--seed", type=int, help="seed of the dataset's content (default: the preset's)")
    parser.add_argument("--workers", type=int, help="worker processes: videos rendered at once (default: one per "
                                                    "core)")

def run(args: argparse.Namespace) -> int:
    """Render the dataset."""
    config = preset(args.preset, classes=args.classes, videos_per_class=args.videos_per_class, groups=args.groups,
                    width=args.width, height=args.height, frames=args.frames_per_video, fps=args.fps,
                    container=args.container, degrade_fraction=args.degrade_fraction,
                    mislead_fraction=args.mislead_fraction, seed=args.seed)
    total = len(plan_videos(config))
    root = make_synthetic(args.out, config, args.workers, ProgressPrinter("videos"))
    print(f"{root}: {total} videos, {config.classes} classes, {config.width}x{config.height}, "
          f"{config.frames} frames at {config.fps:g} fps")
    return 0

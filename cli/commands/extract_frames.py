"""`twostream extract-frames`: RGB frames and TV-L1 optical flow of every video into frames.zarr."""
from __future__ import annotations

import argparse
import dataclasses
import json
import os

from twostream.cli.execution_args import add_execution_arguments, execution_from_args, report_batch
from twostream.cli.progress import ProgressPrinter
from twostream.cli.vocabulary import add_device, add_frames, add_manifest, add_overwrite
from twostream.data.errors import TwostreamError
from twostream.data.manifest import load_manifest
from twostream.pipeline.batch import Execution
from twostream.pipeline.extract_frames import FrameExtractionConfig, extract_frames
from twostream.pipeline.flow import FLOW_ALGORITHMS
from twostream.pipeline.flow.torch_flow import COMPILE_CHOICES
from twostream.pipeline.flow.windows import SHARING_CHOICES

NAME = "extract-frames"
HELP = "decode videos and compute optical flow into a resumable frames.zarr store (one dask task per video)"
DEFAULTS = FrameExtractionConfig()


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register the command's options."""
    add_manifest(parser)
    add_frames(parser, written=True)
    parser.add_argument("--frame-size", default=DEFAULTS.frame_size,
                        help="WxH (TSN: 340x256), shortN (short side N, e.g. short256) or native")
    parser.add_argument("--flow", choices=FLOW_ALGORITHMS, default=DEFAULTS.flow, help="optical flow algorithm")
    parser.add_argument("--flow-param", action="append", default=[], metavar="NAME=VALUE",
                        help="override a flow parameter, e.g. --flow-param iterations=100 (repeatable)")
    parser.add_argument("--bound", type=float, default=DEFAULTS.bound,
                        help="flow quantisation bound in pixels (TSN: 20)")
    parser.add_argument("--rgb-encoding", choices=("jpeg", "raw"), default=DEFAULTS.rgb_encoding,
                        help="how frames are stored: JPEG bytes (as rawframes folders, a tenth of the size) or raw "
                             "pixels")
    parser.add_argument("--jpeg-quality", type=int, default=DEFAULTS.jpeg_quality,
                        help="JPEG quality of the stored frames (1 to 100)")
    parser.add_argument("--flow-batch", type=int, metavar="PAIRS",
                        help="frame pairs of a video solved together by tvl1, and handed to each flow call "
                             "(default: tvl1 one pair on the CPU, as many as fit in free GPU memory; others 8); "
                             "changes speed and memory, never the flow")
    add_device(parser, DEFAULTS.device, note="; tvl1 only")
    parser.add_argument("--flow-compile", choices=COMPILE_CHOICES, default=DEFAULTS.flow_compile,
                        help="tvl1 only: run the primal-dual step fused by torch.compile (auto: on CUDA, where it "
                             "saves kernel launches; off on the CPU), within 1e-3 px of the eager step; triton: "
                             "each step and median filter as one Triton kernel that skips converged pairs (CUDA), "
                             "within 1e-4 px")
    parser.add_argument("--flow-sharing", choices=SHARING_CHOICES, default=DEFAULTS.flow_sharing,
                        help="tvl1 only: solve the pairs of the videos a worker extracts at once (one per thread) in "
                             "shared batches of --flow-batch, each video decoding on while its flow is solved (auto: "
                             "on CUDA, where the local cluster is then one worker with a thread per core); never "
                             "changes the flow")
    parser.add_argument("--from-rawframes", metavar="DIR",
                        help="import <DIR>/<video_id>/img_*.jpg, flow_x_*, flow_y_* (mmaction2, TSN, denseflow) "
                             "instead of decoding and computing flow")
    add_overwrite(parser, "videos already in the store (extract them again)")
    add_execution_arguments(parser)


def parse_params(items: list[str]) -> dict:
    """Turn NAME=VALUE strings into a dict, reading each VALUE as JSON where it parses (numbers, booleans)."""
    params = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise TwostreamError(f"--flow-param {item!r}: expected NAME=VALUE")
        try:
            params[name] = json.loads(value)
        except json.JSONDecodeError:
            params[name] = value
    return params


def _execution(args: argparse.Namespace, config: FrameExtractionConfig) -> Execution:
    """The options' execution; with shared flow batches and no --workers or --threads, the local cluster is
    one worker running a video per core in threads, so that they fill the device's batches together."""
    execution = execution_from_args(args)
    local = not (args.scheduler or args.no_cluster or args.workers or args.threads or args.from_rawframes)
    if local and config.shares_flow(config.flow_algorithm()):
        return dataclasses.replace(execution, workers=1, threads_per_worker=os.cpu_count() or 1)
    return execution


def config(args: argparse.Namespace) -> FrameExtractionConfig:
    """The FrameExtractionConfig the options describe."""
    return FrameExtractionConfig(frame_size=args.frame_size, flow=args.flow, flow_params=parse_params(args.flow_param),
                                 bound=args.bound, rgb_encoding=args.rgb_encoding, jpeg_quality=args.jpeg_quality,
                                 flow_batch=args.flow_batch, device=args.device, flow_compile=args.flow_compile,
                                 flow_sharing=args.flow_sharing)


def run(args: argparse.Namespace) -> int:
    """Extract frames and flow; exit 1 if any video failed."""
    manifest = load_manifest(args.manifest)
    settings = config(args)
    summary = extract_frames(manifest, args.frames, config=settings, execution=_execution(args, settings),
                             overwrite=args.overwrite,
                             progress=ProgressPrinter("videos"), from_rawframes=args.from_rawframes)
    rate = summary.frames / summary.seconds if summary.seconds else 0.0
    return report_batch(summary,
                        f"{len(summary.written)} videos written ({summary.frames} frames, {rate:.1f} frames/s)")

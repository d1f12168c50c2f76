"""`twostream verify`: read every chunk of a frames or features store, list its damaged videos and arrays, and
with --repair extract exactly those videos again."""
from __future__ import annotations

import argparse
import json

from twostream.cli.execution_args import add_execution_arguments, execution_from_args, report_batch
from twostream.cli.progress import ProgressPrinter
from twostream.cli.vocabulary import MANIFEST_HELP
from twostream.data.errors import TwostreamError
from twostream.data.manifest import load_manifest
from twostream.pipeline.repair import repair_store
from twostream.pipeline.stores.verify import verify_store

NAME = "verify"
HELP = "check every chunk of a frames or features store; list the damaged videos and arrays (--repair: re-extract them)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register the command's options."""
    parser.add_argument("manifest", metavar="MANIFEST", nargs="?",
                        help=MANIFEST_HELP + " the store was made from; --repair needs it")
    parser.add_argument("--features", metavar="STORE", help="the features.zarr store to verify")
    parser.add_argument("--frames", metavar="STORE", help="the frames.zarr store to verify; with --features, the "
                                                          "frames store --repair extracts its damaged videos from")
    parser.add_argument("--readers", type=int, metavar="N",
                        help="videos read at once, in threads (default: one per core)")
    parser.add_argument("--out", metavar="JSON", help="write the damaged videos and arrays to this JSON file")
    repair = parser.add_argument_group("repair")
    repair.add_argument("--repair", action="store_true",
                        help="take the damaged videos out of the store and extract them again with the store's "
                             "recorded configuration: frames from the manifest's video files, features from "
                             "--frames and the recorded checkpoints")
    repair.add_argument("--rgb-checkpoint", help="the spatial checkpoint, where it is no longer where the store "
                                                 "recorded it (--repair of a features store)")
    repair.add_argument("--flow-checkpoint", help="the temporal checkpoint, likewise")
    repair.add_argument("--fold-checkpoints", metavar="DIR",
                        help="the train-streams --folds folder, where it is no longer where a store with "
                             "out-of-fold arrays recorded it")
    add_execution_arguments(parser)


def run(args: argparse.Namespace) -> int:
    """Verify, print the damage, and repair when asked; exit 1 when the store was damaged and is not repaired."""
    store = args.features or args.frames
    if store is None:
        raise TwostreamError("name the store to verify: --features STORE or --frames STORE")
    if args.repair and not args.manifest:
        raise TwostreamError("--repair extracts the damaged videos again from their inputs: give the manifest the "
                             "store was made from (twostream verify MANIFEST ...)")
    report = verify_store(store, args.readers, ProgressPrinter("videos"))
    if args.out:
        with open(args.out, "w", encoding="utf-8") as stream:
            json.dump(report.to_dict(), stream, indent=1)
    print(f"{report.store}: {report.videos} videos read, {len(report.damaged)} damaged")
    if report.unchecked:
        print(f"  {report.unchecked_text()}")
    for video_id, damage in report.damaged.items():
        for array, what in damage.items():
            print(f"  DAMAGED {video_id} {array}: {what}")
    if not report.damaged:
        return 0
    if not args.repair:
        print(f"repair: twostream verify MANIFEST --{report.kind} {report.store}"
              + (" --frames FRAMES" if report.kind == "features" else "") + " --repair")
        return 1
    summary = repair_store(report, load_manifest(args.manifest), frames=args.frames if args.features else None,
                           rgb_checkpoint=args.rgb_checkpoint, flow_checkpoint=args.flow_checkpoint,
                           fold_checkpoints=args.fold_checkpoints,
                           execution=execution_from_args(args), progress=ProgressPrinter("videos"))
    return report_batch(summary, f"{len(summary.written)} damaged videos extracted again")

"""`twostream index`: write the manifest of a dataset from its split files or folder tree."""
from __future__ import annotations

import argparse

from twostream.data.errors import TwostreamError
from twostream.data.splits import index_folder_tree, index_hmdb51, index_ucf101

NAME = "index"
HELP = "write the manifest (videos, labels, splits) of a UCF101, HMDB51 or folder-per-class dataset"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register the command's options."""
    parser.add_argument("--dataset", choices=("ucf101", "hmdb51", "folder"), required=True,
                        help="split-file format: ucf101 (classInd/trainlist/testlist), hmdb51 (<class>_test_splitN), "
                             "or folder (<root>/<class>/<video>, split by a stable hash)")
    parser.add_argument("--videos", required=True, help="folder holding <class>/<video> files")
    parser.add_argument("--splits", help="folder holding the split files (ucf101, hmdb51)")
    parser.add_argument("--split", type=int, action="append", dest="split_numbers", metavar="N",
                        help="index only this split (repeatable; default: every split found)")
    parser.add_argument("--allow-missing", action="store_true",
                        help="leave out listed videos that are not on disk (with a warning and a count)")
    parser.add_argument("--test-fraction", type=float, default=0.3, help="folder datasets: share of videos tested")
    parser.add_argument("--seed", type=int, default=0, help="folder datasets: seed of the split hash")
    parser.add_argument("--out", required=True, help="manifest file to write (JSON)")


def run(args: argparse.Namespace) -> int:
    """Index the dataset and write the manifest."""
    splits = tuple(args.split_numbers) if args.split_numbers else None
    if args.dataset == "folder":
        manifest = index_folder_tree(args.videos, args.test_fraction, args.seed)
    else:
        if not args.splits:
            raise TwostreamError(f"--splits is required for --dataset {args.dataset}")
        index = index_ucf101 if args.dataset == "ucf101" else index_hmdb51
        manifest = index(args.splits, args.videos, splits, args.allow_missing)
    path = manifest.save(args.out)
    counts = ", ".join(
        f"split {s}: {len(manifest.select(s, 'train'))} train / {len(manifest.select(s, 'test'))} test"
        for s in manifest.split_names
    )
    print(f"{path}: {len(manifest)} videos, {len(manifest.classes)} classes ({counts})")
    return 0

"""`twostream index`: write the manifest of a dataset from its split files or folder tree."""
from __future__ import annotations

import argparse

from twostream.cli.vocabulary import add_seed, default_of
from twostream.data.attributes import attribute_names, manifest_attributes
from twostream.data.splits import DATASETS, index_dataset

NAME = "index"
HELP = "write the manifest (videos, labels, splits) of a UCF101, HMDB51 or folder-per-class dataset"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register the command's options."""
    parser.add_argument("--dataset", choices=DATASETS, required=True,
                        help="split-file format: ucf101 (classInd/trainlist/testlist), hmdb51 (<class>_test_splitN), "
                             "or folder (<root>/<class>/<video>, split by a stable hash)")
    parser.add_argument("--videos", required=True, help="folder holding <class>/<video> files")
    parser.add_argument("--splits", help="folder holding the split files (ucf101, hmdb51)")
    parser.add_argument("--split", type=int, nargs="+", dest="split_numbers", metavar="N",
                        help="index only these splits (default: every split found)")
    parser.add_argument("--allow-missing", action="store_true",
                        help="leave out listed videos that are not on disk (with a warning and a count)")
    parser.add_argument("--test-fraction", type=float, default=default_of(index_dataset, "test_fraction"),
                        help="folder datasets: share of videos tested")
    add_seed(parser, default_of(index_dataset, "seed"), "the split hash (folder datasets)")
    parser.add_argument("--attributes", metavar="CSV",
                        help="per-video attributes to keep in the manifest: a CSV with a video_id column and one "
                             "column per attribute (a synthetic dataset's degraded_cue and degradation are picked "
                             "up from its metadata.json without it)")
    parser.add_argument("--out", required=True, help="manifest file to write (JSON), e.g. manifest.json")


def run(args: argparse.Namespace) -> int:
    """Index the dataset and write the manifest."""
    manifest = index_dataset(args.dataset, args.videos, splits=args.splits,
                             split_numbers=tuple(args.split_numbers) if args.split_numbers else None,
                             allow_missing=args.allow_missing, test_fraction=args.test_fraction, seed=args.seed,
                             attributes=args.attributes)
    path = manifest.save(args.out)
    counts = ", ".join(
        f"split {s}: {len(manifest.select(s, 'train'))} train / {len(manifest.select(s, 'test'))} test"
        for s in manifest.split_names
    )
    names = attribute_names(manifest_attributes(manifest))
    described = f"; attributes: {', '.join(names)}" if names else ""
    print(f"{path}: {len(manifest)} videos, {len(manifest.classes)} classes ({counts}){described}")
    return 0

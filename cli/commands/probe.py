"""`twostream probe`: how well each cached tap tells a per-video attribute, and which stream is right where."""
from __future__ import annotations

import argparse

from twostream.cli.vocabulary import add_features, add_manifest, default_of
from twostream.data.manifest import load_manifest
from twostream.fusion.probe import ProbeConfig, probe
from twostream.fusion.probe_table import probe_table

NAME = "probe"
HELP = ("fit a logistic regression per tap that predicts a per-video attribute (say degraded_cue) from both "
        "streams' pooled features; print its test accuracy beside the majority value's, and how often each "
        "stream alone is right on the training videos")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register the command's options."""
    add_manifest(parser, " (with per-video attributes)")
    add_features(parser)
    parser.add_argument("--attribute", required=True, help="the attribute to predict, e.g. degraded_cue")
    parser.add_argument("--split", default=default_of(ProbeConfig, "split"),
                        help="split whose training videos fit and whose test videos score the probe")
    parser.add_argument("--taps", nargs="+", metavar="TAP",
                        help="taps to probe (default: every map and vector tap both streams hold)")
    parser.add_argument("--attributes", metavar="CSV",
                        help="per-video attributes over the manifest's: a CSV with a video_id column and one "
                             "column per attribute")
    parser.add_argument("--out", help="also write the result here as JSON (for `twostream report --probe`)")


def config(args: argparse.Namespace) -> ProbeConfig:
    """The ProbeConfig the options describe."""
    return ProbeConfig(attribute=args.attribute, split=args.split, taps=tuple(args.taps) if args.taps else None,
                       attributes=args.attributes, out=args.out)


def run(args: argparse.Namespace) -> int:
    """Probe the store and print the tables."""
    result = probe(load_manifest(args.manifest), args.features, config=config(args))
    print(probe_table(result))
    if args.out:
        print(f"\nwritten: {args.out}")
    return 0

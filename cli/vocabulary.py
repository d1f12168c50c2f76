"""The command line's one vocabulary: each concept spelled one way in every command that has it (the
manifest first and positional, `--frames` and `--features` for the stores, `--run` for the run a command
trains and `--runs` for those it reads, `--out` for any other output, `--device` auto, `--amp`/`--no-amp`,
space-separated lists; docs/reference/commands.md has the table, tests/cli/test_vocabulary.py holds it).

A default shown in `--help` is the one the command uses: the parser prints it (`HelpFormatter`), and
options that configure a library call take theirs from that call's config dataclass (`default_of`).
"""
from __future__ import annotations

import argparse
import dataclasses
import inspect
from typing import Any

from twostream.data.runtime import AUTO_DEVICE

MANIFEST_HELP = "manifest.json written by `twostream index`"


class HelpFormatter(argparse.HelpFormatter):
    """Help that shows each option's default after its text, where the default says something (not None, not
    False, not an empty list)."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = action.help or ""
        default = action.default
        says_nothing = default is None or default is False or default is argparse.SUPPRESS or default == []
        # flags (nargs 0) print their own default: BooleanOptionalAction does, store_true's is always False
        if "%(default)" in text or says_nothing or action.nargs == 0 or not action.option_strings:
            return text
        return f"{text} (default: %(default)s)" if text else "(default: %(default)s)"


def default_of(config: Any, name: str) -> Any:
    """The default of field `name` of a config dataclass (an instance, or the class where some fields have no
    default) or of parameter `name` of a library function, as the parser's default (tuples as lists)."""
    if not dataclasses.is_dataclass(config):
        if not callable(config):
            raise TypeError(f"{config!r} is neither a config dataclass nor a function")
        value = inspect.signature(config).parameters[name].default
    elif isinstance(config, type):
        declared = {each.name: each for each in dataclasses.fields(config)}[name]
        value = declared.default_factory() if declared.default_factory is not dataclasses.MISSING else declared.default
    else:
        value = getattr(config, name)
    return list(value) if isinstance(value, tuple) else value


def add_manifest(parser: argparse.ArgumentParser, note: str = "") -> None:
    """Register the positional MANIFEST."""
    parser.add_argument("manifest", metavar="MANIFEST", help=MANIFEST_HELP + note)


def add_frames(parser: argparse.ArgumentParser, *, written: bool = False, required: bool = True,
               note: str = "") -> None:
    """Register `--frames`, the frames store the command writes (`written`) or reads."""
    text = ("frames.zarr to create or extend" if written
            else "frames.zarr written by `twostream extract-frames`")
    parser.add_argument("--frames", required=required, metavar="STORE", help=text + note)


def add_features(parser: argparse.ArgumentParser, *, written: bool = False, required: bool = True,
                 note: str = "") -> None:
    """Register `--features`, the features store the command writes (`written`) or reads (a store, or its HDF5
    export where stage two reads it)."""
    text = ("features.zarr to create or extend" if written
            else "features.zarr written by `twostream extract-features`, or its HDF5 export "
                 "(`twostream export-features --format h5`)")
    parser.add_argument("--features", required=required, metavar="STORE", help=text + note)


def add_device(parser: argparse.ArgumentParser, default: str = AUTO_DEVICE, note: str = "") -> None:
    """Register `--device`."""
    parser.add_argument("--device", default=default,
                        help="auto (CUDA when torch sees one, else the CPU), cpu, cuda or cuda:N" + note)


def add_amp(parser: argparse.ArgumentParser, default: bool, note: str = "") -> None:
    """Register `--amp` / `--no-amp`: mixed precision on CUDA."""
    parser.add_argument("--amp", action=argparse.BooleanOptionalAction, default=default,
                        help="mixed precision on CUDA (bf16 where the GPU has it, else fp16); the CPU always runs in "
                             "full precision" + note)


def add_loader_workers(parser: argparse.ArgumentParser, default: int) -> None:
    """Register `--loader-workers`: the DataLoader's worker processes."""
    parser.add_argument("--loader-workers", type=int, default=default, metavar="N",
                        help="DataLoader worker processes (0: load in the training process)")


def add_seed(parser: argparse.ArgumentParser, default: int, what: str) -> None:
    """Register `--seed`, saying what it seeds."""
    parser.add_argument("--seed", type=int, default=default, help=f"seed of {what}")


def add_overwrite(parser: argparse.ArgumentParser, what: str) -> None:
    """Register `--overwrite`, saying what it replaces."""
    parser.add_argument("--overwrite", action="store_true", help=f"replace {what}")

"""Top-level `twostream` parser: one subcommand per pipeline step, one-line errors, exit codes."""
from __future__ import annotations

import argparse
import importlib
import sys
from types import ModuleType

from twostream.cli.console import configure_logging
from twostream.cli.vocabulary import HelpFormatter
from twostream.data.errors import TwostreamError
from twostream.data.runtime import resolve_device

# Each module in twostream.cli.commands defines NAME, HELP, add_arguments(parser) and run(args) -> int; they are
# listed in pipeline order, as `twostream --help` shows them.
COMMAND_MODULES: tuple[str, ...] = (
    "make_synthetic",
    "index",
    "check_videos",
    "extract_frames",
    "flow",
    "export_rawframes",
    "train_streams",
    "extract_features",
    "export_features",
    "verify",
    "probe",
    "train_gate",
    "train_mfuse",
    "evaluate",
    "report",
)

EXIT_OK = 0
EXIT_FAILURES = 1  # the job ran but some items failed (recorded, reported)
EXIT_BAD_INPUT = 2  # nothing could run: bad arguments or input
EXIT_INTERNAL = 3  # an unexpected error (a bug): rerun with --debug for the traceback


def _load_commands() -> list[ModuleType]:
    return [importlib.import_module(f"twostream.cli.commands.{name}") for name in COMMAND_MODULES]


def build_parser() -> argparse.ArgumentParser:
    """Return the parser for `twostream` with every subcommand registered."""
    parser = argparse.ArgumentParser(
        prog="twostream",
        description="Two-stream action recognition: flow extraction, frozen backbones, cached features, fusion.",
    )
    parser.add_argument("--debug", action="store_true",
                        help="show tracebacks and every log record (dask's too) on the console")
    parser.add_argument("--log-file", metavar="PATH",
                        help="also write every log record, at debug level and dask's included, to PATH")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module in _load_commands():
        sub = subparsers.add_parser(module.NAME, help=module.HELP, description=module.HELP,
                                    formatter_class=HelpFormatter)
        sub.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
        sub.add_argument("--log-file", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
        module.add_arguments(sub)
        sub.set_defaults(_run=module.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the twostream command line and return its exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    configure_logging(args.debug, args.log_file)
    try:
        if getattr(args, "device", None):
            resolve_device(args.device)  # every command refuses a device it cannot use before any work
        return int(args._run(args))
    except TwostreamError as error:
        if args.debug:
            raise
        print(f"twostream {args.command}: error: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except FileNotFoundError as error:
        if args.debug:
            raise
        print(f"twostream {args.command}: error: no such file: {error.filename}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print(f"twostream {args.command}: interrupted", file=sys.stderr)
        return 130
    except Exception as error:  # noqa: BLE001 - the last line of defence for a one-line report
        if args.debug:
            raise
        print(
            f"twostream {args.command}: internal error: {type(error).__name__}: {error} (rerun with --debug)",
            file=sys.stderr,
        )
        return EXIT_INTERNAL

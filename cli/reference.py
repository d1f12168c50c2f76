"""The command reference, generated from the parsers' own --help so it cannot drift: the documentation's
commands page is built from it (docs/hooks.py), and `python -m twostream.cli.reference` prints it."""
from __future__ import annotations

import os
import sys

from twostream.cli.main import build_parser


def render_reference() -> str:
    """Return the Markdown reference: `twostream --help`, then each command's --help."""
    os.environ["COLUMNS"] = "100"  # argparse wraps to the terminal: fix the width for a stable text
    parser = build_parser()
    parts = ["```", parser.format_help().rstrip(), "```"]
    commands = parser._subparsers._group_actions[0].choices  # noqa: SLF001 - argparse keeps them only here
    for name, sub in commands.items():
        parts += ["", f"## twostream {name}", "", "```", sub.format_help().rstrip(), "```"]
    return "\n".join(parts)


if __name__ == "__main__":
    sys.stdout.write(render_reference() + "\n")

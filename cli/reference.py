"""The CLI reference in the README, generated from the parsers' own --help so it cannot drift.

Run `python -m twostream.cli.reference --write README.md` to refresh the README's reference block.
"""
from __future__ import annotations

import argparse
import os
import re
import sys
from pathlib import Path

from twostream.cli.main import build_parser
from twostream.data.io import write_text_atomic

BEGIN = "<!-- cli-reference:begin -->"
END = "<!-- cli-reference:end -->"


def render_reference() -> str:
    """Return the Markdown reference: `twostream --help`, then each command's --help."""
    os.environ["COLUMNS"] = "100"  # argparse wraps to the terminal: fix the width for a stable text
    parser = build_parser()
    parts = ["```", parser.format_help().rstrip(), "```"]
    commands = parser._subparsers._group_actions[0].choices  # noqa: SLF001 - argparse keeps them only here
    for name, sub in commands.items():
        parts += ["", f"### twostream {name}", "", "```", sub.format_help().rstrip(), "```"]
    return "\n".join(parts)


def replace_block(text: str, reference: str) -> str:
    """Return `text` with the block between the reference markers replaced by `reference`."""
    pattern = re.compile(re.escape(BEGIN) + r".*?" + re.escape(END), re.DOTALL)
    if not pattern.search(text):
        raise ValueError(f"no {BEGIN} ... {END} block found")
    return pattern.sub(lambda _: f"{BEGIN}\n{reference}\n{END}", text)


def main(argv: list[str] | None = None) -> int:
    """Print the reference, or write it into a file's marked block."""
    parser = argparse.ArgumentParser(description="generate the CLI reference from --help")
    parser.add_argument("--write", metavar="FILE", help="replace the marked block in FILE")
    args = parser.parse_args(argv)
    reference = render_reference()
    if args.write:
        path = Path(args.write)
        write_text_atomic(path, replace_block(path.read_text(encoding="utf-8"), reference))
    else:
        sys.stdout.write(reference + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

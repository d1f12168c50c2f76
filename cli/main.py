"""Top-level `twostream` parser: one subcommand per pipeline step."""
from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    """Run the twostream command line and return its exit code."""
    print("twostream", argv if argv is not None else sys.argv[1:])
    return 0

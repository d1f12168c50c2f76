"""Build-time hooks of the documentation: the command reference is each parser's own --help, generated when
the site is built, so it cannot drift from the code; the API reference reads the package's docstrings."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from twostream.cli.reference import render_reference

MARKER = "<!-- cli-reference -->"
ROOT = Path(__file__).resolve().parent.parent
API_PATH = ROOT / "build" / "api"  # the handler's search path (mkdocs.yml): a `twostream` folder of links
PACKAGES = ("cli", "data", "fusion", "pipeline")


def on_startup(**_: Any) -> None:
    """Lay out the installed namespace for the API reference before the docstring reader looks for it:
    `twostream/<package>` linking to each folder (they install under `twostream` by a mapping it cannot follow)."""
    namespace = API_PATH / "twostream"
    namespace.mkdir(parents=True, exist_ok=True)
    for package in PACKAGES:
        link = namespace / package
        if not link.is_symlink():
            link.symlink_to(ROOT / package, target_is_directory=True)


def on_page_markdown(markdown: str, page: Any, **_: Any) -> str:
    """Replace the command reference's marker with the help of `twostream` and of every command."""
    if MARKER not in markdown:
        return markdown
    return markdown.replace(MARKER, render_reference())

"""Build-time hooks of the documentation: the command reference is each parser's own --help, generated when
the site is built, so it cannot drift from the code; the API reference reads the package's docstrings; and a
benchmark's table is the JSON it wrote, with the command, machine and date that made it."""
from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from twostream.cli.reference import render_reference
from twostream.data.tables import markdown_table
from twostream.fusion.results import ResultsTable

MARKER = "<!-- cli-reference -->"
# <!-- bench: results/NAME.json [KEY.KEY...] -->, the path relative to the page: that benchmark's rows (or the rows
# at the dotted key path, e.g. presets.demo.differences) as a table
BENCH_MARKER = re.compile(r"<!-- bench: (\S+\.json)(?: (\S+))? -->")
# <!-- results: PATH.json -->: a run's results table (bench/demo_record.py) as evaluate prints it
RESULTS_MARKER = re.compile(r"<!-- results: (\S+\.json) -->")
DOCS = Path(__file__).resolve().parent
ROOT = DOCS.parent
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
    """Replace the command reference's marker with the help of `twostream` and of every command, and each
    benchmark marker with the table of the JSON it names."""
    if MARKER in markdown:
        markdown = markdown.replace(MARKER, render_reference())
    folder = (DOCS / page.file.src_uri).parent if page is not None else DOCS
    markdown = RESULTS_MARKER.sub(lambda match: results_table(folder / match.group(1)), markdown)
    return BENCH_MARKER.sub(lambda match: benchmark_table(folder / match.group(1), match.group(2) or "rows"), markdown)


def measured_by(result: dict) -> str:
    """The line that says which command made a result, on what machine and when."""
    machine = result["machine"]
    where = f"{machine['cpu']}, {machine['cores']} cores, " + (f"GPU {machine['gpu']}" if machine.get("gpu")
                                                             else "no GPU")
    return (f"Measured by `{result['command']}` on {where} (Python {machine['python']}, torch "
            f"{machine['torch']}), {result['date']}.")


def results_table(path: Path) -> str:
    """A recorded run's results (bench/demo_record.py) as the line saying what made them and evaluate's tables."""
    result = json.loads(path.read_text(encoding="utf-8"))
    return measured_by(result) + "\n\n" + ResultsTable.from_dict(result["results"]).to_markdown()


def benchmark_table(path: Path, rows: str = "rows") -> str:
    """A benchmark's JSON (bench/common.py's `report` or `write_results`) as a line saying what measured it and
    the table of the rows at the dotted key path `rows`."""
    result = json.loads(path.read_text(encoding="utf-8"))
    return measured_by(result) + "\n\n" + markdown_table(rows_at(result, rows, path))


def rows_at(result: dict, rows: str, path: Path) -> list[dict]:
    """The rows of a benchmark's JSON `result` (read from `path`) at the dotted key path `rows`; a record there
    (a mapping) is one row, the keys of its nested mappings joined to their parent's."""
    table: Any = result
    for key in rows.split("."):
        if not isinstance(table, dict) or key not in table:
            raise KeyError(f"{path} has no rows at {rows!r} (no {key!r} there): rerun its benchmark or fix the marker")
        table = table[key]
    return [flattened(table)] if isinstance(table, dict) else table


def flattened(record: dict, prefix: str = "") -> dict:
    """A record with its nested mappings' items lifted to the top, each key after its parents' ("model: H100")."""
    flat: dict = {}
    for key, value in record.items():
        name = f"{prefix}{key}"
        flat.update(flattened(value, f"{name}: ") if isinstance(value, dict) else {name: value})
    return flat

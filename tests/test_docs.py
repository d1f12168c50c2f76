"""The documentation: a short README that links every page, a site that builds with --strict, and a command
reference generated from the parser, so it shows every option with the default the code uses."""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from twostream.cli.main import build_parser

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"


def _nav_pages(nav: list) -> list[str]:
    pages = []
    for entry in nav:
        value = next(iter(entry.values())) if isinstance(entry, dict) else entry
        pages += _nav_pages(value) if isinstance(value, list) else [value]
    return pages


def _mkdocs_config() -> dict:
    class IgnoreTags(yaml.SafeLoader):
        """mkdocs.yml may use mkdocs' own tags (!ENV, !relative) and Python names (!!python/name:); the nav needs
        none of them."""

    IgnoreTags.add_multi_constructor("!", lambda loader, suffix, node: None)
    IgnoreTags.add_multi_constructor("tag:yaml.org,2002:python/", lambda loader, suffix, node: None)
    return yaml.load((ROOT / "mkdocs.yml").read_text(encoding="utf-8"), Loader=IgnoreTags)


def test_the_readme_is_short_and_links_every_page_of_the_site():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert len(readme.splitlines()) <= 200
    pages = _nav_pages(_mkdocs_config()["nav"])
    on_disk = sorted(str(path.relative_to(DOCS)) for path in DOCS.rglob("*.md"))
    assert sorted(pages) == on_disk  # every page is in the site's navigation
    linked = set(re.findall(r"\]\(docs/([^)#]+)", readme))
    assert set(pages) - {"index.md"} <= linked, f"pages the README does not link: {set(pages) - linked}"


def _hooks(load_script):
    return load_script(DOCS / "hooks.py")


def test_every_benchmark_table_of_the_docs_is_a_benchmark_json_that_says_what_made_it(load_script):
    hooks = _hooks(load_script)
    for page in DOCS.rglob("*.md"):
        for name, rows in hooks.BENCH_MARKER.findall(page.read_text(encoding="utf-8")):
            table = hooks.benchmark_table(page.parent / name, rows or "rows")
            result = json.loads((page.parent / name).read_text(encoding="utf-8"))
            assert table.startswith(f"Measured by `{result['command']}` on {result['machine']['cpu']}")
            assert result["date"] in table.splitlines()[0] and result["command"].startswith(("python bench/", "make demo"))
            shown = hooks.rows_at(result, rows or "rows", page.parent / name)
            assert len(table.splitlines()) == 4 + len(shown) > 4  # the line, a blank, the header, the rule
        for name in hooks.RESULTS_MARKER.findall(page.read_text(encoding="utf-8")):
            result = json.loads((page.parent / name).read_text(encoding="utf-8"))
            table = hooks.results_table(page.parent / name)
            assert table.startswith(f"Measured by `{result['command']}`")
            assert all(f"| {row['method']}" in table for row in result["results"]["rows"])


def test_a_benchmark_record_at_a_key_path_is_one_row_its_nested_keys_after_their_parents(tmp_path, load_script):
    hooks = _hooks(load_script)
    result = {"work": {"solved": 1.004, "model": {"H100": 785.0, "H200": 1124.0}}}
    assert hooks.rows_at(result, "work", tmp_path / "flow.json") == [
        {"solved": 1.004, "model: H100": 785.0, "model: H200": 1124.0}]
    with pytest.raises(KeyError, match="no 'model' there"):
        hooks.rows_at(result, "model", tmp_path / "flow.json")


def test_every_picture_of_the_docs_exists_and_the_demo_s_are_the_recorded_run_s():
    for page in DOCS.rglob("*.md"):
        for target in re.findall(r"!\[[^\]]*\]\(([^)]+)\)", page.read_text(encoding="utf-8")):
            assert (page.parent / target).is_file(), f"{page.name} shows {target}, which does not exist"
    recorded = json.loads((DOCS / "benchmarks" / "results" / "demo.json").read_text(encoding="utf-8"))
    for figure in recorded["figures"].values():
        path = DOCS / "benchmarks" / "results" / figure["file"]
        assert hashlib.sha256(path.read_bytes()).hexdigest() == figure["sha256"]  # the run's, not another's
    shown = set(re.findall(r"\(benchmarks/results/(demo/[^)]+)\)", (DOCS / "demo.md").read_text(encoding="utf-8")))
    assert shown == {figure["file"] for figure in recorded["figures"].values()}


def test_the_command_reference_page_shows_every_option_of_every_command_with_its_default(load_script):
    hooks = _hooks(load_script)
    page = hooks.on_page_markdown((DOCS / "reference" / "commands.md").read_text(encoding="utf-8"), page=None)
    assert hooks.MARKER not in page
    sections = dict(re.findall(r"^## twostream (\S+)\n\n```\n(.*?)\n```", page, re.M | re.S))
    commands = build_parser()._subparsers._group_actions[0].choices
    assert list(sections) == list(commands)
    for name, parser in commands.items():
        squeezed = re.sub(r"\s", "", sections[name])  # the help wraps lines, also at hyphens
        for action in parser._actions:
            if action.help == argparse.SUPPRESS:
                continue
            assert (action.option_strings or [action.metavar or action.dest])[-1] in sections[name]
            shown = action.default not in (None, False, [], argparse.SUPPRESS) and action.nargs != 0
            if shown and action.option_strings:
                default = re.sub(r"\s", "", f"(default: {action.default})")
                assert default in squeezed, f"{name} {action.option_strings[-1]}: {default} not in the reference"


def test_the_documentation_site_builds_strictly(tmp_path):
    pytest.importorskip("mkdocs", reason="the docs extra (make test installs it) builds the site")
    done = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path / "site")],
                          cwd=ROOT, capture_output=True, text=True, timeout=300,
                          env={**os.environ, "NO_MKDOCS_2_WARNING": "1"})
    assert done.returncode == 0, done.stderr[-3000:]
    commands = (tmp_path / "site" / "reference" / "commands" / "index.html").read_text(encoding="utf-8")
    assert commands.count("usage: twostream") == len(build_parser()._subparsers._group_actions[0].choices) + 1
    assert "Train gated fusion" in (tmp_path / "site" / "reference" / "api" / "index.html").read_text(encoding="utf-8")


def test_the_readme_s_figures_are_written_from_the_recorded_runs(load_script):
    figures = load_script(ROOT / "bench" / "readme_figures.py")
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert figures.current_block(readme) == figures.figures_block(), "run python bench/readme_figures.py"

"""The import rule of DESIGN.md, checked on every module's syntax tree (function-level imports included).

`data` imports nothing of ours; `pipeline.flow`, `pipeline.backbones` and `pipeline.stores` import
only `data`; the stage-one commands and `pipeline.streams` import `data` and those three; `fusion`
imports `data` and `pipeline.{flow,backbones,stores}`; `cli` and `bench` import anything.
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = "twostream"
CODE_FOLDERS = ("data", "pipeline", "fusion")
STORE_LAYERS = ("twostream.pipeline.flow", "twostream.pipeline.backbones", "twostream.pipeline.stores")


def module_name(path: Path) -> str:
    """The dotted name a file of the repository installs as (data/io.py -> twostream.data.io)."""
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join([PACKAGE, *parts])


def _within(name: str, package: str) -> bool:
    return name == package or name.startswith(package + ".")


def layer(module: str) -> str:
    """The layer of one of our modules: data, a pipeline sub-layer, stage-one commands, streams or fusion."""
    for package in (*STORE_LAYERS, "twostream.pipeline.streams"):
        if _within(module, package):
            return package
    for top in ("twostream.data", "twostream.fusion", "twostream.cli"):
        if _within(module, top):
            return top
    if _within(module, "twostream.pipeline"):
        return "twostream.pipeline (commands)"
    return module


ALLOWED: dict[str, tuple[str, ...]] = {
    "twostream.data": ("twostream.data",),
    **{package: ("twostream.data", package) for package in STORE_LAYERS},
    "twostream.pipeline (commands)": ("twostream.data", *STORE_LAYERS, "twostream.pipeline (commands)"),
    "twostream.pipeline.streams": ("twostream.data", *STORE_LAYERS, "twostream.pipeline.streams"),
    "twostream.fusion": ("twostream.data", *STORE_LAYERS, "twostream.fusion"),
}


def imported_modules(source: str, module: str, is_package: bool) -> list[tuple[int, str]]:
    """Every module of ours that `source` imports anywhere (line, dotted name), relative imports resolved."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".") if is_package else module.split(".")[:-1]
                base = base[:len(base) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            # `from twostream.pipeline import stores` imports the subpackage, so check each imported name too
            found += [(node.lineno, f"{target}.{alias.name}") for alias in node.names]
    return [(line, name) for line, name in found if _within(name, PACKAGE)]


def violations(source: str, module: str, is_package: bool = False) -> list[str]:
    """The imports in `source` (the module `module`) that break the import rule, as readable lines."""
    allowed = ALLOWED.get(layer(module))
    if allowed is None:
        return []
    broken = []
    for line, name in imported_modules(source, module, is_package):
        target = layer(resolved(name))
        if target == PACKAGE or target not in allowed:
            broken.append(f"{module}:{line} imports {name} ({layer(module)} may import only {', '.join(allowed)})")
    return broken


def resolved(name: str) -> str:
    """The module `name` means: itself when it is a module or package of ours on disk, else (a name
    imported from a module, as in `from twostream.pipeline.flow import quantize_flow`) its parent."""
    parts = name.split(".")[1:]
    path = ROOT.joinpath(*parts) if parts else ROOT
    if path.with_suffix(".py").is_file() or (path / "__init__.py").is_file():
        return name
    return name.rsplit(".", 1)[0]


def code_files() -> list[Path]:
    """Every Python file of the code folders that the rule covers."""
    return sorted(path for folder in CODE_FOLDERS for path in (ROOT / folder).rglob("*.py"))


@pytest.mark.parametrize("path", code_files(), ids=lambda path: str(path.relative_to(ROOT)))
def test_module_keeps_the_import_rule(path):
    assert violations(path.read_text(), module_name(path), path.name == "__init__.py") == []


def test_rule_covers_every_code_folder():
    names = {layer(module_name(path)) for path in code_files()}
    assert set(ALLOWED) <= names


@pytest.mark.parametrize(("module", "source"), [
    ("twostream.data.io", "def f():\n    from twostream.pipeline.flow import quantize_flow\n"),
    ("twostream.pipeline.stores.frame_store", "from twostream.pipeline.flow import dequantize_flow\n"),
    ("twostream.pipeline.flow.tvl1", "import twostream.pipeline.backbones\n"),
    ("twostream.pipeline.extract_features", "from twostream.pipeline.streams import train_streams\n"),
    ("twostream.pipeline.streams.dataset", "from twostream.pipeline.batch import Execution\n"),
    ("twostream.fusion.train", "from twostream.pipeline.extract_features import extract_features\n"),
    ("twostream.fusion.heads.gating", "from twostream.pipeline import streams\n"),
    ("twostream.fusion.sources", "from twostream.cli.main import main\n"),
    ("twostream.fusion.training.loop", "from ...pipeline.streams.train_streams import train_streams\n"),
    ("twostream.pipeline.extract_features", "from twostream.pipeline import streams\n"),
    ("twostream.pipeline.extract_features", "from . import streams\n"),
    ("twostream.pipeline.decode", "from .streams.train_streams import train_streams\n"),
])
def test_an_upward_import_is_caught(module, source):
    assert len(violations(source, module)) == 1


def test_a_package_init_resolves_its_relative_imports_from_itself():
    assert len(violations("from . import streams\n", "twostream.pipeline", is_package=True)) == 1
    assert violations("from . import stores\n", "twostream.pipeline", is_package=True) == []


@pytest.mark.parametrize(("module", "source"), [
    ("twostream.pipeline.stores.frame_store", "from twostream.data.io import atomic_path\n"),
    ("twostream.pipeline.extract_frames", "from twostream.pipeline.batch import Execution\n"),
    ("twostream.fusion.stream_networks", "from twostream.pipeline.backbones import load_checkpoint\n"),
    ("twostream.fusion.training.loop", "from ..heads.gating import GatedFusionHead\n"),
    ("twostream.pipeline.flow.tvl1", "from twostream.pipeline.flow import imageops\n"),
])
def test_allowed_imports_pass(module, source):
    assert violations(source, module) == []

"""The benchmark scripts under test, loaded as Python runs them: by path, their helpers beside them."""
from __future__ import annotations

import importlib.util
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"


def load_bench_script(name: str) -> ModuleType:
    """The module of bench/<name>.py, loaded once (bench/ on the path, as when Python runs the script)."""
    module_name = f"twostream_bench_{name}"
    if module_name not in sys.modules:
        if str(BENCH) not in sys.path:
            sys.path.insert(0, str(BENCH))
        spec = importlib.util.spec_from_file_location(module_name, BENCH / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        sys.modules[module_name] = module
    return sys.modules[module_name]


@pytest.fixture(scope="session")
def bench_script() -> Callable[[str], ModuleType]:
    """Load a benchmark script by name (`bench_script("flow")` is bench/flow.py)."""
    return load_bench_script

"""The benchmark scripts under test, by name."""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"


@pytest.fixture(scope="session")
def bench_script(load_script) -> Callable[[str], ModuleType]:
    """Load a benchmark script by name (`bench_script("flow")` is bench/flow.py)."""
    return lambda name: load_script(BENCH / f"{name}.py")

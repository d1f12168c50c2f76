"""Locating the shared real data (split files, flow pairs, clips, photos) used by tests and benchmarks."""
from __future__ import annotations

import os
from pathlib import Path

ENV_DIR = "TWOSTREAM_SHARED_DATA"
ENV_REQUIRE = "TWOSTREAM_REQUIRE_SHARED_DATA"
_REPO_ROOT = Path(__file__).resolve().parent.parent


def shared_data_dir() -> Path | None:
    """Return the shared data folder ($TWOSTREAM_SHARED_DATA, else ../shared/data beside the repository), or None."""
    configured = os.environ.get(ENV_DIR)
    candidates = [Path(configured)] if configured else [_REPO_ROOT.parent / "shared" / "data"]
    for candidate in candidates:
        if candidate.is_dir():
            return candidate
    return None


def shared_data_required() -> bool:
    """Whether a missing shared data folder must fail rather than skip ($TWOSTREAM_REQUIRE_SHARED_DATA=1)."""
    return os.environ.get(ENV_REQUIRE, "") not in ("", "0")

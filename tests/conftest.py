"""Fixtures shared by the whole suite."""
from __future__ import annotations

from pathlib import Path

import pytest

from twostream.data.reference_data import shared_data_dir, shared_data_required


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The real data in ../shared/data; skips (or fails under TWOSTREAM_REQUIRE_SHARED_DATA=1) when absent."""
    found = shared_data_dir()
    if found is None:
        message = "shared data not found: set TWOSTREAM_SHARED_DATA or place it at ../shared/data"
        if shared_data_required():
            pytest.fail(message)
        pytest.skip(message)
    return found


@pytest.fixture(scope="session")
def tiny_dataset(tmp_path_factory):
    """A tiny synthetic dataset on disk (videos, UCF101-style splits) and its manifest."""
    from twostream.data.splits import index_ucf101
    from twostream.data.synthetic import PRESETS, make_synthetic

    root = make_synthetic(tmp_path_factory.mktemp("synthetic"), PRESETS["tiny"], workers=2)
    manifest = index_ucf101(root / "splits", root / "videos")
    return root, manifest

"""Real tiny run folders for the report tests: gated fusion trained with and without the multi-task loss."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from torch import nn

from twostream.fusion.features import InMemoryFeatureSource
from twostream.fusion.heads.gating import GatedFusionHead
from twostream.fusion.training.analysis import analyse
from twostream.fusion.training.loop import fit, train_gated_fusion
from twostream.fusion.training.runs import RunDir, write_analysis
from twostream.fusion.training.schedule import Phase
from twostream.fusion.training.tasks import GateTask


@dataclass
class TrainedRuns:
    """The run folders (lambda 0 first, then lambda 1), their trained heads, and the sets they were scored on."""

    paths: list[Path]
    heads: list[GatedFusionHead]
    val: InMemoryFeatureSource
    test: InMemoryFeatureSource


def gated_head() -> GatedFusionHead:
    """A small gated head for switching_source's 8-channel maps and 4 classes."""
    torch.manual_seed(0)
    body = nn.Sequential(nn.Conv2d(8, 16, 1), nn.ReLU())
    return GatedFusionHead(body, body_dim=16, num_classes=4, rgb_channels=8, dropout=0.5)


@pytest.fixture(scope="session")
def trained_runs(switching_splits, tmp_path_factory, quick_training) -> TrainedRuns:
    """Two gated runs in real run folders, lambda 0 (gate loss alone) and lambda 1, with their analysis stored."""
    train, val, test = switching_splits
    root = tmp_path_factory.mktemp("runs")
    settings = quick_training(patience=1, max_epochs_per_phase=6)
    paths, heads = [], []
    for lam in (0.0, 1.0):
        run, head = RunDir.create(root, f"gate-lambda{lam:g}"), gated_head()
        sets = {"val": val, "test": test}
        if lam:
            train_gated_fusion(head, train, val, config=settings, lam=lam, run=run, evaluate_on=sets)
        else:
            fit(GateTask(head), train, val, config=settings, phases=(Phase("gate", 0.0),), run=run, evaluate_on=sets)
        write_analysis(run.path, {"val": analyse(val), "test": analyse(test, head)})
        paths.append(run.path)
        heads.append(head)
    return TrainedRuns(paths, heads, val, test)


@pytest.fixture
def drawn():
    """The check that PNG bytes hold a drawn figure (see assert_drawn)."""
    return assert_drawn


def png_pixels(data: bytes) -> np.ndarray:
    """Decode PNG bytes to an (H, W, 3) uint8 image, failing the test when they are not a PNG."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    assert image is not None and image.ndim == 3
    return image


def assert_drawn(data: bytes, min_width: int = 200, min_height: int = 150) -> np.ndarray:
    """Assert the PNG is of a usable size and not blank (many distinct colours); return its pixels."""
    image = png_pixels(data)
    assert image.shape[0] >= min_height and image.shape[1] >= min_width
    non_white = (image < 250).any(axis=2).mean()
    assert non_white > 0.02, f"the figure is nearly blank ({non_white:.3f} of pixels drawn)"
    packed = image.astype(np.int32) @ np.array([1 << 16, 1 << 8, 1], dtype=np.int32)
    assert len(np.unique(packed)) > 20
    return image

"""Mean per-class accuracy, top-1, and the results table."""
from __future__ import annotations

import json

import numpy as np
import pytest

from twostream.fusion.errors import FusionError
from twostream.fusion.metrics import mean_class_accuracy, per_class_accuracy, top1_accuracy
from twostream.fusion.results import ResultsTable


def _one_hot(predicted: list[int], classes: int = 3) -> np.ndarray:
    return np.eye(classes)[predicted]


def test_mean_class_accuracy_weighs_classes_equally_unlike_top1():
    labels = np.array([0, 0, 0, 0, 1, 2])
    scores = _one_hot([0, 0, 0, 0, 0, 2])  # class 0: 4/4, class 1: 0/1, class 2: 1/1
    assert top1_accuracy(scores, labels) == pytest.approx(5 / 6)
    assert per_class_accuracy(scores, labels) == {0: 1.0, 1: 0.0, 2: 1.0}
    assert mean_class_accuracy(scores, labels) == pytest.approx(2 / 3)


def test_metrics_refuse_mismatched_or_empty_input():
    with pytest.raises(FusionError):
        top1_accuracy(np.zeros((3, 2)), np.zeros(2, dtype=int))
    with pytest.raises(FusionError, match="empty"):
        mean_class_accuracy(np.zeros((0, 2)), np.zeros(0, dtype=int))


def test_results_table_means_over_splits_and_renders():
    table = ResultsTable()
    table.add("gated", "split1", 0.9, 0.92)
    table.add("gated", "split2", 0.8, 0.84)
    table.add("average", "split1", 0.7, 0.75)
    table.add_scores("spatial", "split1", _one_hot([0, 1]), np.array([0, 0]))
    assert table.methods == ["gated", "average", "spatial"] and table.splits == ["split1", "split2"]
    assert table.mean("gated") == pytest.approx({"mean_class_accuracy": 0.85, "top1": 0.88})
    assert table.mean("average") is None
    data = json.loads(table.to_json())
    assert data["rows"][2]["splits"]["split1"] == {"mean_class_accuracy": 0.5, "top1": 0.5}
    lines = table.to_markdown().splitlines()
    assert lines[0].startswith("| method | split1 mean class acc. | split1 top-1 | split2")
    assert lines[2] == "| gated | 90.0 | 92.0 | 80.0 | 84.0 | 85.0 | 88.0 |"
    assert lines[3] == "| average | 70.0 | 75.0 | - | - | - | - |"


def test_results_table_refuses_percentages():
    with pytest.raises(FusionError, match="fractions"):
        ResultsTable().add("gated", "split1", 90.0, 0.9)


def test_results_table_round_trips_through_json():
    table = ResultsTable()
    table.add("gated", "split1", 0.9, 0.92)
    table.add("gated", "split2", 0.8, 0.84)
    table.add("average", "split2", 0.7, 0.75)
    again = ResultsTable.from_dict(json.loads(table.to_json()))
    assert again.cells == table.cells and again.splits == ["split1", "split2"]
    assert again.to_markdown() == table.to_markdown()
    with pytest.raises(FusionError, match="not a results table"):
        ResultsTable.from_dict({"rows": [{"method": "gated"}]})

"""The results table: accuracies by method and split, their means, JSON and Markdown."""
from __future__ import annotations

import json

import numpy as np
import pytest

from twostream.fusion.errors import FusionError
from twostream.fusion.results import ResultsTable
from twostream.fusion.training.learning import CONSTANT_GATE, KEPT_FIRST_EPOCH, Finding


def _one_hot(predicted: list[int], classes: int = 3) -> np.ndarray:
    return np.eye(classes)[predicted]


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


def test_per_video_outcomes_round_trip_for_paired_analyses_across_runs():
    table = ResultsTable()
    table.add("gated", "split 1", 0.5, 0.5)
    table.add_outcomes("split 1", ["a", "b"], np.array([0, 1]), {"gated": np.array([True, False])})
    again = ResultsTable.from_dict(json.loads(table.to_json()))
    labels, correct = again.outcome_arrays("split 1")
    assert labels.tolist() == [0, 1] and correct["gated"].tolist() == [True, False]
    with pytest.raises(FusionError, match="no per-video outcomes for split 2"):
        again.outcome_arrays("split 2")


def test_findings_mark_their_method_and_round_trip_through_json():
    table = ResultsTable()
    table.add("gated", "split 1", 0.5, 0.5)
    table.add("average", "split 1", 0.6, 0.6)
    table.add("mfusion", "split 1", 0.4, 0.4)
    table.add_findings("gated", "split 1", [])  # learned: nothing recorded
    stuck = [Finding(KEPT_FIRST_EPOCH, "kept its first epoch"), Finding(CONSTANT_GATE, "weighs videos alike")]
    table.add_findings("mfusion", "split 1", stuck[:1])
    table.add_findings("gated", "split 2", stuck)
    assert table.flagged == ["gated", "mfusion"] and table.note_marker("average") == ""
    again = ResultsTable.from_dict(json.loads(table.to_json()))
    assert again.findings == table.findings and again.to_markdown() == table.to_markdown()
    lines = table.to_markdown().splitlines()
    assert lines[2].startswith("| gated (did not learn, note 1) | 50.0 |")
    assert lines[3].startswith("| average | 60.0 |") and lines[4].startswith("| mfusion (did not learn, note 2) |")
    assert lines[-3:] == ["- [1] gated, split 2: kept its first epoch", "- [1] gated, split 2: weighs videos alike",
                          "- [2] mfusion, split 1: kept its first epoch"]


def test_a_results_file_written_before_findings_loads_without_them():
    table = ResultsTable()
    table.add("gated", "split 1", 0.5, 0.5)
    data = table.to_dict()
    assert "findings" not in data["rows"][0]
    assert ResultsTable.from_dict(data).findings == {}
    with pytest.raises(FusionError, match="not a results table"):
        ResultsTable.from_dict({"rows": [{**data["rows"][0], "findings": {"split 1": [{"name": "x"}]}}]})

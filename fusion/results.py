"""The comparison table: methods x splits, mean per-class accuracy and top-1, with the mean over splits.

Where evaluation measured them, a cell also holds the 95 % bootstrap interval of its mean class
accuracy over the test videos, and a trained method's row its paired differences from fixed rules.
A trained method whose head did not learn on a split (see `twostream.fusion.training.learning`)
carries that split's findings: its row is marked and a numbered note below the table says what happened.
"""
from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from twostream.data.io import write_text_atomic
from twostream.data.metrics import Interval, mean_class_accuracy, top1_accuracy
from twostream.fusion.errors import FusionError
from twostream.fusion.training.learning import Finding

METRICS: tuple[str, str] = ("mean_class_accuracy", "top1")
_HEADINGS = {"mean_class_accuracy": "mean class acc.", "top1": "top-1"}
LEARNING_NOTES = "Trained heads that did not learn, as their runs recorded"


@dataclass
class ResultsTable:
    """Accuracies by method and split; a method's mean is given only where it has every split of the table."""

    cells: dict[str, dict[str, dict]] = field(default_factory=dict)
    # method -> split -> reference method -> paired difference of mean class accuracy (Interval.to_dict)
    differences: dict[str, dict[str, dict[str, dict]]] = field(default_factory=dict)
    # split -> {"video_ids", "labels", "correct": method -> per-video 0/1}: what paired analyses over runs need
    outcomes: dict[str, dict] = field(default_factory=dict)
    # method -> split -> how its head did not learn there (Finding.to_dict each); methods that learned are absent
    findings: dict[str, dict[str, list[dict]]] = field(default_factory=dict)

    def add(self, method: str, split: str, mean_class: float, top1: float, interval: Interval | None = None) -> None:
        """Record one method's accuracies (fractions in [0, 1]) on one split, with its interval if measured."""
        for value in (mean_class, top1):
            if not 0.0 <= value <= 1.0:
                raise FusionError(f"accuracies are fractions in [0, 1]; {method} on {split} got {value}")
        cell: dict = {"mean_class_accuracy": float(mean_class), "top1": float(top1)}
        if interval is not None:
            cell["interval"] = interval.to_dict()
        self.cells.setdefault(method, {})[split] = cell

    def add_difference(self, method: str, split: str, reference: str, difference: Interval) -> None:
        """Record the paired difference of `method`'s mean class accuracy from `reference`'s on one split."""
        self.differences.setdefault(method, {}).setdefault(split, {})[reference] = difference.to_dict()

    def add_findings(self, method: str, split: str, findings: Sequence[Finding]) -> None:
        """Record how a trained method's head did not learn on one split (no findings: nothing recorded)."""
        if findings:
            self.findings.setdefault(method, {})[split] = [finding.to_dict() for finding in findings]

    @property
    def flagged(self) -> list[str]:
        """The methods with findings on some split, in table order: their note numbers count from 1."""
        return [method for method in self.methods if method in self.findings]

    def note_marker(self, method: str) -> str:
        """The mark on a flagged method's row, '(did not learn, note N)'; '' for a method that learned."""
        flagged = self.flagged
        return f"(did not learn, note {flagged.index(method) + 1})" if method in flagged else ""

    def notes(self) -> list[str]:
        """One line per finding, '[N] method, split: message', N the method's note number."""
        return [f"[{number}] {method}, {split}: {finding['message']}"
                for number, method in enumerate(self.flagged, start=1)
                for split, found in self.findings[method].items() for finding in found]

    def add_outcomes(self, split: str, video_ids: list[str], labels: np.ndarray,
                     correct: dict[str, np.ndarray]) -> None:
        """Record, for one split's test videos, whether each method got each video right."""
        self.outcomes[split] = {"video_ids": list(video_ids), "labels": [int(label) for label in labels],
                                "correct": {method: [int(v) for v in right] for method, right in correct.items()}}

    def outcome_arrays(self, split: str) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """Return one split's test labels and each method's per-video correctness (booleans), as recorded."""
        if split not in self.outcomes:
            raise FusionError(f"the table holds no per-video outcomes for {split}; evaluate it again")
        recorded = self.outcomes[split]
        return (np.asarray(recorded["labels"], dtype=np.int64),
                {method: np.asarray(right, dtype=bool) for method, right in recorded["correct"].items()})

    def interval(self, method: str, split: str) -> Interval | None:
        """Return the bootstrap interval of a cell's mean class accuracy, None where none was measured."""
        cell = self.cells.get(method, {}).get(split, {})
        return Interval.from_dict(cell["interval"]) if "interval" in cell else None

    def add_scores(self, method: str, split: str, scores: np.ndarray, labels: np.ndarray) -> None:
        """Record one method's accuracies on one split, computed from its scores (N, C)."""
        self.add(method, split, mean_class_accuracy(scores, labels), top1_accuracy(scores, labels))

    @property
    def methods(self) -> list[str]:
        """Methods in the order they were first added."""
        return list(self.cells)

    @property
    def splits(self) -> list[str]:
        """Splits in the order they were first seen."""
        seen: dict[str, None] = {}
        for by_split in self.cells.values():
            seen.update(dict.fromkeys(by_split))
        return list(seen)

    def mean(self, method: str) -> dict[str, float] | None:
        """Return the method's metrics averaged over the table's splits, or None if it lacks one."""
        by_split = self.cells[method]
        if any(split not in by_split for split in self.splits):
            return None
        return {m: float(np.mean([by_split[s][m] for s in self.splits])) for m in METRICS}

    def to_dict(self) -> dict:
        """Return the table as plain data: splits, and per method its cells and mean."""
        return {
            "splits": self.splits,
            "metrics": list(METRICS),
            "rows": [{"method": m, "splits": self.cells[m], "mean": self.mean(m),
                      **({"differences": self.differences[m]} if m in self.differences else {}),
                      **({"findings": self.findings[m]} if m in self.findings else {})}
                     for m in self.methods],
            **({"outcomes": self.outcomes} if self.outcomes else {}),
        }

    @classmethod
    def from_dict(cls, data: dict) -> "ResultsTable":
        """Rebuild a table from `to_dict`'s plain data (a results JSON file, loaded)."""
        table = cls()
        try:
            for row in data["rows"]:
                for split, cell in row["splits"].items():
                    interval = Interval.from_dict(cell["interval"]) if "interval" in cell else None
                    table.add(row["method"], split, cell["mean_class_accuracy"], cell["top1"], interval)
                for split, references in row.get("differences", {}).items():
                    for reference, difference in references.items():
                        table.add_difference(row["method"], split, reference, Interval.from_dict(difference))
                for split, found in row.get("findings", {}).items():  # absent from tables written before findings
                    table.add_findings(row["method"], split, [Finding.from_dict(finding) for finding in found])
            for split, recorded in data.get("outcomes", {}).items():
                table.add_outcomes(split, recorded["video_ids"], recorded["labels"],
                                   {method: np.asarray(right) for method, right in recorded["correct"].items()})
        except (KeyError, TypeError) as error:
            raise FusionError(f"not a results table: {type(error).__name__} {error}; expected the JSON that "
                              "ResultsTable.to_json writes (rows of method, splits, mean)") from None
        return table

    def write(self, out: str | Path) -> tuple[Path, Path]:
        """Write the table as JSON to `out` and as Markdown beside it (`.md`), atomically; return both paths."""
        out = Path(out)
        out.parent.mkdir(parents=True, exist_ok=True)
        markdown = out.with_suffix(".md")
        write_text_atomic(out, self.to_json() + "\n")
        write_text_atomic(markdown, self.to_markdown() + "\n")
        return out, markdown

    def to_json(self) -> str:
        """Return the table as indented JSON."""
        return json.dumps(self.to_dict(), indent=2)

    def to_markdown(self) -> str:
        """Return the table in Markdown, accuracies in percent with one decimal, '-' for missing cells.

        A measured interval follows its mean class accuracy in brackets; paired differences, where
        measured, follow in a second table (points, positive: the method is better than the reference);
        a method whose head did not learn is marked, and its note follows.
        """
        columns = [(s, m) for s in [*self.splits, "mean"] for m in METRICS]
        header = "| method | " + " | ".join(f"{s} {_HEADINGS[m]}" for s, m in columns) + " |"
        rule = "|---|" + "---:|" * len(columns)
        lines = [header, rule]
        for method in self.methods:
            values = {**self.cells[method], "mean": self.mean(method)}
            row = [_percent((values.get(s) or {}).get(m)) + interval_text(values.get(s), m) for s, m in columns]
            label = f"{method} {self.note_marker(method)}".rstrip()
            lines.append(f"| {label} | " + " | ".join(row) + " |")
        if self.flagged:
            lines += ["", f"{LEARNING_NOTES}:", "", *(f"- {note}" for note in self.notes())]
        if self.differences:
            lines += ["", *self._differences_markdown()]
        return "\n".join(lines) + "\n"

    def _differences_markdown(self) -> list[str]:
        pairs = list(dict.fromkeys((split, reference) for by_split in self.differences.values()
                                   for split, references in by_split.items() for reference in references))
        level = next(difference["level"] for by_split in self.differences.values()
                     for references in by_split.values() for difference in references.values())
        lines = [f"Paired differences in mean class accuracy, points, with {100 * level:g} % bootstrap intervals "
                 "over the test videos:", "",
                 "| method | " + " | ".join(f"{split} minus {reference}" for split, reference in pairs) + " |",
                 "|---|" + "---:|" * len(pairs)]
        for method, by_split in self.differences.items():
            row = [difference_text(by_split.get(split, {}).get(reference)) for split, reference in pairs]
            lines.append(f"| {method} | " + " | ".join(row) + " |")
        return lines


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f}"


def interval_text(cell: dict | None, metric: str) -> str:
    """Return ' [low, high]' in percent for a cell's measured mean class accuracy interval, else ''."""
    if metric != "mean_class_accuracy" or not cell or "interval" not in cell:
        return ""
    return f" [{100 * cell['interval']['low']:.1f}, {100 * cell['interval']['high']:.1f}]"


def accuracy_text(cell: dict) -> str:
    """A cell's mean class accuracy in percent with its interval where measured: '79.7 [68.9, 89.0]'."""
    return _percent(cell.get("mean_class_accuracy")) + interval_text(cell, "mean_class_accuracy")


def difference_text(difference: dict | None) -> str:
    """A paired difference in points with its interval, '+6.2 [-2.0, +15.6]' ('-' where none was measured)."""
    if difference is None:
        return "-"
    return (f"{100 * difference['estimate']:+.1f} [{100 * difference['low']:+.1f}, "
            f"{100 * difference['high']:+.1f}]")

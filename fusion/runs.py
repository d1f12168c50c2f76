"""A training run's folder `runs/<name>/`: config.json, metrics.jsonl, checkpoint.pt, predictions.json.

analysis.npz (per-video stream scores and gate features, see `twostream.fusion.analysis`) may sit beside them.
"""
from __future__ import annotations

import json
import re
from collections.abc import Mapping
from pathlib import Path

import torch

from twostream.fusion.errors import FusionError

CONFIG = "config.json"
METRICS = "metrics.jsonl"
CHECKPOINT = "checkpoint.pt"
PREDICTIONS = "predictions.json"
ANALYSIS = "analysis.npz"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


class RunDir:
    """Writes one run's outputs into its folder."""

    def __init__(self, path: Path) -> None:
        """Use the existing folder `path`."""
        self.path = Path(path)

    @classmethod
    def create(cls, root: Path | str, name: str, overwrite: bool = False) -> "RunDir":
        """Create `root/name`; an existing non-empty one is refused unless `overwrite` (which empties its outputs)."""
        if not _NAME.match(name):
            raise FusionError(
                f"run name {name!r}: use letters, digits, '.', '_' and '-', starting with a letter or digit"
            )
        path = Path(root) / name
        if path.exists() and any(path.iterdir()):
            if not overwrite:
                raise FusionError(f"run folder {path} exists and is not empty; pick another name or overwrite it")
            for output in (CONFIG, METRICS, CHECKPOINT, PREDICTIONS, ANALYSIS):
                (path / output).unlink(missing_ok=True)
        path.mkdir(parents=True, exist_ok=True)
        return cls(path)

    def write_config(self, config: Mapping) -> None:
        """Write the run's configuration as JSON."""
        (self.path / CONFIG).write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")

    def append_metrics(self, record: Mapping) -> None:
        """Append one epoch's metrics as a JSON line."""
        with open(self.path / METRICS, "a") as stream:
            stream.write(json.dumps(record, sort_keys=True) + "\n")

    def save_checkpoint(self, checkpoint: Mapping) -> None:
        """Save the checkpoint (model state and what describes it), replacing the previous one atomically."""
        partial = self.path / (CHECKPOINT + ".partial")
        torch.save(dict(checkpoint), partial)
        partial.replace(self.path / CHECKPOINT)

    def write_predictions(self, predictions: Mapping[str, list[dict]]) -> None:
        """Write per-video predictions by set name ('val', 'test', ...) as JSON."""
        (self.path / PREDICTIONS).write_text(json.dumps(predictions, indent=1) + "\n")

    def read_metrics(self) -> list[dict]:
        """Return the metrics lines written so far."""
        path = self.path / METRICS
        if not path.exists():
            return []
        return [json.loads(line) for line in path.read_text().splitlines() if line]

"""Reading finished training runs back from their folders for the report."""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from twostream.fusion.analysis import VideoAnalysis, read_analysis
from twostream.fusion.errors import ReportError
from twostream.fusion.runs import CHECKPOINT, CONFIG, METRICS, PREDICTIONS, RunDir

GATED_METHOD = "gated_fusion"


@dataclass
class ScoredSet:
    """One method's per-video results on one set: ids, labels (N,), scores (N, C), gate weights (N, 2) if gated."""

    video_ids: list[str]
    labels: np.ndarray
    scores: np.ndarray
    gate_weights: np.ndarray | None = None

    @property
    def predictions(self) -> np.ndarray:
        """Predicted class per video."""
        return self.scores.argmax(axis=1)

    @property
    def correct(self) -> np.ndarray:
        """Whether each video's prediction is its label."""
        return self.predictions == self.labels


@dataclass
class RunRecord:
    """A finished run: its configuration, per-epoch metrics, per-video predictions by set, and analysis by set."""

    path: Path
    config: dict
    metrics: list[dict]
    predictions: dict[str, list[dict]]
    analysis: dict[str, VideoAnalysis] = field(default_factory=dict)

    @property
    def name(self) -> str:
        """The run's name: the method label training recorded, else its folder's name."""
        return str(self.config.get("method") or self.path.name)

    @property
    def method(self) -> str:
        """The fusion method the run trained."""
        return str(self.config.get("task", {}).get("method", "unknown"))

    @property
    def is_gated(self) -> bool:
        """Whether the run trained a gated fusion head."""
        return self.method == GATED_METHOD

    @property
    def multitask_lambda(self) -> float:
        """The largest weight lambda of the head's own classification loss over the run's phases (0: none)."""
        return max((float(phase.get("lam", 0.0)) for phase in self.config.get("phases", [])), default=0.0)

    @property
    def title(self) -> str:
        """The run's name with its lambda, for figure panels."""
        if self.is_gated and "lambda" not in self.name:
            return f"{self.name} (lambda = {self.multitask_lambda:g})"
        return self.name

    def scored(self, set_name: str) -> ScoredSet:
        """Return the run's per-video results on set `set_name`."""
        if set_name not in self.predictions:
            raise ReportError(f"run {self.path} has no predictions on {set_name!r} (has: "
                              f"{', '.join(self.predictions) or 'none'})")
        records = self.predictions[set_name]
        weights = [r["gate_weights"] for r in records] if records and "gate_weights" in records[0] else None
        return ScoredSet(
            video_ids=[str(r["video_id"]) for r in records],
            labels=np.array([int(r["label"]) for r in records], dtype=np.int64),
            scores=np.array([r["scores"] for r in records], dtype=np.float64),
            gate_weights=None if weights is None else np.array(weights, dtype=np.float64),
        )

    def checkpoint_sha256(self) -> str | None:
        """Return the sha256 of the run's checkpoint file, or None when it has none."""
        path = self.path / CHECKPOINT
        if not path.exists():
            return None
        digest = hashlib.sha256()
        with open(path, "rb") as stream:
            for block in iter(lambda: stream.read(1 << 20), b""):
                digest.update(block)
        return digest.hexdigest()


def load_run(path: Path | str) -> RunRecord:
    """Return the run in folder `path`, which must hold at least config.json and predictions.json."""
    path = Path(path)
    if not path.is_dir():
        raise ReportError(f"run folder {path} does not exist")
    missing = [name for name in (CONFIG, PREDICTIONS) if not (path / name).exists()]
    if missing:
        raise ReportError(f"{path} is not a finished run folder: it lacks {', '.join(missing)}; "
                          "train a fusion head into it first")
    try:
        config = json.loads((path / CONFIG).read_text())
        predictions = json.loads((path / PREDICTIONS).read_text())
        metrics = RunDir(path).read_metrics() if (path / METRICS).exists() else []
    except json.JSONDecodeError as error:
        raise ReportError(f"{path}: a run file is not valid JSON ({error})") from None
    return RunRecord(path, config, metrics, predictions, read_analysis(path))

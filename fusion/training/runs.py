"""A training run's folder `runs/<name>/`, written and read here and nowhere else.

It holds config.json, metrics.jsonl, checkpoint.pt, predictions.json and analysis.npz (per-video
stream scores and gate features, which figures need and predictions.json does not hold). Every
file is written atomically; `load_run` reads a finished run back.
"""
from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from twostream.data.io import append_jsonl, atomic_path, file_sha256, read_jsonl, write_json_atomic
from twostream.data.metrics import VideoScores
from twostream.fusion.errors import FusionError, ReportError
from twostream.fusion.late import StreamScores
from twostream.fusion.training.learning import Finding, read_findings

CONFIG = "config.json"
METRICS = "metrics.jsonl"
CHECKPOINT = "checkpoint.pt"
PREDICTIONS = "predictions.json"
ANALYSIS = "analysis.npz"
OUTPUTS = (CONFIG, METRICS, CHECKPOINT, PREDICTIONS, ANALYSIS)
GATED_METHOD = "gated_fusion"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
_SET_NAME = re.compile(r"^[A-Za-z0-9_-]+$")
_SUMMARIES = ("logits", "probabilities", "sci")  # the StreamScores fields, stored as <set>.<stream>_<field>
_ANALYSIS_ARRAYS = ("video_ids", "labels", *(f"{stream}_{part}" for stream in ("rgb", "flow") for part in _SUMMARIES))


@dataclass
class VideoAnalysis:
    """One set's per-video ids, labels, each stream's summaries of its view scores and, for gated fusion,
    gate features (N, D)."""

    video_ids: list[str]
    labels: np.ndarray
    rgb: StreamScores
    flow: StreamScores
    gate_features: np.ndarray | None = None

    def __post_init__(self) -> None:
        """Refuse arrays that do not describe the same videos."""
        count = len(self.video_ids)
        shapes = [self.labels.shape[:1], self.rgb.logits.shape[:1], self.flow.logits.shape[:1]]
        if self.gate_features is not None:
            shapes.append(self.gate_features.shape[:1])
        if any(shape != (count,) for shape in shapes) or self.rgb.logits.shape != self.flow.logits.shape:
            raise FusionError(f"analysis arrays disagree on the videos: {count} ids, shapes {shapes}, "
                              f"scores {self.rgb.logits.shape} and {self.flow.logits.shape}")

    @property
    def rgb_scores(self) -> np.ndarray:
        """The spatial stream's video-level pre-softmax scores (N, C)."""
        return self.rgb.logits

    @property
    def flow_scores(self) -> np.ndarray:
        """The temporal stream's video-level pre-softmax scores (N, C)."""
        return self.flow.logits


def write_analysis(run_dir: Path | str, analyses: Mapping[str, VideoAnalysis]) -> Path:
    """Write the analyses by set name into `run_dir/analysis.npz` (replacing it atomically); return its path."""
    arrays: dict[str, np.ndarray] = {}
    for name, analysis in analyses.items():
        if not _SET_NAME.match(name):
            raise FusionError(f"set name {name!r}: use letters, digits, '_' and '-'")
        arrays[f"{name}.video_ids"] = np.array(analysis.video_ids, dtype=str)
        arrays[f"{name}.labels"] = analysis.labels
        for stream, scores in (("rgb", analysis.rgb), ("flow", analysis.flow)):
            for part in _SUMMARIES:
                arrays[f"{name}.{stream}_{part}"] = getattr(scores, part).astype(np.float32)
        if analysis.gate_features is not None:
            arrays[f"{name}.gate_features"] = analysis.gate_features.astype(np.float32)
    target = Path(run_dir) / ANALYSIS
    with atomic_path(target) as partial, open(partial, "wb") as stream:
        np.savez_compressed(stream, **arrays)
    return target


def read_analysis(run_dir: Path | str) -> dict[str, VideoAnalysis]:
    """Return the analyses by set name from `run_dir/analysis.npz` (empty when the run has none)."""
    path = Path(run_dir) / ANALYSIS
    if not path.exists():
        return {}
    with np.load(path, allow_pickle=False) as stored:
        names = dict.fromkeys(key.rsplit(".", 1)[0] for key in stored.files)
        out = {}
        for name in names:
            missing = [part for part in _ANALYSIS_ARRAYS if f"{name}.{part}" not in stored.files]
            if missing:
                raise FusionError(f"{path}: set {name!r} lacks {', '.join(missing)} (written by an older version); "
                                  "train the run again")
            features = stored.get(f"{name}.gate_features")
            streams = {stream: StreamScores(*(stored[f"{name}.{stream}_{part}"] for part in _SUMMARIES))
                       for stream in ("rgb", "flow")}
            out[name] = VideoAnalysis(
                video_ids=[str(v) for v in stored[f"{name}.video_ids"]],
                labels=stored[f"{name}.labels"],
                rgb=streams["rgb"],
                flow=streams["flow"],
                gate_features=None if features is None else np.asarray(features),
            )
    return out


class RunDir:
    """Writes one run's outputs into its folder, each file atomically."""

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
            for output in OUTPUTS:
                (path / output).unlink(missing_ok=True)
        path.mkdir(parents=True, exist_ok=True)
        return cls(path)

    def write_config(self, config: Mapping) -> None:
        """Write the run's configuration as JSON."""
        write_json_atomic(self.path / CONFIG, dict(config), indent=2, sort_keys=True)

    def read_config(self) -> dict:
        """Return the configuration written so far (empty before the first write)."""
        path = self.path / CONFIG
        return json.loads(path.read_text()) if path.exists() else {}

    def update_config(self, **fields: Any) -> None:
        """Add or replace top-level fields of the run's configuration."""
        self.write_config({**self.read_config(), **fields})

    def append_metrics(self, record: Mapping) -> None:
        """Append one epoch's metrics as a JSON line."""
        append_jsonl(self.path / METRICS, record, sort_keys=True)

    def save_checkpoint(self, checkpoint: Mapping) -> None:
        """Save the checkpoint (model state and what describes it), replacing the previous one atomically."""
        with atomic_path(self.path / CHECKPOINT) as partial:
            torch.save(dict(checkpoint), partial)

    def write_predictions(self, predictions: Mapping[str, list[dict]]) -> None:
        """Write per-video predictions by set name ('val', 'test', ...) as JSON."""
        write_json_atomic(self.path / PREDICTIONS, dict(predictions), indent=1)

    def write_analysis(self, analyses: Mapping[str, VideoAnalysis]) -> Path:
        """Write per-video analyses by set name (see `write_analysis`)."""
        return write_analysis(self.path, analyses)

    def read_metrics(self) -> list[dict]:
        """Return the metrics lines written so far."""
        return read_jsonl(self.path / METRICS)


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
    def learning(self) -> list[Finding]:
        """How the run's head did not learn, as training recorded it (empty: it learned, or an older run)."""
        return read_findings(self.config)

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

    def scored(self, set_name: str) -> VideoScores:
        """Return the run's per-video results on set `set_name`."""
        if set_name not in self.predictions:
            raise ReportError(f"run {self.path} has no predictions on {set_name!r} (has: "
                              f"{', '.join(self.predictions) or 'none'})")
        return VideoScores.from_records(self.predictions[set_name])

    def checkpoint_sha256(self) -> str | None:
        """Return the sha256 of the run's checkpoint file, or None when it has none."""
        path = self.path / CHECKPOINT
        return file_sha256(path) if path.exists() else None


def split_name(split: str) -> str:
    """The name of a split's folder inside a run: split<N>."""
    return f"split{split}"


def split_folder(run: Path | str, split: str) -> Path:
    """The folder of one split of a run: `run`/split<N>."""
    return Path(run) / split_name(split)


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
        metrics = RunDir(path).read_metrics()
    except json.JSONDecodeError as error:
        raise ReportError(f"{path}: a run file is not valid JSON ({error})") from None
    return RunRecord(path, config, metrics, predictions, read_analysis(path))

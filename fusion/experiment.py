"""The fusion experiments as the command line runs them: per split, carve validation by group, load
the cached features, train a head (gated fusion, m-fusion, amplification, baselines A and B), and
compare every method on the test list in one table."""
from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from twostream.data.manifest import Manifest
from twostream.data.validation import carve_validation
from twostream.fusion.analysis import analyse, write_analysis
from twostream.fusion.amplification import FeatureAmplificationHead
from twostream.fusion.errors import FusionError
from twostream.fusion.features import FeatureSource, InMemoryFeatureSource, averaged_logits
from twostream.fusion.gating import GatedFusionHead
from twostream.fusion.late import late_fusion_scores
from twostream.fusion.map_fusion import widen_body_for_concat
from twostream.fusion.multiplicative import baseline_a_head, baseline_b_head, multiplicative_fusion_head
from twostream.fusion.results import ResultsTable
from twostream.fusion.runs import PREDICTIONS, RunDir
from twostream.fusion.store_source import ZarrFeatureSource
from twostream.fusion.training import FitResult, TrainConfig, train_fusion_head, train_gated_fusion
from twostream.pipeline.backbones import load_checkpoint
from twostream.pipeline.feature_readers import open_feature_store
from twostream.pipeline.feature_store import FeatureReader

log = logging.getLogger(__name__)

HEADS = ("mfusion", "baseline-a", "baseline-b", "amplification")
HEAD_INPUTS = {"maps": ("rgb_map", "flow_map"), "vectors": ("rgb_vec", "flow_vec")}
LATE_NAMES = {"spatial": "spatial only", "temporal": "temporal only", "average": "average of scores",
              "tsn_1_1.5": "weighted average 1:1.5 (TSN)", "weighted_search": "weighted average (grid search)",
              "l2_softmax_average": "average of l2-normalised softmax", "sci": "SCI weighting"}


@dataclass
class SplitSources:
    """One split's training, validation and test videos as feature sources."""

    split: str
    train: FeatureSource
    val: FeatureSource
    test: FeatureSource
    centre_crop: int


def resolve_splits(manifest: Manifest, split: str) -> list[str]:
    """Expand a --split value ("1", "2", "3" or "all") into the manifest's split names."""
    if split == "all":
        return manifest.split_names
    if split not in manifest.split_names:
        raise FusionError(f"split {split} is not in the manifest; it has {', '.join(manifest.split_names)}")
    return [split]


def split_sources(store: FeatureReader, manifest: Manifest, split: str, fields: Sequence[str],
                  val_fraction: float = 0.2, seed: int = 0, map_tap: str | None = None,
                  vec_tap: str | None = None) -> SplitSources:
    """Carve validation from a split's training videos by group and load the needed fields in memory."""
    train_videos, val_videos = carve_validation(manifest, split, val_fraction, seed)
    test_videos = manifest.select(split, "test")
    sources = {}
    for name, videos in (("train", train_videos), ("val", val_videos), ("test", test_videos)):
        lazy = ZarrFeatureSource(store, [v.video_id for v in videos], map_tap, vec_tap)
        sources[name] = lazy.in_memory(fields)
    return SplitSources(split, sources["train"], sources["val"], sources["test"], lazy.centre_crop())


def _spatial_checkpoint(store: FeatureReader, checkpoint: str | None) -> str:
    path = checkpoint or store.attrs.get("checkpoints", {}).get("rgb")
    if not path or not Path(path).is_file():
        raise FusionError(f"the spatial checkpoint {path or '(not recorded in the store)'} is not available; "
                          "pass --rgb-checkpoint with the checkpoint the features were extracted with")
    loaded = load_checkpoint(path)
    if loaded.sha256 != store.stream_config("rgb")["checkpoint_sha256"]:
        raise FusionError(f"{path} is not the spatial checkpoint {store.path} was extracted with (sha256 differs)")
    return path


def build_gate(store: FeatureReader, sources: SplitSources, checkpoint: str | None, tap: str | None,
               fusion: str, activation: str, dropout: float) -> GatedFusionHead:
    """The gating ConvNet: the spatial net's layers after the tap (trainable copy), two FC heads."""
    net = load_checkpoint(_spatial_checkpoint(store, checkpoint)).build()
    tap = tap or store.stream_config("rgb")["map_tap"]
    body = net.layers_after(tap)
    sample = sources.train.load(0, ["rgb_map", "flow_map"])
    rgb_channels, height, width = sample.get("rgb_map").shape[2:]
    flow_channels = sample.get("flow_map").shape[2]
    if fusion == "concat":
        body = widen_body_for_concat(body, rgb_channels, height, width)
    return GatedFusionHead(body, net.feature_dim, sources.train.num_classes, rgb_channels, flow_channels,
                           fusion=fusion, activation=activation, dropout=dropout)


def build_head(kind: str, on: str, store: FeatureReader, sources: SplitSources, checkpoint: str | None,
               width: int, dropout: float):
    """An m-fusion, baseline A/B or amplification head sized to the cached features."""
    num_classes = sources.train.num_classes
    if kind == "amplification":
        net = load_checkpoint(_spatial_checkpoint(store, checkpoint)).build()
        return FeatureAmplificationHead(net.classifier_after(store.stream_config("rgb")["map_tap"]), pool=False)
    a_name, b_name = HEAD_INPUTS[on]
    sample = sources.train.load(0, [a_name, b_name])
    a_dim, b_dim = sample.get(a_name).shape[2], sample.get(b_name).shape[2]
    maps = on == "maps"
    if kind == "mfusion":
        return multiplicative_fusion_head(a_dim, b_dim, num_classes, width=width, maps=maps, dropout=dropout)
    if kind == "baseline-a":
        return baseline_a_head(a_dim, b_dim, num_classes, dropout=dropout)
    if kind == "baseline-b":
        return baseline_b_head(a_dim, b_dim, num_classes, maps=maps, dropout=dropout)
    raise FusionError(f"unknown head {kind!r}; choose from {', '.join(HEADS)}")


def head_inputs(kind: str, on: str) -> tuple[str, str]:
    """The two feature fields a head reads."""
    return ("rgb_map", "flowmag") if kind == "amplification" else HEAD_INPUTS[on]


def train_gate(store_path: str | Path, manifest: Manifest, runs: str | Path, name: str, split: str = "1",
               fusion: str = "conv", activation: str = "relu", lam: float = 1.0, tap: str | None = None,
               checkpoint: str | None = None, dropout: float = 0.8, val_fraction: float = 0.2,
               config: TrainConfig = TrainConfig(), overwrite: bool = False) -> dict[str, FitResult]:
    """Train gated fusion with Algorithm 1 on each requested split; write runs/<name>/split<N>/."""
    store = open_feature_store(store_path)
    results = {}
    for each in resolve_splits(manifest, split):
        sources = split_sources(store, manifest, each, ["rgb_map", "flow_map", "rgb_logits", "flow_logits"],
                                val_fraction, config.seed, tap)
        torch.manual_seed(config.seed)  # the head's new layers start from the run's seed, whatever ran before
        head = build_gate(store, sources, checkpoint, tap, fusion, activation, dropout)
        run = RunDir.create(Path(runs) / name, f"split{each}", overwrite)
        settings = TrainConfig(**{**config.__dict__, "eval_crop": sources.centre_crop})
        results[each] = train_gated_fusion(head, sources.train, sources.val, settings, lam, run,
                                           evaluate_on={"val": sources.val, "test": sources.test})
        trained = results[each].model
        write_analysis(run.path, {name: analyse(source, trained, config.device)
                                  for name, source in (("val", sources.val), ("test", sources.test))})
        _write_method(run, f"gated fusion ({fusion}, {activation}, lambda={lam:g})")
    return results


def train_mfuse(store_path: str | Path, manifest: Manifest, runs: str | Path, name: str, split: str = "1",
                head: str = "mfusion", on: str = "maps", width: int = 2048, score_weights: Sequence[float] = (2, 3, 4),
                checkpoint: str | None = None, dropout: float = 0.5, val_fraction: float = 0.2,
                config: TrainConfig = TrainConfig(), overwrite: bool = False) -> dict[str, FitResult]:
    """Train an m-fusion, amplification or baseline head on each requested split; write runs/<name>/split<N>/."""
    store = open_feature_store(store_path)
    inputs = head_inputs(head, on)
    results = {}
    for each in resolve_splits(manifest, split):
        sources = split_sources(store, manifest, each, [*inputs, "rgb_logits", "flow_logits"], val_fraction,
                                config.seed)
        torch.manual_seed(config.seed)  # the head's new layers start from the run's seed, whatever ran before
        model = build_head(head, on, store, sources, checkpoint, width, dropout)
        run = RunDir.create(Path(runs) / name, f"split{each}", overwrite)
        settings = TrainConfig(**{**config.__dict__, "eval_crop": sources.centre_crop})
        results[each] = train_fusion_head(model, inputs, head, sources.train, sources.val, settings, score_weights,
                                          run, evaluate_on={"val": sources.val, "test": sources.test})
        write_analysis(run.path, {name: analyse(source) for name, source in (("val", sources.val),
                                                                                ("test", sources.test))})
        weights = ":".join(f"{w:g}" for w in score_weights) if score_weights else "head only"
        _write_method(run, f"{head} on {'flow magnitude' if head == 'amplification' else on} ({weights})")
    return results


def _write_method(run: RunDir, method: str) -> None:
    config = json.loads((run.path / "config.json").read_text())
    config["method"] = method
    run.write_config(config)


def evaluate(store_path: str | Path, manifest: Manifest, run_roots: Sequence[str | Path], split: str = "1",
             val_fraction: float = 0.2, seed: int = 0) -> ResultsTable:
    """Every method's mean class accuracy and top-1 per split: late-fusion rules and the trained runs."""
    store = open_feature_store(store_path)
    table = ResultsTable()
    for each in resolve_splits(manifest, split):
        sources = split_sources(store, manifest, each, ["rgb_logits", "flow_logits"], val_fraction, seed)
        val_rgb, val_flow = averaged_logits(sources.val, "rgb"), averaged_logits(sources.val, "flow")
        test_rgb, test_flow = averaged_logits(sources.test, "rgb"), averaged_logits(sources.test, "flow")
        fused, flow_weight = late_fusion_scores(val_rgb, val_flow, sources.val.labels, test_rgb, test_flow)
        log.info("split %s: grid search chose flow weight %.2f", each, flow_weight)
        for rule, scores in fused.items():
            table.add_scores(LATE_NAMES[rule], f"split {each}", scores, sources.test.labels)
        for root in run_roots:
            method, scores, labels = _run_scores(Path(root) / f"split{each}", sources.test)
            table.add_scores(method, f"split {each}", scores, labels)
    return table


def _run_scores(folder: Path, test: InMemoryFeatureSource) -> tuple[str, np.ndarray, np.ndarray]:
    predictions = folder / PREDICTIONS
    if not predictions.is_file():
        raise FusionError(f"{folder} has no {PREDICTIONS}; train it with train-gate or train-mfuse for this split")
    records = {r["video_id"]: r for r in json.loads(predictions.read_text()).get("test", [])}
    missing = [v for v in test.video_ids if v not in records]
    if missing:
        raise FusionError(f"{predictions} lacks test predictions for {len(missing)} videos (e.g. {missing[0]!r}); "
                          "was it trained on another manifest or split?")
    config = json.loads((folder / "config.json").read_text())
    scores = np.array([records[v]["scores"] for v in test.video_ids], dtype=np.float32)
    return config.get("method", folder.parent.name), scores, test.labels

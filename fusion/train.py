"""What train-gate and train-mfuse run: per split, carve validation, build the head, train it, and write
the run folder with its analysis, method name and learning findings."""
from __future__ import annotations

import dataclasses
from pathlib import Path

import torch

from twostream.data.manifest import Manifest
from twostream.fusion.configs import SCORED_ON, GateConfig, HeadConfig
from twostream.fusion.head_building import build_gate, build_head, head_inputs, head_taps
from twostream.fusion.sources import field_arrays, open_fusion_store
from twostream.fusion.splits import fit_settings, resolve_splits, split_sources
from twostream.fusion.stream_networks import store_folds, train_scores_of
from twostream.fusion.training.analysis import analyse
from twostream.fusion.training.learning import flag_learning
from twostream.fusion.training.loop import FitResult, TrainConfig, train_fusion_head, train_gated_fusion
from twostream.fusion.training.runs import RunDir, split_name
from twostream.fusion.training.schedule import iterations_to_epochs
from twostream.fusion.training.train_scores import DroppedOutScores, OutOfFoldScores


def train_gate(manifest: Manifest, features: str | Path, run: str | Path,
               *, config: GateConfig = GateConfig()) -> dict[str, FitResult]:
    """Train gated fusion with Algorithm 1 on each requested split of `features`; write `run`/split<N>/."""
    store = open_fusion_store(features)
    training = config.training
    results = {}
    out_of_fold = config.train_scores == "out-of-fold"
    scores = train_scores_of(store, config)
    dropout_scores = isinstance(scores, DroppedOutScores)
    fields = ["rgb_map", "flow_map", "rgb_logits", "flow_logits", *(("rgb_vec", "flow_vec") if dropout_scores else ())]
    for each in resolve_splits(manifest, config.split):
        sources = split_sources(store, manifest, each, fields, val_fraction=config.val_fraction, seed=training.seed,
                                map_tap=config.tap, vec_tap=scores.taps if dropout_scores else None,
                                preload=config.preload, out_of_fold=out_of_fold,
                                train_on_validation=config.trains_on_validation)
        torch.manual_seed(training.seed)  # the head's new layers start from the run's seed, whatever ran before
        head = build_gate(store, sources, config)
        split_run = RunDir.create(Path(run), split_name(each), config.overwrite)
        settings = fit_settings(training, sources)
        results[each] = train_gated_fusion(head, sources.train, sources.val, config=settings, lam=config.lam,
                                           run=split_run, evaluate_on={"val": sources.val, "test": sources.test},
                                           train_scores=scores)
        trained = results[each].model
        split_run.write_analysis({name: analyse(source, trained, training.device)
                                  for name, source in (("val", sources.val), ("test", sources.test))})
        split_run.update_config(method=gate_method(config, store.stream_config("rgb")["map_tap"]),
                                gate_init=config.gate_init,
                                train_on="train+val" if config.trains_on_validation else "train")
        flag_learning(split_run, results[each])
    return results


def gate_method(config: GateConfig, store_tap: str) -> str:
    """A gate run's method name: its body and fusion, activation and lambda, and each setting off the default
    (another tap than the store's, an ImageNet body, trained BatchNorm, the validation videos trained on, other
    training scores)."""
    joined = "pooled maps" if config.body == "pooled" else f"{config.fusion} into layers"
    settings = [joined if config.tap in (None, store_tap) else f"{joined} at {config.tap}",
                config.activation, f"lambda={config.lam:g}"]
    if config.gate_init != "spatial":
        settings.append(f"{config.gate_init} body")
    if config.train_bn:
        settings.append("trained BN")
    if not config.trains_on_validation:
        settings.append("validation held out")
    return f"gated fusion ({', '.join(settings)}{SCORED_ON[config.train_scores]})"


def train_mfuse(manifest: Manifest, features: str | Path, run: str | Path,
                *, config: HeadConfig = HeadConfig()) -> dict[str, FitResult]:
    """Train an m-fusion, amplification or baseline head on each requested split of `features`; write
    `run`/split<N>/."""
    store = open_fusion_store(features)
    training = config.training
    inputs = head_inputs(config.head, config.on)
    out_of_fold = config.train_scores == "out-of-fold"
    scores = OutOfFoldScores(store_folds(store)).describe() if out_of_fold else {"mode": "clean"}
    maps, vectors = head_taps(store, config)
    fused = {name: array for name, array in field_arrays(store, maps, vectors).items() if name in inputs}
    results = {}
    for each in resolve_splits(manifest, config.split):
        sources = split_sources(store, manifest, each, [*inputs, "rgb_logits", "flow_logits"],
                                val_fraction=config.val_fraction, seed=training.seed, map_tap=maps, vec_tap=vectors,
                                preload=config.preload, out_of_fold=out_of_fold)
        torch.manual_seed(training.seed)  # the head's new layers start from the run's seed, whatever ran before
        model = build_head(config, store, sources, maps.get("rgb"))
        split_run = RunDir.create(Path(run), split_name(each), config.overwrite)
        settings = step_settings(fit_settings(training, sources), config, len(sources.train))
        results[each] = train_fusion_head(model, inputs, config.head, sources.train, sources.val, config=settings,
                                          score_weights=config.score_weights, run=split_run,
                                          evaluate_on={"val": sources.val, "test": sources.test},
                                          final_score=config.final_score)
        split_run.write_analysis({name: analyse(source)
                                  for name, source in (("val", sources.val), ("test", sources.test))})
        weights = ":".join(f"{w:g}" for w in config.score_weights) if config.score_weights else "head only"
        weights += "" if config.final_score == "probabilities" else " on logits"
        fused_name = "flow magnitude" if config.head == "amplification" else config.on
        split_run.update_config(method=f"{config.head} on {fused_name} ({weights}{SCORED_ON[config.train_scores]})",
                                train_scores=scores, fused=fused)
        flag_learning(split_run, results[each])
    return results


def step_settings(training: TrainConfig, config: HeadConfig, train_videos: int) -> TrainConfig:
    """A step schedule's epochs from the config's iteration counts (optimiser steps of batch x accumulate
    samples), for `train_videos` (plateau: unchanged)."""
    if training.schedule != "steps":
        return training
    batch = training.batch_size * training.accumulate  # samples per optimiser step
    steps = [iterations_to_epochs(i, batch, train_videos, config.iteration_scale) for i in config.step_iterations]
    epochs = iterations_to_epochs(config.iterations, batch, train_videos, config.iteration_scale)
    steps = [max(step, previous + 1) for previous, step in zip([0, *steps], steps)]  # rounding keeps them apart
    return dataclasses.replace(training, step_epochs=tuple(steps), epochs=max(epochs, steps[-1] + 1 if steps else 1))

"""The training loop every fusion head shares: K-segment batches, SGD, a phase schedule, keep the best.

`fit` trains any FusionTask; `train_gated_fusion` runs it as Algorithm 1 (two phases) on a gated
head, `train_fusion_head` as one phase on an m-fusion, amplification or baseline head.
"""
from __future__ import annotations

import copy
import dataclasses
import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

from twostream.data.metrics import VideoScores, spatial_share
from twostream.data.runtime import AUTO_DEVICE, autocast, resolve_device
from twostream.data.selection import BY_LAST, SELECTIONS, selection_key
from twostream.fusion.errors import FusionError
from twostream.fusion.features import FeatureSource
from twostream.fusion.heads.gating import GatedFusionHead
from twostream.fusion.training.datasets import AllViewsDataset, Sample, SegmentDataset
from twostream.fusion.training.evaluation import predict
from twostream.fusion.training.runs import RunDir
from twostream.fusion.training.schedule import (
    SINGLE_PHASE,
    Event,
    Phase,
    PhaseSchedule,
    StepSchedule,
    algorithm1_phases,
)
from twostream.fusion.training.tasks import DEFAULT_SCORE_WEIGHTS, FusionTask, GateTask, HeadTask
from twostream.fusion.training.train_scores import DroppedOutScores, OutOfFoldScores
from twostream.pipeline.backbones.weight_decay import decay_groups

log = logging.getLogger(__name__)
VALIDATE_VIEWS: tuple[str, ...] = ("segments", "all")
SCHEDULES: tuple[str, ...] = ("plateau", "steps")


@dataclass(frozen=True)
class TrainConfig:
    """Settings of a fusion training run (defaults: gated TSN's)."""

    segments: int = 3
    batch_size: int = 32
    # mini-batches whose gradients add up before one optimiser step (Caffe's iter_size): the effective
    # batch is batch_size * accumulate (the gated TSN release: 4 * 32)
    accumulate: int = 1
    lrs: tuple[float, ...] = (1e-3, 1e-4)
    momentum: float = 0.9
    weight_decay: float = 5e-4
    clip_grad_norm: float | None = 40.0
    patience: int = 3
    min_delta: float = 0.0
    max_epochs_per_phase: int = 100
    # False: every phase runs max_epochs_per_phase epochs, the rates stepping at equal fractions of them
    # (for validation sets too small to tell epochs apart; see fit_settings)
    early_stopping: bool = True
    seed: int = 0
    device: str = AUTO_DEVICE
    amp: bool = True  # mixed precision on CUDA; the CPU stays exact
    num_workers: int = 0
    eval_crop: int = 0
    # Validation on every view, as the test ("all"), or on each segment's centre snippet at eval_crop ("segments",
    # cheaper on large stores, but its accuracy moves in coarser steps)
    validate_views: str = "all"
    # The epoch kept: best validation accuracy with the loss breaking its ties ("accuracy"), the lowest loss, or the
    # last of a schedule that runs max_epochs_per_phase epochs a phase ("last")
    selection: str = "accuracy"
    view_chunk: int = 256
    # "plateau": lower the rate, change phase and stop on validation plateaus (patience); "steps": lower
    # it at the epochs `step_epochs` and stop after `epochs` (keeping the best validated weights)
    schedule: str = "plateau"
    step_epochs: tuple[int, ...] = ()
    epochs: int = 0

    def __post_init__(self) -> None:
        """Refuse settings the loop cannot run with."""
        if self.schedule not in SCHEDULES:
            raise FusionError(f"schedule {self.schedule!r}: use one of {', '.join(SCHEDULES)}")
        object.__setattr__(self, "step_epochs", tuple(int(e) for e in self.step_epochs))
        if min(self.segments, self.batch_size, self.accumulate, self.view_chunk) < 1:
            raise FusionError("segments, batch_size, accumulate and view_chunk must be at least 1")
        if self.selection not in SELECTIONS:
            raise FusionError(f"selection must be one of {', '.join(SELECTIONS)}, got {self.selection!r}")
        if self.validate_views not in VALIDATE_VIEWS:
            raise FusionError(f"validate_views must be one of {', '.join(VALIDATE_VIEWS)}, got {self.validate_views!r}")
        if self.clip_grad_norm is not None and self.clip_grad_norm <= 0:
            raise FusionError(f"clip_grad_norm must be positive or None, got {self.clip_grad_norm}")
        object.__setattr__(self, "lrs", tuple(self.lrs))


@dataclass
class FitResult:
    """The trained model (best weights loaded), where and how good they were, and the run's records."""

    model: nn.Module
    best_epoch: int
    best_accuracy: float
    history: list[dict]
    predictions: dict[str, VideoScores] = field(default_factory=dict)
    run_dir: Path | None = None

    @property
    def zero_gate_total(self) -> int:
        """Training samples, over all epochs, fused with equal weights because the ReLU gate gave zeros."""
        return int(sum(record.get("train_zero_gate_count", 0) for record in self.history))


def _sgd(model: nn.Module, lr: float, config: TrainConfig) -> torch.optim.SGD:
    """SGD over the trainable parameters, weight decay on weights only (as the released models)."""
    return torch.optim.SGD(decay_groups(model.parameters(), config.weight_decay), lr=lr, momentum=config.momentum)


def _schedule(config: TrainConfig, phases: Sequence[Phase]) -> PhaseSchedule | StepSchedule:
    """The schedule the config names; a step schedule runs one phase."""
    if config.schedule == "plateau":
        # keeping the last epoch means running every epoch: there is nothing to stop early on
        return PhaseSchedule(phases, config.lrs, config.patience, config.min_delta, config.max_epochs_per_phase,
                             config.early_stopping and config.selection != BY_LAST)
    if len(phases) != 1:
        raise FusionError("a step schedule runs one phase; Algorithm 1's phases change on plateaus: use "
                          "the plateau schedule")
    return StepSchedule(config.lrs, config.step_epochs, config.epochs)


def _views(source: FeatureSource, fields: Sequence[str], config: TrainConfig, mode: str) -> Dataset[Sample]:
    if mode == "all":
        return AllViewsDataset(source, fields)
    return SegmentDataset(source, fields, config.segments, train=False, eval_crop=config.eval_crop)


def _train_epoch(task: FusionTask, loader: DataLoader, optimizer: torch.optim.Optimizer, lam: float,
                 config: TrainConfig, device: torch.device) -> dict[str, float]:
    """Run one epoch; return the loss and parts averaged over samples (counts, '*_count', summed).

    The loader yields effective batches (batch_size * accumulate samples); each is split into
    mini-batches of batch_size whose gradients add up, each loss weighted by its share of the
    effective batch, so that one step follows the gradient of the effective batch's mean loss.
    """
    task.model.train()
    sums: dict[str, float] = {}
    seen = 0
    for effective in loader:
        total = int(effective["label"].shape[0])
        optimizer.zero_grad(set_to_none=True)
        for batch in _mini_batches(effective, config.batch_size):
            batch = {name: tensor.to(device, non_blocking=True) for name, tensor in batch.items()}
            size = int(batch["label"].shape[0])
            with autocast(device, config.amp):
                loss, parts = task.training_loss(batch, lam)
            if not torch.isfinite(loss):
                raise FusionError(f"the training loss became {loss.item()}; lower the learning rate")
            (loss * (size / total)).backward()
            for name, value in {"loss": loss.item(), **parts}.items():
                sums[name] = sums.get(name, 0.0) + (value if name.endswith("_count") else value * size)
        gate = getattr(task.model, "gate", None)
        if isinstance(gate, nn.Linear) and gate.weight.grad is not None:
            # how strongly the loss pulls on the stream weighting; near zero, the gate cannot learn
            sums["gate_grad_norm"] = sums.get("gate_grad_norm", 0.0) + float(gate.weight.grad.norm()) * total
        if config.clip_grad_norm is not None:
            nn.utils.clip_grad_norm_(task.model.parameters(), config.clip_grad_norm)
        optimizer.step()
        seen += total
    return {name: (value if name.endswith("_count") else value / seen) for name, value in sums.items()}


def _share_record(scored: VideoScores) -> dict[str, float]:
    """For a gate's scores, the mean and sd over videos of its spatial share w1 / (w1 + w2): whether, and how
    far, its weighting has moved from one weighting for every video."""
    if scored.gate_weights is None:
        return {}
    share = spatial_share(scored.gate_weights)
    return {"val_share_mean": float(share.mean()), "val_share_sd": float(share.std())}


def _mini_batches(batch: Sample, size: int) -> list[Sample]:
    """Split a batch of fields into consecutive mini-batches of at most `size` samples."""
    pieces = {name: torch.split(tensor, size) for name, tensor in batch.items()}
    return [{name: parts[index] for name, parts in pieces.items()} for index in range(len(pieces["label"]))]


def _describe(task: FusionTask, train: FeatureSource, val: FeatureSource, config: TrainConfig,
              phases: Sequence[Phase]) -> dict:
    return {
        "task": task.describe(),
        "train": dataclasses.asdict(config),
        "weight_decay_on": "weights only (biases and norm parameters undecayed)",
        "phases": [dataclasses.asdict(phase) for phase in phases],
        "num_classes": train.num_classes,
        "train_videos": len(train),
        "val_videos": len(val),
    }


def fit(task: FusionTask, train: FeatureSource, val: FeatureSource, *, config: TrainConfig | None = None,
        phases: Sequence[Phase] = SINGLE_PHASE, run: RunDir | None = None,
        evaluate_on: Mapping[str, FeatureSource] | None = None) -> FitResult:
    """Train `task` on `train`, choosing epochs by validation score on `val` (`config.selection`), through `phases`.

    Each phase starts from the best weights so far with the first learning rate and a fresh
    optimizer. At the end the best weights are loaded and every source in `evaluate_on` (default:
    the validation set) is scored on all its views (TSN test protocol). With `run`, the
    configuration, one metrics line per epoch, the best checkpoint and per-video predictions are
    written there.
    """
    config = config or TrainConfig()
    if train.num_classes != val.num_classes:
        raise FusionError(f"train has {train.num_classes} classes, validation {val.num_classes}")
    device = resolve_device(config.device)
    torch.manual_seed(config.seed)
    model = task.model.to(device)
    description = _describe(task, train, val, config, phases)
    train_set = SegmentDataset(train, task.fields, config.segments, train=True, seed=config.seed)
    loader = DataLoader(train_set, batch_size=config.batch_size * config.accumulate, shuffle=True, num_workers=config.num_workers,
                        generator=torch.Generator().manual_seed(config.seed), pin_memory=device.type == "cuda")
    val_views = _views(val, task.fields, config, config.validate_views)
    schedule = _schedule(config, phases)
    optimizer = _sgd(model, schedule.lr, config)
    if run is not None:
        run.write_config(description)
    best_state = copy.deepcopy(model.state_dict())
    best_epoch, best_accuracy, history, epoch = -1, float("nan"), [], 0
    while not schedule.done:
        phase, lr, previous_best = schedule.phase, schedule.lr, schedule.best
        train_set.set_epoch(epoch)
        started = time.perf_counter()
        parts = _train_epoch(task, loader, optimizer, phase.lam, config, device)
        scored = predict(task, val, val_views, device=device, chunk=config.view_chunk, amp=config.amp,
                         num_workers=config.num_workers)
        val_loss = task.validation_loss(scored)
        event = schedule.update(selection_key(scored.mean_class_accuracy, val_loss, config.selection, epoch))
        improved = schedule.best != previous_best
        record = {
            "epoch": epoch, "phase": phase.name, "lambda": phase.lam, "lr": lr,
            **{f"train_{name}": value for name, value in parts.items()},
            "val_mean_class_accuracy": scored.mean_class_accuracy, "val_top1": scored.top1, "val_loss": val_loss,
            **_share_record(scored),
            "val_zero_gate_views": scored.zero_gate_total, "improved": improved, "event": event.value,
            "seconds": round(time.perf_counter() - started, 3),
        }
        history.append(record)
        if parts.get("zero_gate_count"):
            log.warning("epoch %d: %d samples had both ReLU gate weights zero and were fused with equal weights",
                        epoch, int(parts["zero_gate_count"]))
            if parts["zero_gate_count"] >= len(train):
                raise FusionError(f"epoch {epoch}: the ReLU gate weighed both streams zero for every training sample: "
                                  "it gets no gradient and can no longer learn (a dead gate); lower the learning "
                                  "rate (--lrs) or use --activation softmax")
        if improved:
            best_state, best_epoch, best_accuracy = copy.deepcopy(model.state_dict()), epoch, scored.mean_class_accuracy
            if run is not None:
                run.save_checkpoint({"model_state": best_state, "epoch": epoch, "phase": phase.name,
                                     "val_mean_class_accuracy": best_accuracy, "val_loss": val_loss,
                                     "config": description})
        if run is not None:
            run.append_metrics(record)
        if event is Event.NEXT_PHASE:
            model.load_state_dict(best_state)
            optimizer = _sgd(model, schedule.lr, config)
        elif event is Event.LR_DROP:
            for group in optimizer.param_groups:
                group["lr"] = schedule.lr
        epoch += 1
    model.load_state_dict(best_state)
    sources = dict(evaluate_on) if evaluate_on is not None else {"val": val}
    predictions = {
        name: predict(task, source, AllViewsDataset(source, task.fields), device=device, chunk=config.view_chunk,
                      amp=config.amp,
                      num_workers=config.num_workers)
        for name, source in sources.items()
    }
    if run is not None:
        run.write_predictions({name: scored.records() for name, scored in predictions.items()})
    return FitResult(model, best_epoch, best_accuracy, history, predictions, run.path if run is not None else None)


def train_gated_fusion(head: GatedFusionHead, train: FeatureSource, val: FeatureSource,
                       *, config: TrainConfig | None = None, lam: float = 1.0, run: RunDir | None = None,
                       evaluate_on: Mapping[str, FeatureSource] | None = None,
                       train_scores: DroppedOutScores | OutOfFoldScores | None = None) -> FitResult:
    """Train a gated fusion head with Algorithm 1: lambda 0 until validation plateaus, then `lam`.

    With `DroppedOutScores`, training fuses stream scores recomputed under dropout; `OutOfFoldScores`
    records that the sources serve out-of-fold scores (see `train_scores`).
    """
    return fit(GateTask(head, train_scores), train, val, config=config, phases=algorithm1_phases(lam), run=run,
               evaluate_on=evaluate_on)


def train_fusion_head(head: nn.Module, inputs: Sequence[str], name: str, train: FeatureSource,
                      val: FeatureSource, *, config: TrainConfig | None = None,
                      score_weights: Sequence[float] | None = DEFAULT_SCORE_WEIGHTS, run: RunDir | None = None,
                      evaluate_on: Mapping[str, FeatureSource] | None = None,
                      final_score: str = "probabilities") -> FitResult:
    """Train a two-input head (m-fusion, amplification, baseline A or B) with cross-entropy, one phase.

    See HeadTask for `inputs`, `score_weights` (head, spatial, temporal; None: the head alone) and
    `final_score`.
    """
    task = HeadTask(head, inputs, name, score_weights, final_score)
    return fit(task, train, val, config=config, phases=SINGLE_PHASE, run=run, evaluate_on=evaluate_on)

"""train-streams: TSN fine-tuning of the spatial (RGB) and temporal (flow) networks on frames.zarr.

Each stream trains on K-segment clips (one random snippet per segment, average consensus of the
segment scores, cross-entropy), with TSN's regularisation: partial BN, dropout before the
classifier, multi-scale corner crops with flips, SGD with momentum and weight decay, gradient
clipping and a step schedule. A validation set is carved out of the split's training videos, whole
groups of every class (`twostream.data.validation`); the best epoch's network (which epoch, and
when a run stops early: `twostream.pipeline.streams.selection`) is kept as ``<out>/<stream>.pt``
(loadable by `load_checkpoint` with no further arguments), the last epoch's full state as
``<out>/<stream>.state.pt`` (for ``resume``), and one JSON line per epoch (training and validation
loss and accuracy, the best epoch so far) in ``<out>/<stream>.metrics.jsonl``.

With ``folds`` K, K more pairs train after the full one, in ``<out>/fold<k>/``, each on the split's
training videos minus fold k's (whole groups; see `twostream.data.folds`), so that every training
video has stream scores from a pair that never saw it (out-of-fold scores for the fusion heads).
"""
from __future__ import annotations

import dataclasses
import logging
import math
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader

from twostream.data.errors import TwostreamError
from twostream.data.folds import FOLDS_FILE, Folds, assign_folds, fold_dir, read_folds, write_folds
from twostream.data.io import append_jsonl
from twostream.data.manifest import Manifest, VideoEntry
from twostream.data.metrics import VideoScores
from twostream.data.runtime import AUTO_DEVICE, autocast, resolve_device
from twostream.data.sampling import STREAMS
from twostream.data.validation import ValidationSplitError, carve, carve_validation, validation_power
from twostream.pipeline.backbones import Backbone, save_checkpoint
from twostream.pipeline.backbones.partial_bn import freeze_partial_bn, quicken_statistics
from twostream.pipeline.backbones.registry import TSN_DROPOUT
from twostream.pipeline.stores.frame_store import FrameStore
from twostream.pipeline.streams.dataset import ClipSampling, EpochShuffle, StreamClips, init_worker
from twostream.pipeline.streams.evaluation import evaluate_stream, segment_consensus
from twostream.pipeline.streams.initialisation import initial_network
from twostream.pipeline.streams.optimiser import default_lr_steps, make_optimizer, make_scheduler
from twostream.pipeline.streams.selection import BY_LOSS, beats, progressed, selection_for, stops_early
from twostream.pipeline.streams.state import (
    load_state,
    restore_rng_states,
    rng_states,
    save_state,
    write_log,
)

# Settings a resumed run may change; every other one must match the saved state.
RESUMABLE_CHANGES = frozenset({"epochs", "patience", "workers", "device"})
# 2: the state records how its best epoch is chosen ("selection"), and validation is carved class by
# class, so a state of version 1 was validated on other videos.
STATE_VERSION = 2

log = logging.getLogger(__name__)

EpochProgress = Callable[[dict[str, Any]], None]  # called with each finished epoch's record


@dataclass(frozen=True)
class StreamTrainingConfig:
    """Settings of a train-streams run (defaults: TSN's, its schedule in epochs).

    60 epochs at most, the rate dropping after 30 and 45: a dataset of a hundred or so training videos
    gives a few steps an epoch, and a stream fine-tuned for 20 epochs was still learning when its
    schedule ended. Early stopping ends a run sooner once neither validation accuracy nor loss improves.
    """

    backbone: str = "efficientnet_lite0"
    pretrained: bool = True
    init_checkpoints: dict[str, str] = field(default_factory=dict)  # stream -> checkpoint to start from
    split: str = "1"
    val_fraction: float = 0.2
    segments: int = 3
    input_size: int = 224
    epochs: int = 60
    batch_size: int = 16
    lr: float = 1e-3
    lr_steps: tuple[int, ...] | None = None  # epochs after which the rate drops; None: half and 3/4 of the run
    lr_decay: float = 0.1
    classifier_lr_mult: float = 1.0  # the new classifier's rate over the fine-tuned layers' (TSN: 1)
    momentum: float = 0.9
    weight_decay: float = 5e-4
    clip_grad_norm: float | None = 40.0
    dropout: dict[str, float] = field(default_factory=lambda: dict(TSN_DROPOUT))
    partial_bn: bool | None = None  # None: on when starting from trained weights (their statistics are worth keeping)
    patience: int = 5
    workers: int = 0
    device: str = AUTO_DEVICE
    amp: bool = True  # bf16 autocast on CUDA; the CPU path stays exact
    seed: int = 0
    folds: int = 0  # K > 1: also train K pairs, each without one fold of the training videos (0: none)

    def __post_init__(self) -> None:
        """Refuse settings a run cannot use."""
        if self.folds < 0 or self.folds == 1:
            raise TwostreamError(f"folds must be 0 (none) or at least 2, got {self.folds}; pass --folds 5, say, or "
                                 "leave it out")
        unknown = sorted(set(self.init_checkpoints) - set(STREAMS))
        if unknown:
            raise TwostreamError(f"init checkpoint for unknown stream {unknown[0]!r}: streams are {', '.join(STREAMS)}")
        if self.epochs < 1 or self.batch_size < 1 or self.patience < 1:
            raise TwostreamError("epochs, batch size and patience must be at least 1")
        if self.classifier_lr_mult <= 0:
            raise TwostreamError(f"the classifier's rate multiplier must be positive, got {self.classifier_lr_mult}")
        if self.lr <= 0 or not 0 < self.lr_decay <= 1:
            raise TwostreamError(f"the learning rate must be positive and its decay in (0, 1]; got {self.lr}, {self.lr_decay}")
        if self.clip_grad_norm is not None and self.clip_grad_norm <= 0:
            raise TwostreamError(f"the gradient-norm clip must be positive or None, got {self.clip_grad_norm}")
        if self.workers < 0:
            raise TwostreamError(f"workers must be 0 or more, got {self.workers}")
        for stream, rate in self.dropout.items():
            if not 0.0 <= rate < 1.0:
                raise TwostreamError(f"{stream} dropout must lie in [0, 1), got {rate}")
        ClipSampling("rgb", self.segments, self.input_size)  # checks segments and input size

    def record(self) -> dict[str, Any]:
        """The settings as JSON-ready values, with the learning-rate steps resolved."""
        data = dataclasses.asdict(self)
        del data["folds"]  # how many pairs train, not how one trains: a full run resumes with folds added
        data["lr_steps"] = list(self.lr_steps if self.lr_steps is not None else default_lr_steps(self.epochs))
        data["split"] = str(self.split)
        data["dropout"] = {**TSN_DROPOUT, **self.dropout}
        data["init_checkpoints"] = {key: str(value) for key, value in self.init_checkpoints.items()}
        if self.partial_bn is None:
            data["partial_bn"] = self.pretrained or bool(self.init_checkpoints)
        return data


@dataclass
class StreamResult:
    """The outcome of one stream's training: its best checkpoint and how good it is on validation."""

    stream: str
    checkpoint: Path
    class_names: list[str]
    best_epoch: int
    val_accuracy: float
    val_loss: float
    val_mean_class_accuracy: float
    confusion: list[list[int]]
    epochs_run: int
    stopped_early: bool
    selected_by: str  # "accuracy", or "loss" when validation was too small to tell epochs apart by accuracy
    seconds: float
    train_videos: int
    val_videos: int

    def per_class_accuracy(self) -> dict[str, float]:
        """Validation accuracy of each class that has validation videos, by class name."""
        result = {}
        for index, row in enumerate(self.confusion):
            if sum(row):
                result[self.class_names[index]] = row[index] / sum(row)
        return result

    def near_chance(self) -> bool:
        """Whether validation accuracy lies within two binomial standard errors of chance (one over the classes):
        the stream did not learn, or its validation videos cannot show that it did."""
        chance = 1 / len(self.class_names)
        return self.val_accuracy < chance + 2 * math.sqrt(chance * (1 - chance) / max(self.val_videos, 1))

    def mistakes(self) -> list[tuple[str, str, int]]:
        """(true class, predicted class, videos) of every confusion on validation, most frequent first."""
        pairs = [(self.class_names[i], self.class_names[j], count)
                 for i, row in enumerate(self.confusion) for j, count in enumerate(row) if i != j and count]
        return sorted(pairs, key=lambda pair: -pair[2])


@dataclass
class _Run:
    """Everything one stream's loop works on."""

    stream: str
    config: StreamTrainingConfig
    model: Backbone
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.MultiStepLR
    train_loader: DataLoader
    val_loader: DataLoader
    device: torch.device
    paths: dict[str, Path]
    class_names: list[str]
    checkpoint_config: dict[str, Any]
    state: dict[str, Any]


def stream_paths(out: str | os.PathLike, stream: str) -> dict[str, Path]:
    """Where a stream's run writes: best checkpoint, resumable state, metrics log."""
    folder = Path(out)
    return {"checkpoint": folder / f"{stream}.pt", "state": folder / f"{stream}.state.pt",
            "log": folder / f"{stream}.metrics.jsonl"}


@dataclass
class TrainedStreams:
    """What train-streams trained: the full pair's results by stream, and each fold's by fold number."""

    full: dict[str, StreamResult]
    folds: dict[int, dict[str, StreamResult]] = field(default_factory=dict)


def train_streams(manifest: Manifest, frames: str | os.PathLike, out: str | os.PathLike,
                  *, config: StreamTrainingConfig = StreamTrainingConfig(), streams: Sequence[str] = STREAMS,
                  resume: bool = False, progress: EpochProgress | None = None) -> TrainedStreams:
    """Train each named stream in turn (see `train_stream`) into `out`, then with `config.folds` K each
    fold's streams into `out/fold<k>/` on the training videos outside fold k; write `out/folds.json`.

    With `resume`, every run (full or fold) that finished is skipped and an interrupted one goes on.
    Fold runs get `progress` records with a "fold" field.
    """
    unknown = [stream for stream in streams if stream not in STREAMS]
    if unknown or not streams:
        raise TwostreamError(f"streams must be some of {', '.join(STREAMS)}, got {', '.join(streams) or 'none'}")
    folds = _folds(manifest, out, config) if config.folds else None  # refused now, not after the full pair trained
    trained = TrainedStreams({stream: train_stream(manifest, frames, out, stream, config=config, resume=resume,
                                                   progress=progress)
                              for stream in streams})
    if folds is None:
        return trained
    write_folds(out, folds)
    for fold in range(1, folds.k + 1):
        folder = fold_dir(out, fold)
        fold_manifest = folds.training_manifest(manifest, fold)
        fold_manifest.save(folder / "manifest.json")  # the record of what this fold's pair trained on
        told = (lambda record, fold=fold: progress({**record, "fold": fold})) if progress else None
        trained.folds[fold] = {stream: train_stream(fold_manifest, frames, folder, stream, config=config,
                                                    resume=resume, progress=told)
                               for stream in streams}
    return trained


def _folds(manifest: Manifest, out: str | os.PathLike, config: StreamTrainingConfig) -> Folds:
    """The folds of the split's training videos; refused when `out` already records other folds, or when a
    fold's training videos cannot be carved into training and validation."""
    folds = assign_folds(manifest, config.split, config.folds, config.seed)
    if (Path(out) / FOLDS_FILE).exists():
        recorded = read_folds(out)
        if recorded != folds:
            raise TwostreamError(f"{out} holds fold runs of other folds (split {recorded.split}, {recorded.k} folds, "
                                 f"seed {recorded.seed}, or another manifest); pass the same --split, --folds and "
                                 "--seed, or choose another --out")
    for fold in range(1, folds.k + 1):
        try:
            carve(folds.training_manifest(manifest, fold), config.split, config.val_fraction, config.seed)
        except ValidationSplitError as error:
            raise ValidationSplitError(f"fold {fold} of {folds.k}: {error}; or pass fewer --folds") from None
    return folds


def train_stream(manifest: Manifest, frames: str | os.PathLike, out: str | os.PathLike, stream: str,
                 *, config: StreamTrainingConfig = StreamTrainingConfig(), resume: bool = False,
                 progress: EpochProgress | None = None) -> StreamResult:
    """Fine-tune one stream ("rgb" or "flow") TSN-style and keep its best epoch as `<out>/<stream>.pt`.

    With `resume`, a run whose state `<out>/<stream>.state.pt` exists goes on after its last
    completed epoch (one that has finished returns its result); without it, existing outputs are
    refused. `progress` is called with each epoch's record.
    """
    if stream not in STREAMS:
        raise TwostreamError(f"unknown stream {stream!r}: use one of {', '.join(STREAMS)}")
    paths = stream_paths(out, stream)
    if not resume and any(path.exists() for path in paths.values()):
        raise TwostreamError(f"{paths['checkpoint'].parent} already holds a {stream} run; pass --resume to continue "
                             "it, or choose another --out")
    paths["checkpoint"].parent.mkdir(parents=True, exist_ok=True)
    run = _prepare(manifest, frames, stream, config, paths, resume and paths["state"].exists())
    started, first_epoch = time.monotonic(), run.state["epoch"]
    while not run.state["finished"] and run.state["epoch"] < config.epochs:
        _run_epoch(run, progress, started, first_epoch)
    result = _result(run)
    if result.near_chance():
        log.warning("%s: the %s stream did not learn: validation accuracy %.1f%%, chance %.1f%% (%d classes, %d "
                    "validation videos); no fusion can use a stream at chance: try another --lr or --seed, more "
                    "--epochs, and check its input", result.checkpoint, stream, 100 * result.val_accuracy,
                    100 / len(result.class_names), len(result.class_names), result.val_videos)
    return result


def _prepare(manifest: Manifest, frames: str | os.PathLike, stream: str, config: StreamTrainingConfig,
             paths: dict[str, Path], resuming: bool) -> _Run:
    train_videos, val_videos = carve_validation(manifest, config.split, config.val_fraction, config.seed)
    selection = _selection(stream, val_videos, manifest, config)
    store = FrameStore.open(frames)
    _require_videos(store, train_videos + val_videos, frames)
    device = resolve_device(config.device)
    torch.manual_seed(config.seed * len(STREAMS) + STREAMS.index(stream))
    dropout = {**TSN_DROPOUT, **config.dropout}[stream]
    model = initial_network(config.backbone, stream, len(manifest.classes), dropout=dropout,
                            pretrained=config.pretrained,
                            init_checkpoint=config.init_checkpoints.get(stream)).to(device)
    if device.type == "cuda":
        model = model.to(memory_format=torch.channels_last)
    quicken_statistics(model)
    record = config.record()
    if record["partial_bn"]:
        freeze_partial_bn(model)  # before the optimiser is built, so frozen parameters stay out of it
    optimizer = make_optimizer(model, config.lr, config.momentum, config.weight_decay, config.classifier_lr_mult)
    scheduler = make_scheduler(optimizer, record["lr_steps"], config.lr_decay)
    state = {"version": STATE_VERSION, "config": record, "selection": selection, "epoch": 0, "finished": False,
             "stale": 0, "best": None, "history": []}
    if resuming:
        state = _restore(paths["state"], record, selection, model, optimizer, scheduler)
        write_log(paths["log"], state["history"])  # drop records of an epoch whose state was never saved
    checkpoint_config = {"training": record, "modality": stream, "input_size": config.input_size,
                         "segments": config.segments, "split": str(config.split),
                         "train_videos": len(train_videos), "val_videos": len(val_videos),
                         "frames_config": store.config}
    return _Run(stream, config, model, optimizer, scheduler,
                _loader(frames, train_videos, stream, config, train=True, device=device),
                _loader(frames, val_videos, stream, config, train=False, device=device),
                device, paths, list(manifest.classes), checkpoint_config, state)


def _selection(stream: str, val_videos: list[VideoEntry], manifest: Manifest, config: StreamTrainingConfig) -> str:
    """How this run chooses its best epoch; a warning when validation is too small to stop early on."""
    power = validation_power(val_videos, manifest.classes)
    selection = selection_for(power)
    if selection == BY_LOSS:
        log.warning("%s: the validation set is small (%s), too small to tell epochs apart by accuracy: training "
                    "all %d epochs without early stopping and keeping the epoch of lowest validation loss; a larger "
                    "--val-fraction or more videos per class would help", stream, "; ".join(power.problems()),
                    config.epochs)
    return selection


def _require_videos(store: FrameStore, videos: list[VideoEntry], frames: str | os.PathLike) -> None:
    present = set(store.video_ids())
    missing = [video.video_id for video in videos if video.video_id not in present]
    if missing:
        raise TwostreamError(f"{len(missing)} of the split's training videos are not in {frames} "
                             f"(first: {missing[0]}); run `twostream extract-frames` on the manifest first")


def _loader(frames: str | os.PathLike, videos: list[VideoEntry], stream: str, config: StreamTrainingConfig,
            train: bool, device: torch.device) -> DataLoader:
    sampling = ClipSampling(stream, config.segments, config.input_size, train=train, seed=config.seed)
    dataset = StreamClips(frames, [(video.video_id, video.label) for video in videos], sampling)
    return DataLoader(dataset, batch_size=config.batch_size,
                      sampler=EpochShuffle(len(dataset), config.seed) if train else None,
                      num_workers=config.workers, worker_init_fn=init_worker if config.workers else None,
                      pin_memory=device.type == "cuda")


def _restore(path: Path, record: dict[str, Any], selection: str, model: Backbone, optimizer: torch.optim.Optimizer,
             scheduler: torch.optim.lr_scheduler.MultiStepLR) -> dict[str, Any]:
    state = load_state(path)
    if state.get("version") != STATE_VERSION:
        raise TwostreamError(f"{path}: training state version {state.get('version')!r} is not {STATE_VERSION}; "
                             "delete it to start over")
    saved = state["config"]
    differing = sorted(key for key in set(saved) | set(record)
                       if key not in RESUMABLE_CHANGES and saved.get(key) != record.get(key))
    if differing:
        raise TwostreamError(f"{path} was saved with other settings ({', '.join(differing)}); resume with the "
                             "same settings, or choose another --out")
    if state["selection"] != selection:
        raise TwostreamError(f"{path} chose its best epoch by validation {state['selection']}, this validation set "
                             f"calls for {selection} (another manifest?); resume with the same manifest, or choose "
                             "another --out")
    model.load_state_dict(state.pop("model"))
    optimizer.load_state_dict(state.pop("optimizer"))
    scheduler.load_state_dict(state.pop("scheduler"))
    restore_rng_states(state.pop("rng"))
    state["config"] = record
    if (state["finished"] and state["epoch"] < record["epochs"]
            and not stops_early(state["stale"], record["patience"], selection)):
        state["finished"] = False  # a run that used all its epochs goes on when given more
    return state


def _run_epoch(run: _Run, progress: EpochProgress | None, started: float, first_epoch: int) -> None:
    config, state = run.config, run.state
    epoch = state["epoch"] + 1
    run.train_loader.dataset.set_epoch(epoch)
    run.train_loader.sampler.set_epoch(epoch)
    lr = run.optimizer.param_groups[-1]["lr"]
    began = time.monotonic()
    trained = _train_epoch(run)
    train_seconds = time.monotonic() - began
    run.scheduler.step()
    evaluation = evaluate_stream(run.model, run.val_loader, run.stream, run.device, config.amp)
    best = state["best"]
    improved = beats(best, evaluation.top1, evaluation.loss, state["selection"])
    if improved:
        state["best"] = _best_record(epoch, evaluation)
        _save_best(run, state["best"])
    lowest_loss = min((earlier["val_loss"] for earlier in state["history"]), default=None)
    state["stale"] = 0 if progressed(improved, evaluation.loss, lowest_loss) else state["stale"] + 1
    state["epoch"] = epoch
    state["finished"] = epoch >= config.epochs or stops_early(state["stale"], config.patience, state["selection"])
    per_epoch = (time.monotonic() - started) / (epoch - first_epoch)
    record = {"stream": run.stream, "epoch": epoch, "epochs": config.epochs, "lr": lr,
              "train_loss": trained["loss"], "train_accuracy": trained["accuracy"],
              "val_loss": evaluation.loss, "val_accuracy": evaluation.top1,
              "val_mean_class_accuracy": evaluation.mean_class_accuracy,
              "best_epoch": state["best"]["epoch"], "best_val_accuracy": state["best"]["accuracy"],
              "best_val_loss": state["best"]["loss"], "selected_by": state["selection"],
              "improved": improved, "images_per_s": trained["images"] / max(train_seconds, 1e-9),
              "seconds": time.monotonic() - began,
              "seconds_left": 0.0 if state["finished"] else per_epoch * (config.epochs - epoch)}
    state["history"].append(record)
    save_state(run.paths["state"], {**state, "model": run.model.state_dict(), "optimizer": run.optimizer.state_dict(),
                                    "scheduler": run.scheduler.state_dict(), "rng": rng_states()})
    append_jsonl(run.paths["log"], record)
    if progress:
        progress(record)


def _train_epoch(run: _Run) -> dict[str, float]:
    """One pass over the training clips; returns mean loss, accuracy and the number of images seen."""
    model, config = run.model, run.config
    model.train()
    if run.state["config"]["partial_bn"]:
        freeze_partial_bn(model)
    loss_sum, correct, videos, images = 0.0, 0, 0, 0
    for clips, labels in run.train_loader:
        clips, labels = clips.to(run.device, non_blocking=True), labels.to(run.device, non_blocking=True)
        with autocast(run.device, config.amp):
            scores = segment_consensus(model, clips, run.stream)
        loss = F.cross_entropy(scores.float(), labels)
        if not torch.isfinite(loss):
            raise TwostreamError(f"the {run.stream} training loss became {loss.item()}; lower --lr")
        run.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if config.clip_grad_norm is not None:
            torch.nn.utils.clip_grad_norm_([p for p in model.parameters() if p.requires_grad], config.clip_grad_norm)
        run.optimizer.step()
        count = int(labels.shape[0])
        loss_sum += float(loss.detach()) * count
        correct += int((scores.argmax(dim=1) == labels).sum())
        videos += count
        images += count * int(clips.shape[1])
    return {"loss": loss_sum / videos, "accuracy": correct / videos, "images": images}


def _best_record(epoch: int, evaluation: VideoScores) -> dict[str, Any]:
    return {"epoch": epoch, "accuracy": evaluation.top1, "loss": evaluation.loss,
            "mean_class_accuracy": evaluation.mean_class_accuracy,
            "confusion": evaluation.confusion.tolist()}


def _save_best(run: _Run, best: dict[str, Any]) -> None:
    """Write the best network so far (atomically: a kill leaves the previous best)."""
    config = {**run.checkpoint_config, "best_epoch": best["epoch"], "val_accuracy": best["accuracy"],
              "val_loss": best["loss"], "val_mean_class_accuracy": best["mean_class_accuracy"],
              "selected_by": run.state["selection"]}
    save_checkpoint(run.paths["checkpoint"], run.model, class_names=run.class_names, config=config)


def _result(run: _Run) -> StreamResult:
    state, best = run.state, run.state["best"]
    if best is None:
        raise TwostreamError(f"{run.paths['state']}: no epoch has finished; rerun without --resume")
    history = state["history"]
    return StreamResult(
        stream=run.stream, checkpoint=run.paths["checkpoint"], class_names=run.class_names,
        best_epoch=best["epoch"], val_accuracy=best["accuracy"], val_loss=best["loss"],
        val_mean_class_accuracy=best["mean_class_accuracy"], confusion=best["confusion"], epochs_run=state["epoch"],
        stopped_early=state["epoch"] < run.config.epochs, selected_by=state["selection"],
        seconds=math.fsum(record["seconds"] for record in history),
        train_videos=len(run.train_loader.dataset), val_videos=len(run.val_loader.dataset),
    )

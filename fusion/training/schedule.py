"""When to lower the learning rate, change phase and stop, decided from one validation score per epoch.

Algorithm 1 of gated TSN is two phases of this schedule: the gate alone (lambda = 0) until
validation accuracy stops improving, then with the classification loss added (lambda = 1 in the
paper; 0.1 in the authors' released configuration) until it stops again. Within a phase the
learning rate steps through `lrs` (1e-3, then 1e-4) each time `patience` epochs pass without
improvement; a plateau at the last rate ends the phase (early stopping after the last phase).
Improvement is always over the best score so far, across phases, since each phase starts from
the best weights kept so far.

Without early stopping (`early_stopping=False`, for validation sets too small to tell epochs apart)
every phase runs `max_epochs_per_phase` epochs and the rates step at equal fractions of them; the
best score is still tracked, so the loop keeps the best-scoring weights.

A score is a number or a tuple of numbers, higher is better, compared lexicographically: its first
entry must rise by more than `min_delta`, or stay equal while a later entry rises (so validation
accuracy with the negated loss after it breaks accuracy's ties; see `selection_key`).
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum

from twostream.data.selection import Score, improves
from twostream.fusion.errors import FusionError


@dataclass(frozen=True)
class Phase:
    """A training phase: its name and the weight lambda of the head's own classification loss."""

    name: str
    lam: float = 0.0


def algorithm1_phases(lam: float = 1.0) -> tuple[Phase, ...]:
    """Return Algorithm 1's phases: the gate alone (lambda 0), then joint training with `lam`.

    With `lam` 0 there is no multi-task phase: the gate is trained alone (the papers' ablation
    "without the classification loss").
    """
    if lam < 0:
        raise FusionError(f"lambda must be 0 (no multi-task phase) or positive, got {lam}")
    return (Phase("gate", 0.0),) if lam == 0 else (Phase("gate", 0.0), Phase("joint", lam))


SINGLE_PHASE: tuple[Phase] = (Phase("train", 0.0),)


class Event(str, Enum):
    """What one epoch's validation score led to."""

    IMPROVED = "improved"
    WAITING = "waiting"
    LR_DROP = "lr_drop"
    NEXT_PHASE = "next_phase"
    STOP = "stop"


class _RateSchedule:
    """What every schedule holds: its learning rates, the current one, the best score, whether it stopped."""

    def __init__(self, lrs: Sequence[float]) -> None:
        """Start at the first of `lrs`, refusing rates that are not positive."""
        if not lrs or any(lr <= 0 for lr in lrs):
            raise FusionError(f"learning rates must be positive, got {list(lrs)}")
        self.lrs = tuple(lrs)
        self.lr_index = 0
        self.best: Score = -math.inf
        self.done = False

    @property
    def lr(self) -> float:
        """The current learning rate."""
        return self.lrs[self.lr_index]

    def _check_running(self) -> None:
        if self.done:
            raise FusionError("the schedule has already stopped")


class PhaseSchedule(_RateSchedule):
    """Tracks the best validation score and decides the next learning rate, phase, or stop."""

    def __init__(self, phases: Sequence[Phase] = SINGLE_PHASE, lrs: Sequence[float] = (1e-3, 1e-4),
                 patience: int = 3, min_delta: float = 0.0, max_epochs_per_phase: int = 100,
                 early_stopping: bool = True) -> None:
        """Schedule `phases` over learning rates `lrs`, `patience` epochs without an improvement > min_delta
        (with `early_stopping` off: `max_epochs_per_phase` epochs a phase, the rates at equal fractions of them)."""
        super().__init__(lrs)
        if not phases:
            raise FusionError("a schedule needs at least one phase")
        if patience < 1 or max_epochs_per_phase < 1:
            raise FusionError(f"patience and max_epochs_per_phase must be at least 1, got {patience}, "
                              f"{max_epochs_per_phase}")
        self.phases = tuple(phases)
        self.patience = patience
        self.min_delta = min_delta
        self.max_epochs_per_phase = max_epochs_per_phase
        self.early_stopping = early_stopping
        self.phase_index = 0
        self.wait = 0
        self.epochs_in_phase = 0

    @property
    def phase(self) -> Phase:
        """The current phase."""
        return self.phases[self.phase_index]

    def update(self, score: Score) -> Event:
        """Record one epoch's validation score and return what follows from it."""
        self._check_running()
        self.epochs_in_phase += 1
        if improves(score, self.best, self.min_delta):
            self.best = score
            self.wait = 0
            event = Event.IMPROVED
        else:
            self.wait += 1
            event = Event.WAITING
        out_of_epochs = self.epochs_in_phase >= self.max_epochs_per_phase
        if not self.early_stopping:
            return self._fixed_length(event, out_of_epochs)
        if self.wait >= self.patience and not out_of_epochs and self.lr_index + 1 < len(self.lrs):
            self.lr_index += 1
            self.wait = 0
            return Event.LR_DROP
        if self.wait >= self.patience or out_of_epochs:
            return self._end_phase()
        return event

    def _fixed_length(self, event: Event, out_of_epochs: bool) -> Event:
        """The next event of a phase that runs all its epochs, stepping the rate at equal fractions of them."""
        if out_of_epochs:
            return self._end_phase()
        step = min(len(self.lrs) - 1, self.epochs_in_phase * len(self.lrs) // self.max_epochs_per_phase)
        if step != self.lr_index:
            self.lr_index = step
            return Event.LR_DROP
        return event

    def _end_phase(self) -> Event:
        if self.phase_index + 1 == len(self.phases):
            self.done = True
            return Event.STOP
        self.phase_index += 1
        self.lr_index = 0
        self.wait = 0
        self.epochs_in_phase = 0
        return Event.NEXT_PHASE


class StepSchedule(_RateSchedule):
    """A fixed step schedule (Park et al.'s): `lrs[i]` until epoch `steps[i]`, the last rate until `epochs`.

    It keeps the best validation score so the loop can keep the best weights, but never stops early.
    One phase only: `phase` is the single training phase.
    """

    def __init__(self, lrs: Sequence[float], steps: Sequence[int], epochs: int) -> None:
        """Step through `lrs` at the epochs `steps` (one fewer than the rates) and stop after `epochs`."""
        super().__init__(lrs)
        if len(steps) != len(lrs) - 1:
            raise FusionError(f"a step schedule needs one step fewer than rates; got {len(lrs)} rates and steps "
                              f"{list(steps)}")
        if list(steps) != sorted(steps) or any(step < 1 for step in steps) or (steps and steps[-1] >= epochs):
            raise FusionError(f"steps must rise from 1 and come before the last epoch {epochs}; got {list(steps)}")
        self.phases = SINGLE_PHASE
        self.phase = SINGLE_PHASE[0]
        self.steps = tuple(steps)
        self.epochs = epochs
        self.epoch = 0

    def update(self, score: Score) -> Event:
        """Record one epoch's validation score and return what follows: a step, the end, or nothing new."""
        self._check_running()
        self.epoch += 1
        improved = improves(score, self.best)
        if improved:
            self.best = score
        if self.epoch >= self.epochs:
            self.done = True
            return Event.STOP
        if self.lr_index < len(self.steps) and self.epoch >= self.steps[self.lr_index]:
            self.lr_index += 1
            return Event.LR_DROP
        return Event.IMPROVED if improved else Event.WAITING


# Park et al.'s fusion networks: 1e-3, 1e-4 after 20K iterations, 1e-5 after another 20K, at batch 128.
PARK_LRS: tuple[float, ...] = (1e-3, 1e-4, 1e-5)
PARK_STEP_ITERATIONS: tuple[int, ...] = (20_000, 40_000)
PARK_ITERATIONS = 60_000  # the paper gives no end; a third 20K at the last rate
PARK_BATCH = 128
UCF101_SPLIT1_TRAIN_VIDEOS = 9537  # what Park et al.'s iteration counts were set for


def iterations_to_epochs(iterations: int, batch_size: int, train_videos: int, scale: float | None = None) -> int:
    """Epochs (one sample per training video each) that `iterations` steps of `batch_size` samples take, scaled.

    `scale` multiplies the iterations; None scales them to the dataset: train_videos / 9537 (UCF101
    split 1's training videos, which Park et al.'s counts were set for), so a run passes over its
    videos as many times as theirs did, whatever the dataset's size.
    """
    if iterations < 0 or batch_size < 1 or train_videos < 1:
        raise FusionError(f"need non-negative iterations and a positive batch and video count; got {iterations}, "
                          f"{batch_size}, {train_videos}")
    factor = train_videos / UCF101_SPLIT1_TRAIN_VIDEOS if scale is None else scale
    if factor <= 0:
        raise FusionError(f"the iteration scale must be positive, got {factor}")
    return max(1, round(iterations * factor * batch_size / train_videos))

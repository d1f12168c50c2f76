"""When to lower the learning rate, change phase and stop, decided from one validation accuracy per epoch.

Algorithm 1 of gated TSN is two phases of this schedule: the gate alone (lambda = 0) until
validation accuracy stops improving, then with the classification loss added (lambda = 1 in the
paper; 0.1 in the authors' released configuration) until it stops again. Within a phase the
learning rate steps through `lrs` (1e-3, then 1e-4) each time `patience` epochs pass without
improvement; a plateau at the last rate ends the phase (early stopping after the last phase).
Improvement is always over the best accuracy so far, across phases, since each phase starts from
the best weights kept so far.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum

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
    """What one epoch's validation accuracy led to."""

    IMPROVED = "improved"
    WAITING = "waiting"
    LR_DROP = "lr_drop"
    NEXT_PHASE = "next_phase"
    STOP = "stop"


class PhaseSchedule:
    """Tracks the best validation accuracy and decides the next learning rate, phase, or stop."""

    def __init__(self, phases: Sequence[Phase] = SINGLE_PHASE, lrs: Sequence[float] = (1e-3, 1e-4),
                 patience: int = 3, min_delta: float = 0.0, max_epochs_per_phase: int = 100) -> None:
        """Schedule `phases` over learning rates `lrs`, `patience` epochs without an improvement > min_delta."""
        if not phases:
            raise FusionError("a schedule needs at least one phase")
        if not lrs or any(lr <= 0 for lr in lrs):
            raise FusionError(f"learning rates must be positive, got {list(lrs)}")
        if patience < 1 or max_epochs_per_phase < 1:
            raise FusionError(f"patience and max_epochs_per_phase must be at least 1, got {patience}, "
                              f"{max_epochs_per_phase}")
        self.phases = tuple(phases)
        self.lrs = tuple(lrs)
        self.patience = patience
        self.min_delta = min_delta
        self.max_epochs_per_phase = max_epochs_per_phase
        self.phase_index = 0
        self.lr_index = 0
        self.best = -math.inf
        self.wait = 0
        self.epochs_in_phase = 0
        self.done = False

    @property
    def phase(self) -> Phase:
        """The current phase."""
        return self.phases[self.phase_index]

    @property
    def lr(self) -> float:
        """The current learning rate."""
        return self.lrs[self.lr_index]

    def update(self, accuracy: float) -> Event:
        """Record one epoch's validation accuracy and return what follows from it."""
        if self.done:
            raise FusionError("the schedule has already stopped")
        self.epochs_in_phase += 1
        if accuracy > self.best + self.min_delta:
            self.best = accuracy
            self.wait = 0
            event = Event.IMPROVED
        else:
            self.wait += 1
            event = Event.WAITING
        out_of_epochs = self.epochs_in_phase >= self.max_epochs_per_phase
        if self.wait >= self.patience and not out_of_epochs and self.lr_index + 1 < len(self.lrs):
            self.lr_index += 1
            self.wait = 0
            return Event.LR_DROP
        if self.wait >= self.patience or out_of_epochs:
            return self._end_phase()
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

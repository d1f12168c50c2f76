"""Which epoch a training run keeps: one validation score per epoch, compared the same way by every trainer.

An epoch is scored by its validation accuracy and loss. "accuracy" ranks by accuracy, the lower
loss breaking ties (accuracy on a few dozen videos ties across epochs, and a tie must not keep the
earlier epoch by default); "loss" ranks by the loss alone, accuracy breaking its (rare) ties; "last"
keeps the last epoch of a schedule that runs all its epochs (for validation sets that cannot rank
epochs: one that is saturated, or too small). A score is a tuple, higher is better, compared
lexicographically.
"""
from __future__ import annotations

from twostream.data.errors import TwostreamError

BY_ACCURACY = "accuracy"
BY_LOSS = "loss"
BY_LAST = "last"
SELECTIONS: tuple[str, ...] = (BY_ACCURACY, BY_LOSS, BY_LAST)
Score = float | tuple[float, ...]


def selection_key(accuracy: float, loss: float, selection: str = BY_ACCURACY, epoch: int = 0) -> tuple[float, float]:
    """The score an epoch is chosen by, higher is better: (accuracy, -loss), (-loss, accuracy) or, for "last",
    (epoch, accuracy), which every later epoch beats."""
    if selection not in SELECTIONS:
        raise TwostreamError(f"selection {selection!r}: use one of {', '.join(SELECTIONS)}")
    if selection == BY_LAST:
        return float(epoch), accuracy
    return (accuracy, -loss) if selection == BY_ACCURACY else (-loss, accuracy)


def _as_key(score: Score) -> tuple[float, ...]:
    return tuple(float(value) for value in score) if isinstance(score, tuple) else (float(score),)


def improves(score: Score, best: Score, min_delta: float = 0.0) -> bool:
    """Whether `score` beats `best`: its first entry by more than `min_delta`, or equal there and higher after."""
    key, best_key = _as_key(score), _as_key(best)
    if key[0] != best_key[0]:
        return key[0] > best_key[0] + min_delta
    return key[1:] > best_key[1:]

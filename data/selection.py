"""Which epoch a training run keeps: one validation score per epoch, compared the same way by every trainer.

An epoch is scored by its validation accuracy and loss. "accuracy" ranks by accuracy, the lower
loss breaking ties (accuracy on a few dozen videos ties across epochs, and a tie must not keep the
earlier epoch by default); "loss" ranks by the loss alone, accuracy breaking its (rare) ties. A
score is a tuple, higher is better, compared lexicographically.
"""
from __future__ import annotations

from twostream.data.errors import TwostreamError

BY_ACCURACY = "accuracy"
BY_LOSS = "loss"
SELECTIONS: tuple[str, ...] = (BY_ACCURACY, BY_LOSS)
Score = float | tuple[float, ...]


def selection_key(accuracy: float, loss: float, selection: str = BY_ACCURACY) -> tuple[float, float]:
    """The score an epoch is chosen by, higher is better: (accuracy, -loss) or (-loss, accuracy)."""
    if selection not in SELECTIONS:
        raise TwostreamError(f"selection {selection!r}: use one of {', '.join(SELECTIONS)}")
    return (accuracy, -loss) if selection == BY_ACCURACY else (-loss, accuracy)


def _as_key(score: Score) -> tuple[float, ...]:
    return tuple(float(value) for value in score) if isinstance(score, tuple) else (float(score),)


def improves(score: Score, best: Score, min_delta: float = 0.0) -> bool:
    """Whether `score` beats `best`: its first entry by more than `min_delta`, or equal there and higher after."""
    key, best_key = _as_key(score), _as_key(best)
    if key[0] != best_key[0]:
        return key[0] > best_key[0] + min_delta
    return key[1:] > best_key[1:]

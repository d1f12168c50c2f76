"""Which epoch a stream run keeps, and whether it may stop before the end of its schedule.

A validation set big enough to tell epochs apart (`twostream.data.validation.validation_power`)
keeps the epoch of best validation accuracy, lower validation loss breaking ties, and stops after
`patience` epochs that neither beat it nor lower the validation loss: accuracy on a few dozen videos
moves in coarse, noisy steps and stalls for several epochs while a stream still learns, which its
falling validation loss shows. A smaller one cannot rank epochs by accuracy (a handful of
videos ties many epochs and turns noise into a winner), so the run trains its whole schedule and
keeps the epoch of lowest validation loss (mean cross-entropy, which varies smoothly and rarely ties).
"""
from __future__ import annotations

from typing import Any

from twostream.data.selection import BY_ACCURACY, BY_LOSS, improves, selection_key
from twostream.data.validation import ValidationPower

__all__ = ["BY_ACCURACY", "BY_LOSS", "beats", "progressed", "selection_for", "stops_early"]


def selection_for(power: ValidationPower) -> str:
    """How a run with this validation set chooses its best epoch: `BY_ACCURACY` or, when too small, `BY_LOSS`."""
    return BY_ACCURACY if power.sufficient else BY_LOSS


def beats(best: dict[str, Any] | None, accuracy: float, loss: float, selection: str) -> bool:
    """Whether an epoch with this validation accuracy and loss beats `best` (a dict with both; None: none yet)."""
    if best is None:
        return True
    return improves(selection_key(accuracy, loss, selection), selection_key(best["accuracy"], best["loss"], selection))


def progressed(improved: bool, loss: float, lowest_loss: float | None) -> bool:
    """Whether an epoch restarts the patience count: it beat the kept epoch (`improved`), or its validation loss
    is below every earlier epoch's (`lowest_loss`; None: the first epoch)."""
    return improved or lowest_loss is None or loss < lowest_loss


def stops_early(stale: int, patience: int, selection: str) -> bool:
    """Whether a run stops now, after `stale` epochs without progress (see `progressed`): only with `BY_ACCURACY`,
    after `patience`."""
    return selection == BY_ACCURACY and stale >= patience

"""Whether a trained fusion head learned: named findings from its fit, logged and recorded in its run.

Two ways a head fails silently: validation never improves after the first epoch, so the first
epoch's weights are kept (`kept_first_epoch`), and a gate that weighs every video alike, so gated
fusion is a fixed weighting in disguise (`constant_gate`: the spatial share w1 / (w1 + w2) of the
gate's weights varies less than `CONSTANT_GATE_STD` over the scored videos). Each finding carries
a one-line message saying what happened and what to try. A run records its findings in
config.json under `LEARNING` (an empty list: checked, nothing found).
"""
from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from twostream.data.metrics import spatial_share

if TYPE_CHECKING:  # runs.py reads findings through this module, and loop.py imports runs.py
    from twostream.fusion.training.loop import FitResult
    from twostream.fusion.training.runs import RunDir

log = logging.getLogger(__name__)

LEARNING = "learning"  # the config.json field holding a run's findings
KEPT_FIRST_EPOCH = "kept_first_epoch"
CONSTANT_GATE = "constant_gate"
CONSTANT_GATE_STD = 0.05  # below this standard deviation of the spatial share over videos, the gate is constant
# a mean share this close to 0 or 1: the gate gives one stream nearly all the weight (a stream at chance earns that)
ONE_STREAM_SHARE = 0.05
GATE_SETS = ("test", "val")  # the scored set whose gate weights are checked, first one present
TRY = ("try a higher learning rate (--lrs), other training scores (--train-scores), or more epochs "
       "(--patience, --max-epochs-per-phase; --iterations on a step schedule)")


@dataclass(frozen=True)
class Finding:
    """One way a trained head did not learn: a name from this module's constants and a one-line message."""

    name: str
    message: str

    def to_dict(self) -> dict[str, str]:
        """Return the finding as plain data (config.json, results.json)."""
        return {"name": self.name, "message": self.message}

    @classmethod
    def from_dict(cls, data: Mapping[str, str]) -> "Finding":
        """Rebuild a finding from `to_dict`'s plain data."""
        return cls(str(data["name"]), str(data["message"]))


def kept_first_epoch(best_epoch: int, epochs: int) -> Finding | None:
    """The finding that validation never improved after the first of `epochs` epochs (None: it did, or one ran)."""
    if epochs < 2 or best_epoch > 0:
        return None
    return Finding(KEPT_FIRST_EPOCH, f"the head kept its first epoch's weights: validation never improved after "
                                     f"epoch 0 in {epochs} epochs; {TRY}")


def constant_gate(gate_weights: np.ndarray | None, set_name: str = "test") -> Finding | None:
    """The finding that a gate's (N, 2) per-video weights give every video nearly the same spatial share
    (None: they vary, fewer than two videos, or no gate)."""
    if gate_weights is None or len(gate_weights) < 2:
        return None
    share = spatial_share(gate_weights)
    if share.std() >= CONSTANT_GATE_STD:
        return None
    mean = float(share.mean())
    alone = "spatial" if mean > 1 - ONE_STREAM_SHARE else "temporal" if mean < ONE_STREAM_SHARE else None
    advice = TRY if alone is None else (
        f"it trusts the {alone} stream alone: right when the other stream is near chance on these videos (its "
        f"accuracy in evaluate's table says), else {TRY}")
    return Finding(CONSTANT_GATE, f"the gate weighs every video alike: its spatial share w1/(w1+w2) over the "
                                  f"{len(share)} {set_name} videos is {mean:.2f} +- {share.std():.3f} "
                                  f"(below {CONSTANT_GATE_STD:g}), a fixed weighting; {advice}")


def learning_findings(fit: FitResult) -> list[Finding]:
    """Every way the head of `fit` did not learn (empty: it learned), its gate checked on the test videos
    (else the validation videos)."""
    set_name = next((name for name in GATE_SETS if name in fit.predictions), None)
    weights = fit.predictions[set_name].gate_weights if set_name else None
    found = (kept_first_epoch(fit.best_epoch, len(fit.history)), constant_gate(weights, set_name or ""))
    return [finding for finding in found if finding is not None]


def flag_learning(run: RunDir, fit: FitResult) -> list[Finding]:
    """Check whether the head of `fit` learned: log each finding as a warning naming the run, record them in
    the run's config.json (under `LEARNING`), and return them."""
    findings = learning_findings(fit)
    for finding in findings:
        log.warning("%s: %s", run.path, finding.message)
    run.update_config(**{LEARNING: [finding.to_dict() for finding in findings]})
    return findings


def read_findings(config: Mapping) -> list[Finding]:
    """The findings a run's configuration records (none for a run trained before they were recorded)."""
    recorded: Iterable[Mapping] = config.get(LEARNING) or ()
    return [Finding.from_dict(entry) for entry in recorded]

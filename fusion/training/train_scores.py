"""Training-time stream scores that are not the streams' own fitted training-set scores.

The cached logits of a training video come from streams fitted on that very video, run without
dropout: they are right and confident, so a fusion loss on them gives a gate almost no gradient.
The papers' end-to-end runs kept the frozen streams' dropout active while the gate trained (0.8
RGB, 0.7 flow in TSN): `DroppedOutScores` recomputes each stream's logits from its cached pooled
vector (the classifier's input) through the checkpoint's frozen classifier, with a fresh dropout
mask per step and per view. Validation and test keep the cached clean logits.

Out-of-fold scores (stacking) need no module here: the training and validation sources serve the
store's oof/ arrays, the taps of stream models that never trained on the video (`OutOfFoldScores`
only records that choice); the test source serves the full models' arrays.
"""
from __future__ import annotations

from collections.abc import Mapping

import torch
import torch.nn.functional as F
from torch import nn

from twostream.data.sampling import STREAMS
from twostream.fusion.errors import FusionError
from twostream.pipeline.backbones import Backbone
from twostream.pipeline.backbones.registry import TSN_DROPOUT

TRAIN_SCORES: tuple[str, ...] = ("clean", "dropout", "out-of-fold")


class DroppedOutScores(nn.Module):
    """Each stream's frozen classifier applied to its dropped-out pooled vector: fc(dropout_p(pool))."""

    def __init__(self, classifiers: Mapping[str, Backbone], dropout: Mapping[str, float] = TSN_DROPOUT) -> None:
        """Use `classifiers` (stream -> the checkpoint's layers after its pooled tap) with dropout rates `dropout`."""
        super().__init__()
        missing = [stream for stream in STREAMS if stream not in classifiers or stream not in dropout]
        if missing:
            raise FusionError(f"dropout scores need a classifier and a dropout rate for {', '.join(missing)}")
        for stream, rate in dropout.items():
            if not 0.0 <= rate < 1.0:
                raise FusionError(f"the {stream} stream's dropout must be in [0, 1), got {rate}")
        self.classifiers = nn.ModuleDict({stream: classifiers[stream] for stream in STREAMS})
        self.rates = {stream: float(dropout[stream]) for stream in STREAMS}
        self.taps = {stream: classifiers[stream].input_tap for stream in STREAMS}  # the cached vectors they read
        for parameter in self.classifiers.parameters():
            parameter.requires_grad_(False)
        self.classifiers.eval()  # their own dropout stays off: the mask is drawn here, at the given rate

    def train(self, mode: bool = True) -> "DroppedOutScores":
        """Keep the frozen classifiers in eval mode whatever the caller's mode."""
        super().train(mode)
        self.classifiers.eval()
        return self

    @torch.no_grad()
    def forward(self, stream: str, pooled: torch.Tensor) -> torch.Tensor:
        """Return the stream's logits (N, C) from pooled vectors (N, D), each row under its own dropout mask."""
        dropped = F.dropout(pooled.float(), self.rates[stream], training=True)
        return self.classifiers[stream](dropped).float()

    def describe(self) -> dict:
        """Return the mode and its dropout rates for the run's configuration."""
        return {"mode": "dropout", "dropout": dict(self.rates), "taps": dict(self.taps)}


class OutOfFoldScores:
    """Training fuses the cached scores its source serves, which are the fold models' (oof/ arrays)."""

    def __init__(self, folds: Mapping) -> None:
        """Record the store's folds (split, k, seed)."""
        self.folds = {key: folds[key] for key in ("split", "k", "seed")}

    def describe(self) -> dict:
        """Return the mode and the folds for the run's configuration."""
        return {"mode": "out-of-fold", **self.folds}

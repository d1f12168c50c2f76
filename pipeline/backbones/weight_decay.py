"""Which parameters weight decay applies to: weights, not biases or normalisation parameters.

The TSN and gated TSN releases decay convolution and linear weights only (`decay_mult: 0` on
biases and BatchNorm's scale and shift). Decaying a bias pulls it towards zero for no gain in
generalisation: a gate whose bias starts at 0.5 to keep it off the dead zone would drift back to it.
"""
from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from torch import nn


def decay_groups(parameters: Iterable[nn.Parameter], weight_decay: float, **options: Any) -> list[dict]:
    """Optimiser groups of the trainable `parameters`: weights (two or more dimensions) with
    `weight_decay`, biases and normalisation parameters (vectors) with none.

    `options` (a learning rate, say) go into both groups; empty groups are left out, and parameters
    that need no gradient are skipped.
    """
    decayed, plain = [], []
    for parameter in parameters:
        if parameter.requires_grad:
            (decayed if parameter.dim() > 1 else plain).append(parameter)
    groups = [{"params": decayed, "weight_decay": weight_decay, **options},
              {"params": plain, "weight_decay": 0.0, **options}]
    return [group for group in groups if group["params"]]

"""TSN's optimiser for a stream: SGD with momentum, weight decay on weights only, a step schedule."""
from __future__ import annotations

from collections.abc import Sequence

import torch

from twostream.pipeline.backbones import Backbone
from twostream.pipeline.backbones.weight_decay import decay_groups

# TSN lets the first convolution of a temporal net learn five times faster: its cross-modality
# initialised weights are furthest from what flow input needs.
FLOW_FIRST_CONV_LR_MULT = 5.0


def parameter_groups(model: Backbone, lr: float, weight_decay: float,
                     classifier_lr_mult: float = 1.0) -> list[dict]:
    """Trainable parameters in groups: weights (decayed), biases and norm parameters (not decayed; see
    `decay_groups`).

    The first convolution's weight of a flow network gets its own group with a higher rate, and so
    does the new classifier when `classifier_lr_mult` is above 1 (its weights start from scratch while
    the rest is fine-tuned: on a small dataset a tenfold rate there takes it off the uniform guess in
    a few epochs instead of dozens).
    """
    first_conv = f"{model.FIRST_CONV}.weight"
    first, classifier, rest = [], [], []
    for name, parameter in model.named_parameters():
        if name == first_conv and model.modality == "flow":
            first.append(parameter)
        elif classifier_lr_mult != 1.0 and name.startswith(f"{model.CLASSIFIER}."):
            classifier.append(parameter)
        else:
            rest.append(parameter)
    return [*decay_groups(first, weight_decay, lr=lr * FLOW_FIRST_CONV_LR_MULT),
            *decay_groups(classifier, weight_decay, lr=lr * classifier_lr_mult),
            *decay_groups(rest, weight_decay, lr=lr)]


def make_optimizer(model: Backbone, lr: float, momentum: float, weight_decay: float,
                   classifier_lr_mult: float = 1.0) -> torch.optim.SGD:
    """SGD over the model's trainable parameters, grouped as `parameter_groups` says."""
    return torch.optim.SGD(parameter_groups(model, lr, weight_decay, classifier_lr_mult), lr=lr, momentum=momentum)


def make_scheduler(optimizer: torch.optim.Optimizer, steps: Sequence[int],
                   decay: float) -> torch.optim.lr_scheduler.MultiStepLR:
    """Multiply every group's rate by `decay` at each epoch in `steps` (stepped once per epoch)."""
    return torch.optim.lr_scheduler.MultiStepLR(optimizer, milestones=list(steps), gamma=decay)


def default_lr_steps(epochs: int) -> tuple[int, ...]:
    """Epochs at which the rate drops when none are given: after half and three quarters of the run."""
    return tuple(sorted({max(1, epochs // 2), max(1, (3 * epochs) // 4)}))


"""The uniform backbone interface: named taps, partial forward passes, reusable tails, tap shapes."""
from __future__ import annotations

from abc import ABCMeta, abstractmethod
from collections.abc import Iterable, Sequence
from typing import Any

import torch
from torch import Tensor, nn

from twostream.data.sampling import FLOW_STACK
from twostream.pipeline.backbones.errors import BackboneError
from twostream.pipeline.backbones.normalization import Normalization

RGB_CHANNELS = 3
FLOW_CHANNELS = 2 * FLOW_STACK  # x and y interleaved for each of the stacked flow frames


def modality_of(in_channels: int) -> str:
    """The modality a first convolution with this many input channels serves."""
    return "rgb" if in_channels == RGB_CHANNELS else "flow"


class Backbone(nn.Module, metaclass=ABCMeta):
    """A network cut into consecutive stages, each ending at a named tap.

    Subclasses set the class attributes below, build the layers of the stages they are given
    (all taps by default) and implement `_forward_stage`. A backbone built for a subset of stages
    is a tail: its input is the output of the tap before its first stage.
    """

    TAPS: tuple[str, ...] = ()
    DEFAULT_TAPS: tuple[str, ...] = ()
    MAP_TAP: str = ""  # the map gated fusion reads by default
    LAST_MAP_TAP: str = ""  # the last convolutional feature map: Park et al.'s m-fusion and amplification read it
    POOLED_TAP: str = "global_pool"  # the vector the final classifier reads
    FIRST_CONV: str = ""
    CLASSIFIER: str = ""
    CLIP_FRAMES: int = 0  # a clip network's frames per clip, input (N, C, T, H, W); 0: one frame or flow stack
    FLOW_INPUT: int = FLOW_CHANNELS  # input channels of its temporal (flow) network

    def __init__(
        self,
        name: str,
        normalization: Normalization,
        config: dict[str, Any],
        stages: Sequence[str] | None,
    ) -> None:
        super().__init__()
        self.name = name
        self.normalization = normalization
        self._config = dict(config)
        self.stages = self._check_stages(stages)
        self._shapes: dict[tuple[int, int], dict[str, tuple[int, ...]]] = {}

    @property
    def taps(self) -> tuple[str, ...]:
        """Every tap of the full network, in forward order."""
        return self.TAPS

    @property
    def default_taps(self) -> tuple[str, ...]:
        """The taps feature extraction stores when none are requested."""
        return self.DEFAULT_TAPS

    @property
    def map_tap(self) -> str:
        """The feature-map tap that fusion heads read by default."""
        return self.MAP_TAP

    @property
    def last_map_tap(self) -> str:
        """The last convolutional feature map: only pooling and fully connected layers follow it."""
        return self.LAST_MAP_TAP

    @property
    def pooled_tap(self) -> str:
        """The tap holding the pooled feature vector that feeds the final classifier."""
        return self.POOLED_TAP

    @property
    def input_tap(self) -> str | None:
        """The tap whose output this part-network takes as input; None for a network that starts at the image."""
        first = self.TAPS.index(self.stages[0])
        return self.TAPS[first - 1] if first else None

    @property
    def num_classes(self) -> int:
        """Number of outputs of the final classifier."""
        return int(self._config["num_classes"])

    @property
    def in_channels(self) -> int:
        """Input channels of the first convolution: 3 for RGB, FLOW_INPUT for flow (10 for a TSN flow stack)."""
        return int(self._config["in_channels"])

    @property
    def modality(self) -> str:
        """'rgb' or 'flow', from the first convolution's input channels."""
        return modality_of(self.in_channels)

    @property
    def feature_dim(self) -> int:
        """Length of the pooled feature vector."""
        return self.tap_shape(self.POOLED_TAP)[0]

    @property
    def config(self) -> dict[str, Any]:
        """Constructor arguments (num_classes, in_channels, dropout, ...) that rebuild this architecture."""
        return dict(self._config)

    @abstractmethod
    def _forward_stage(self, stage: str, x: Tensor) -> Tensor:
        """Run one named stage on its input."""

    def forward_taps(self, x: Tensor, taps: Iterable[str]) -> dict[str, Tensor]:
        """Run from this network's first stage only as far as the last requested tap; return each tap's output."""
        wanted = set(taps)
        if not wanted:
            raise BackboneError(f"backbone {self.name!r}: no taps requested; choose from {', '.join(self.stages)}")
        unknown = sorted(wanted.difference(self.stages))
        if unknown:
            raise BackboneError(
                f"backbone {self.name!r} has no tap {', '.join(map(repr, unknown))} here; "
                f"available: {', '.join(self.stages)}"
            )
        outputs: dict[str, Tensor] = {}
        for stage in self.stages:
            x = self._forward_stage(stage, x)
            if stage in wanted:
                outputs[stage] = x
                if len(outputs) == len(wanted):
                    break
        return outputs

    def forward(self, x: Tensor) -> Tensor:
        """Output of the last stage: the logits for a full network, the pooled vector for a tail."""
        for stage in self.stages:
            x = self._forward_stage(stage, x)
        return x

    def tap_shape(self, tap: str, input_size: int | tuple[int, int] = 224) -> tuple[int, ...]:
        """Shape of one sample's output at a tap, (channels, h, w) for maps ((channels, t, h, w) for a clip
        network's) or (length,) for vectors."""
        self._require_tap(tap)
        height, width = (input_size, input_size) if isinstance(input_size, int) else input_size
        if (height, width) not in self._shapes:
            with torch.device("meta"):
                skeleton = self._rebuild(stages=None).eval()
                probe = torch.empty(self.input_shape(height, width))
            outputs = skeleton.forward_taps(probe, self.TAPS)
            self._shapes[(height, width)] = {name: tuple(value.shape[1:]) for name, value in outputs.items()}
        return self._shapes[(height, width)][tap]

    def input_shape(self, height: int, width: int) -> tuple[int, ...]:
        """Shape of a batch of one input of this size: (1, C, H, W) for an image or a flow stack."""
        return (1, self.in_channels, height, width)

    @property
    def channels_last(self) -> torch.memory_format:
        """The channels-last memory format of this network's weights and inputs (3D for a clip network)."""
        return torch.channels_last_3d if self.CLIP_FRAMES else torch.channels_last

    def layers_after(self, tap: str) -> Backbone:
        """A fresh trainable copy of the layers after `tap` up to the pooled feature vector."""
        return self._tail(tap, self.POOLED_TAP)

    def classifier_after(self, tap: str) -> Backbone:
        """A fresh trainable copy of the layers after `tap` up to and including the final classifier."""
        return self._tail(tap, "logits")

    def _tail(self, tap: str, last: str) -> Backbone:
        self._require_tap(tap)
        start, end = self.TAPS.index(tap) + 1, self.TAPS.index(last) + 1
        if start >= end:
            raise BackboneError(
                f"backbone {self.name!r}: no layers between tap {tap!r} and {last!r}; "
                f"use a tap before {last!r} such as {self.MAP_TAP!r}"
            )
        missing = [stage for stage in self.TAPS[start:end] if stage not in self.stages]
        if missing:
            raise BackboneError(f"backbone {self.name!r}: this part-network lacks the stages {', '.join(missing)}")
        tail = self.rebuild_with(self.state_dict(), stages=self.TAPS[start:end])
        tail.requires_grad_(True)
        return tail.train()

    def rebuild_with(self, weights: dict[str, Tensor], stages: Sequence[str] | None = None, **changes: Any) -> Backbone:
        """A new network of this architecture (optionally partial or with changed config) holding copies of `weights`.

        `weights` must hold every key the new network has; extra keys are ignored. The copies keep
        the device and dtype of `weights`.
        """
        with torch.device("meta"):
            fresh = self._rebuild(stages, **changes)
        wanted = fresh.state_dict()
        absent = [key for key in wanted if key not in weights]
        if absent:
            raise BackboneError(f"backbone {self.name!r}: weights lack {', '.join(absent[:8])}")
        fresh.load_state_dict({key: weights[key].detach().clone() for key in wanted}, assign=True)
        return fresh.train(self.training)

    def _rebuild(self, stages: Sequence[str] | None, **changes: Any) -> Backbone:
        config = {**self._config, **changes}
        rebuilt = type(self)(stages=stages, **config)
        rebuilt.normalization = self.normalization
        return rebuilt

    def _require_tap(self, tap: str) -> None:
        if tap not in self.TAPS:
            raise BackboneError(f"backbone {self.name!r} has no tap {tap!r}; available: {', '.join(self.TAPS)}")

    def _check_stages(self, stages: Sequence[str] | None) -> tuple[str, ...]:
        if stages is None:
            return self.TAPS
        chosen = tuple(stages)
        if not chosen:
            raise BackboneError(f"backbone {self.name!r}: a part-network needs at least one stage")
        for stage in chosen:
            self._require_tap(stage)
        first = self.TAPS.index(chosen[0])
        if chosen != self.TAPS[first : first + len(chosen)]:
            raise BackboneError(f"backbone {self.name!r}: stages {chosen} are not consecutive taps of {self.TAPS}")
        return chosen

    def builds(self, stage: str) -> bool:
        """Whether this (possibly partial) network holds the layers of `stage`."""
        return stage in self.stages

    def extra_repr(self) -> str:
        return f"name={self.name!r}, modality={self.modality!r}, stages={self.stages[0]}..{self.stages[-1]}"

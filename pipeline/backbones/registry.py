"""Backbone names, construction, and offline ImageNet weights."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import torch

from twostream.pipeline.backbones.base import RGB_CHANNELS, Backbone
from twostream.pipeline.backbones.bninception import BNInception
from twostream.pipeline.backbones.efficientnet import EfficientNetLite0, imagenet_weights_path
from twostream.pipeline.backbones.errors import BackboneError
from twostream.pipeline.backbones.i3d import I3D
from twostream.pipeline.backbones.normalization import MODALITIES
from twostream.pipeline.backbones.temporal import to_flow
from twostream.pipeline.backbones.tiny import TinyNet
from twostream.pipeline.backbones.vgg import VGG


@dataclass(frozen=True)
class Architecture:
    """How to construct one named backbone, and its dropout before the classifier per modality."""

    factory: Callable[..., Backbone]
    rgb_dropout: float
    flow_dropout: float

    @property
    def kind(self) -> type[Backbone]:
        """The Backbone subclass the factory builds, whose class attributes declare its taps."""
        return self.factory.func if isinstance(self.factory, partial) else self.factory


# TSN trains the spatial net with dropout 0.8 before its classifier and the temporal net with 0.7.
TSN_DROPOUT: dict[str, float] = {"rgb": 0.8, "flow": 0.7}

ARCHITECTURES: dict[str, Architecture] = {
    "bninception": Architecture(BNInception, TSN_DROPOUT["rgb"], TSN_DROPOUT["flow"]),
    "vgg16": Architecture(partial(VGG, 16), 0.5, 0.5),
    "vgg19": Architecture(partial(VGG, 19), 0.5, 0.5),
    "efficientnet_lite0": Architecture(EfficientNetLite0, 0.2, 0.2),
    "tiny": Architecture(TinyNet, 0.0, 0.0),
    "i3d": Architecture(I3D, 0.5, 0.5),  # pytorch-i3d trains with dropout 0.5
}
BACKBONES: tuple[str, ...] = tuple(ARCHITECTURES)
# The backbones that read single frames and flow stacks: the ones TSN-style sampling and training feed.
FRAME_BACKBONES: tuple[str, ...] = tuple(name for name, arch in ARCHITECTURES.items() if not arch.kind.CLIP_FRAMES)
IMAGENET_CLASSES = 1000
# Backbones whose ImageNet weights install offline, and where the installed file lies.
OFFLINE_IMAGENET: dict[str, Callable[[], Path]] = {"efficientnet_lite0": imagenet_weights_path}
IMAGENET_BACKBONES: tuple[str, ...] = tuple(OFFLINE_IMAGENET)


def architecture(name: str) -> Architecture:
    """The architecture registered under `name`, or an error listing the known names."""
    try:
        return ARCHITECTURES[name]
    except KeyError:
        raise BackboneError(f"unknown backbone {name!r}: use one of {', '.join(BACKBONES)}") from None


def backbone_type(name: str) -> type[Backbone]:
    """The Backbone subclass registered under `name`: its declared taps (MAP_TAP, LAST_MAP_TAP, POOLED_TAP,
    DEFAULT_TAPS) without building the network."""
    return architecture(name).kind


def create_backbone(name: str, num_classes: int, in_channels: int = RGB_CHANNELS, dropout: float | None = None) -> Backbone:
    """A randomly initialised backbone with the given first-conv input channels (no cross-modality step)."""
    arch = architecture(name)
    if num_classes < 1:
        raise BackboneError(f"backbone {name!r}: num_classes must be at least 1, got {num_classes}")
    if dropout is None:
        dropout = arch.rgb_dropout if in_channels == RGB_CHANNELS else arch.flow_dropout
    if not 0.0 <= dropout < 1.0:
        raise BackboneError(f"backbone {name!r}: dropout must lie in [0, 1), got {dropout}")
    return arch.factory(num_classes=num_classes, in_channels=in_channels, dropout=dropout)


def build_backbone(
    name: str,
    modality: str,
    num_classes: int,
    pretrained: bool = False,
    dropout: float | None = None,
) -> Backbone:
    """Build a backbone by name for 'rgb' or 'flow' input.

    A flow network is made from the RGB one by cross-modality initialisation. `pretrained` loads
    the ImageNet weights that install offline (EfficientNet-Lite0 only); with num_classes other
    than 1000 the classifier stays freshly initialised. `dropout` None means the architecture's
    default for that modality.
    """
    if modality not in MODALITIES:
        raise BackboneError(f"unknown modality {modality!r}: use one of {', '.join(MODALITIES)}")
    arch = architecture(name)
    if dropout is None:
        dropout = arch.rgb_dropout if modality == "rgb" else arch.flow_dropout
    net = create_backbone(name, num_classes, RGB_CHANNELS, dropout)
    if pretrained:
        _load_imagenet(net)
    return to_flow(net) if modality == "flow" else net


def imagenet_weights(name: str) -> Path:
    """The installed file of a backbone's offline ImageNet weights, or an error naming the backbones that have them."""
    architecture(name)
    if name not in OFFLINE_IMAGENET:
        raise BackboneError(
            f"no ImageNet weights for {name!r} install offline (only {', '.join(OFFLINE_IMAGENET)} has them); "
            "bring a checkpoint file instead (--rgb-checkpoint, --init-checkpoint)"
        )
    return OFFLINE_IMAGENET[name]()


def _load_imagenet(net: Backbone) -> None:
    weights = torch.load(imagenet_weights(net.name), map_location="cpu", weights_only=True)
    if net.num_classes != IMAGENET_CLASSES:
        weights = {key: value for key, value in weights.items() if not key.startswith(f"{net.CLASSIFIER}.")}
    missing, unexpected = net.load_state_dict(weights, strict=False)
    classifier_keys = {f"{net.CLASSIFIER}.weight", f"{net.CLASSIFIER}.bias"}
    if unexpected or set(missing) - classifier_keys:
        raise BackboneError(f"EfficientNet-Lite0 weights do not fit: missing {missing}, unexpected {unexpected}")

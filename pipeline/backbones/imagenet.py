"""The ImageNet weights that install offline, served as a checkpoint for either stream.

`imagenet` (or `imagenet:<backbone>`) stands where a checkpoint path would: the RGB stream gets the
1000-class ImageNet network, the flow stream the same weights with the first convolution
cross-modality initialised for 10 flow channels. The checkpoint's identity (path, sha256) is the
installed weights file; its format is "imagenet".
"""
from __future__ import annotations

import dataclasses

from twostream.pipeline.backbones.base import FLOW_CHANNELS
from twostream.pipeline.backbones.checkpoint_layouts import first_conv_and_classifier
from twostream.pipeline.backbones.checkpoints import LoadedCheckpoint, load_checkpoint
from twostream.pipeline.backbones.errors import BackboneError
from twostream.pipeline.backbones.normalization import MODALITIES
from twostream.pipeline.backbones.registry import OFFLINE_IMAGENET, imagenet_weights
from twostream.pipeline.backbones.temporal import cross_modality_weight

IMAGENET_SOURCE = "imagenet"
IMAGENET_FORMAT = "imagenet"


def imagenet_backbone(spec: str) -> str | None:
    """The backbone an `imagenet` or `imagenet:<backbone>` checkpoint argument names; None for anything else.

    Plain `imagenet` means the first backbone whose ImageNet weights install offline.
    """
    source, separator, backbone = str(spec).partition(":")
    if source != IMAGENET_SOURCE:
        return None
    if not separator:
        return next(iter(OFFLINE_IMAGENET))
    imagenet_weights(backbone)  # refuses backbones without offline weights, naming those with them
    return backbone


def imagenet_checkpoint(backbone: str, modality: str) -> LoadedCheckpoint:
    """The offline ImageNet weights of `backbone` as a loaded checkpoint for the `modality` stream."""
    if modality not in MODALITIES:
        raise BackboneError(f"unknown modality {modality!r}: use one of {', '.join(MODALITIES)}")
    loaded = dataclasses.replace(load_checkpoint(imagenet_weights(backbone), backbone=backbone), format=IMAGENET_FORMAT)
    if modality == loaded.modality:
        return loaded
    first = f"{first_conv_and_classifier(backbone)[0]}.weight"
    weights = {**loaded.state_dict, first: cross_modality_weight(loaded.state_dict[first], FLOW_CHANNELS)}
    return dataclasses.replace(loaded, modality=modality, in_channels=FLOW_CHANNELS, state_dict=weights)

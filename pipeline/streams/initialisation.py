"""The network a stream's training starts from: ImageNet weights, or a user's checkpoint, with a fresh classifier."""
from __future__ import annotations

from pathlib import Path

from twostream.pipeline.backbones import (
    Backbone,
    BackboneError,
    build_backbone,
    create_backbone,
    load_checkpoint,
    to_flow,
)
from twostream.pipeline.backbones.base import FLOW_CHANNELS, RGB_CHANNELS


def initial_network(backbone: str, modality: str, num_classes: int, *, dropout: float,
                    pretrained: bool, init_checkpoint: str | Path | None = None) -> Backbone:
    """A trainable network for one stream, with a freshly initialised `num_classes` classifier.

    With `init_checkpoint`, its weights (any format `load_checkpoint` reads, of this backbone) and
    its normalisation are used; an RGB checkpoint becomes a flow network by cross-modality
    initialisation. Otherwise `pretrained` asks for the ImageNet weights that install offline.
    """
    if init_checkpoint is None:
        return build_backbone(backbone, modality, num_classes, pretrained=pretrained, dropout=dropout).train()
    loaded = load_checkpoint(init_checkpoint, backbone=backbone)
    source = loaded.build()
    if loaded.modality != modality:
        if modality == "rgb":
            raise BackboneError(f"{init_checkpoint} holds a flow network; an RGB stream cannot start from it")
        source = to_flow(source, FLOW_CHANNELS)
    net = create_backbone(backbone, num_classes, RGB_CHANNELS if modality == "rgb" else FLOW_CHANNELS, dropout)
    classifier = f"{net.CLASSIFIER}."
    kept = {key: value for key, value in source.state_dict().items() if not key.startswith(classifier)}
    missing, unexpected = net.load_state_dict(kept, strict=False)
    if unexpected or any(not key.startswith(classifier) for key in missing):
        raise BackboneError(f"{init_checkpoint}: weights do not fit {backbone}: missing {missing}, unexpected {unexpected}")
    net.normalization = loaded.normalization
    return net.train()


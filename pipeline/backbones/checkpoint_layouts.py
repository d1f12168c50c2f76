"""Recognising the key layouts of checkpoints from other tools and renaming them to backbone names.

Layouts: mmaction 0.x TSN (`backbone.*`, `cls_head.fc_cls.*`), tsn-pytorch (`module.`,
`base_model.*`, `new_fc.*`), TSN Caffe models converted to PyTorch (`conv1/7x7_s2.*`,
`fc-action.*`), and plain state dicts already in a backbone's own names (torchvision VGG,
EfficientNet-Lite0, this project's architectures).
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import torch
from torch import Tensor

from twostream.pipeline.backbones.errors import CheckpointError
from twostream.pipeline.backbones.normalization import CAFFE_TSN, IMAGENET, TSN_PYTORCH, Normalization
from twostream.pipeline.backbones.registry import BACKBONES, create_backbone

HEAD = "<classifier>"  # stands for the final classifier until the architecture is known
MIN_MATCH = 0.5  # share of an architecture's keys a state dict must hold, with the right shapes


@dataclass(frozen=True)
class Layout:
    """A state dict renamed to backbone names, with the name of the layout it came in."""

    format: str
    state_dict: dict[str, Tensor]


def unwrap(obj: Any, path: object) -> tuple[dict[str, Tensor], dict[str, Any]]:
    """Split a loaded checkpoint into its tensors and the wrapper's other entries (arch, epoch, meta ...)."""
    if not isinstance(obj, Mapping):
        raise CheckpointError(f"{path}: holds a {type(obj).__name__}, not a state dict; save model.state_dict() instead")
    wrapper: dict[str, Any] = {}
    weights: Mapping[str, Any] = obj
    if isinstance(obj.get("state_dict"), Mapping):
        weights = obj["state_dict"]
        wrapper = {key: value for key, value in obj.items() if key != "state_dict"}
    not_tensors = [str(key) for key, value in weights.items() if not isinstance(value, Tensor)]
    if not_tensors:
        raise CheckpointError(f"{path}: entries {', '.join(not_tensors[:8])} are not tensors; expected a state dict of tensors")
    if not weights:
        raise CheckpointError(f"{path}: holds no tensors")
    return {str(key): value for key, value in weights.items()}, wrapper


def recognise_layout(weights: dict[str, Tensor]) -> Layout:
    """Rename a state dict from any known layout to backbone names (the classifier as `HEAD`)."""
    weights = _strip_common_prefix(weights, "module.")
    keys = list(weights)
    if any(key.startswith("backbone.") for key in keys):
        renames = {"backbone.": "", "cls_head.fc_cls.": f"{HEAD}."}
        return Layout("mmaction", _rename_prefixes(weights, renames))
    if any(key.startswith(("base_model.", "new_fc.")) for key in keys):
        return Layout("tsn_pytorch", _rename_prefixes(weights, {"base_model.": "", "new_fc.": f"{HEAD}."}))
    if any("/" in key or key.startswith("fc-action.") for key in keys):
        renamed = _rename_prefixes(weights, {"fc-action.": f"{HEAD}."})
        return Layout("caffe_tsn", {key.replace("/", "_"): value for key, value in renamed.items()})
    return Layout("plain", dict(weights))


def _strip_common_prefix(weights: dict[str, Tensor], prefix: str) -> dict[str, Tensor]:
    if all(key.startswith(prefix) for key in weights):
        return {key[len(prefix):]: value for key, value in weights.items()}
    return weights


def _rename_prefixes(weights: dict[str, Tensor], renames: dict[str, str]) -> dict[str, Tensor]:
    renamed: dict[str, Tensor] = {}
    for key, value in weights.items():
        for old, new in renames.items():
            if key.startswith(old):
                key = new + key[len(old):]
                break
        renamed[key] = value
    return renamed


@lru_cache(maxsize=None)
def skeleton_shapes(name: str, num_classes: int, in_channels: int) -> dict[str, torch.Size]:
    """Key -> shape of a backbone's state dict, computed without allocating weights."""
    with torch.device("meta"):
        net = create_backbone(name, num_classes, in_channels)
    return {key: value.shape for key, value in net.state_dict().items()}


@lru_cache(maxsize=None)
def first_conv_and_classifier(name: str) -> tuple[str, str]:
    """Module names of the first convolution and the final classifier of an architecture."""
    with torch.device("meta"):
        net = create_backbone(name, 1)
    return net.FIRST_CONV, net.CLASSIFIER


def identify_architecture(weights: Mapping[str, Tensor], path: object) -> str:
    """The registered architecture whose keys and shapes this state dict matches best."""
    scores = {name: _match_score(weights, name) for name in BACKBONES}
    best = max(scores, key=scores.__getitem__)
    if scores[best] < MIN_MATCH:
        sample = ", ".join(list(weights)[:5])
        raise CheckpointError(
            f"{path}: keys such as {sample} match no known backbone ({', '.join(BACKBONES)}); "
            "pass backbone= (--backbone) if it is one of them under other names"
        )
    return best


def _match_score(weights: Mapping[str, Tensor], name: str) -> float:
    first_conv, classifier = first_conv_and_classifier(name)
    skipped = (f"{first_conv}.", f"{classifier}.", f"{HEAD}.")
    expected = {key: shape for key, shape in skeleton_shapes(name, 1, 3).items() if not key.startswith(skipped)}
    present = {key for key in weights if not key.startswith(skipped)}
    matched = sum(1 for key in present & expected.keys() if fits(weights[key], expected[key]))
    union = len(present | expected.keys())
    return matched / union if union else 0.0


def fits(value: Tensor, shape: torch.Size) -> bool:
    """Whether a tensor fits a parameter shape, allowing Caffe's extra singleton dimensions."""
    if value.shape == shape:
        return True
    return [size for size in value.shape if size != 1] == [size for size in shape if size != 1]


def name_classifier(weights: dict[str, Tensor], classifier: str) -> dict[str, Tensor]:
    """Replace the `HEAD` placeholder with the architecture's classifier module name."""
    return {(f"{classifier}{key[len(HEAD):]}" if key.startswith(f"{HEAD}.") else key): value for key, value in weights.items()}


def layout_normalization(layout_format: str, backbone: str, default: Normalization) -> Normalization:
    """The input normalisation a checkpoint of this layout and architecture was trained with."""
    if layout_format == "caffe_tsn":
        return CAFFE_TSN
    if layout_format in ("tsn_pytorch", "mmaction"):
        return TSN_PYTORCH if backbone == "bninception" else IMAGENET
    return default


def format_name(layout_format: str, backbone: str) -> str:
    """A user-facing name for the layout: plain VGG state dicts are torchvision's."""
    if layout_format == "plain" and backbone in ("vgg16", "vgg19"):
        return "torchvision"
    return layout_format


def key_differences(
    weights: Mapping[str, Tensor], expected: Mapping[str, torch.Size]
) -> tuple[list[str], list[str], list[str]]:
    """Missing, unexpected and wrongly shaped keys of a state dict against the expected shapes.

    Batch-norm step counters are not weights, so their absence is not reported.
    """
    missing = [key for key in expected if key not in weights and not key.endswith("num_batches_tracked")]
    unexpected = [key for key in weights if key not in expected]
    mismatched = [
        f"{key} {tuple(weights[key].shape)} vs {tuple(expected[key])}"
        for key in weights
        if key in expected and not fits(weights[key], expected[key])
    ]
    return missing, unexpected, mismatched

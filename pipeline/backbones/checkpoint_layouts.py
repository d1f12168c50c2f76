"""Recognising the key layouts of checkpoints from other tools and renaming them to backbone names.

Layouts: mmaction 0.x TSN (`backbone.*`, `cls_head.fc_cls.*`); tsn-pytorch (`module.`,
`base_model.*`, `new_fc.*`); caffe2pytorch-tsn (Torch7 Sequential paths such as
`11.0.0.base_model.inception_3a_1x1.*`, classifier `base_model.fc-action.1.*` or `fc_action.1.*`);
TSN Caffe models under their Caffe layer names (`conv1/7x7_s2.*`, `fc-action.*`); TSN's own
converter, parse_caffe.py (`/` and `-` become `_`: `fc_action.*`); Cadene's pretrainedmodels
(`last_linear.*`); and plain state dicts already in a backbone's own names (torchvision VGG,
EfficientNet-Lite0, tsn-pytorch's ImageNet BN-Inception, this project's architectures). A file
holding several networks under name prefixes (`rgb_`, `flow_`, `gating_`) gives one of them by
`select_prefix`.
"""
from __future__ import annotations

import re
import sys
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


def select_prefix(weights: dict[str, Tensor], prefix: str, path: object) -> dict[str, Tensor]:
    """The tensors whose names start with `prefix`, with the prefix removed (one network of a file holding several)."""
    chosen = {key[len(prefix):]: value for key, value in weights.items() if key.startswith(prefix)}
    if not chosen:
        groups = name_groups(weights)
        found = f"its key groups are {', '.join(groups)}" if groups else f"keys such as {', '.join(list(weights)[:3])}"
        raise CheckpointError(f"{path}: no key starts with the prefix {prefix!r}; {found}")
    return chosen


def name_groups(weights: Mapping[str, Tensor]) -> list[str]:
    """Name prefixes (`rgb_`, `flow_` ...) that split a state dict into several networks; empty when it holds one."""
    heads: dict[str, int] = {}
    for key in weights:
        match = _GROUP.match(key)
        if match:
            heads[match.group(1)] = heads.get(match.group(1), 0) + 1
    groups = [head for head, count in heads.items() if count >= _GROUP_SHARE * len(weights)]
    return groups if len(groups) > 1 else []


_GROUP = re.compile(r"^([A-Za-z]+_)")
_GROUP_SHARE = 0.1  # a group holds at least this share of the keys
# caffe2pytorch-tsn names modules by the Torch7 Sequential path they sat in, then `base_model.<layer>`.
_TORCH7_PATH = re.compile(r"^(?:\d+\.)*base_model\.")
_CAFFE2PYTORCH_HEADS = ("fc-action.1.", "fc_action.1.")  # UCF101/HMDB51, Kinetics


def recognise_layout(weights: dict[str, Tensor]) -> Layout:
    """Rename a state dict from any known layout to backbone names (the classifier as `HEAD`)."""
    weights = _strip_common_prefix(weights, "module.")
    keys = list(weights)
    head = f"{HEAD}."
    if any(key.startswith("backbone.") for key in keys):
        return Layout("mmaction", _rename_prefixes(weights, {"backbone.": "", "cls_head.fc_cls.": head}))
    if any(key[:1].isdigit() and _TORCH7_PATH.match(key) for key in keys) or any(
        key.startswith(tuple(f"base_model.{name}" for name in _CAFFE2PYTORCH_HEADS)) for key in keys
    ):
        unnested = {_TORCH7_PATH.sub("", key, count=1): value for key, value in weights.items()}
        return Layout("caffe2pytorch_tsn", _rename_prefixes(unnested, dict.fromkeys(_CAFFE2PYTORCH_HEADS, head)))
    if any(key.startswith(("base_model.", "new_fc.")) for key in keys):
        return Layout("tsn_pytorch", _rename_prefixes(weights, {"base_model.": "", "new_fc.": head}))
    if any("/" in key or key.startswith("fc-action.") for key in keys):
        renamed = _rename_prefixes(weights, {"fc-action.": head})
        return Layout("caffe_tsn", {key.replace("/", "_"): value for key, value in renamed.items()})
    if any(key.startswith("fc_action.") for key in keys):
        return Layout("tsn_parse_caffe", _rename_prefixes(weights, {"fc_action.": head}))
    if any(key.startswith("last_linear.") for key in keys):
        return Layout("pretrainedmodels", _rename_prefixes(weights, {"last_linear.": head}))
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


def identify_architecture(weights: Mapping[str, Tensor], path: object, strict: bool = True) -> str:
    """The registered architecture whose keys and shapes this state dict matches best.

    Strictly, at least half of the architecture's keys must match; otherwise any match will do.
    """
    scores = {name: _match_score(weights, name) for name in BACKBONES}
    best = max(scores, key=scores.__getitem__)
    if scores[best] < (MIN_MATCH if strict else sys.float_info.min):
        raise CheckpointError(_unrecognised(weights, best, scores[best], path, strict))
    return best


def _unrecognised(weights: Mapping[str, Tensor], best: str, score: float, path: object, strict: bool) -> str:
    """Why a state dict fits no architecture: the keys that match none, the closest one, what to try."""
    expected = skeleton_shapes(best, 1, 3)
    foreign = [key for key in weights if key not in expected and not key.startswith(f"{HEAD}.")]
    shown = ", ".join(foreign[:6]) + (f", ... ({len(foreign) - 6} more)" if len(foreign) > 6 else "")
    message = (f"{path}: {len(foreign)} of {len(weights)} keys fit no known backbone ({shown}); the closest, "
               f"{best}, shares {score:.0%} of its keys")
    groups = name_groups(weights)
    if groups:
        return (message + f". The keys fall into groups {', '.join(groups)}: choose one network with prefix= "
                "(extract-features --rgb-prefix / --flow-prefix)")
    if strict and score > 0:
        return message + "; load with strict=False (--strict false) to keep the weights that do fit"
    return message + ". Supported: this project's checkpoints, mmaction 0.x, tsn-pytorch, caffe2pytorch-tsn, " \
        "TSN Caffe names and parse_caffe.py output, Cadene's pretrainedmodels, torchvision VGG, plain state dicts"


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


# Layouts whose weights were trained in Caffe, with its BGR means 104/117/123.
CAFFE_TRAINED = frozenset({"caffe_tsn", "tsn_parse_caffe", "caffe2pytorch_tsn"})


def layout_normalization(layout_format: str, backbone: str, default: Normalization) -> Normalization:
    """The input normalisation a checkpoint of this layout and architecture was trained with.

    caffe2pytorch-tsn's own evaluation fed its Caffe-trained weights tsn-pytorch's red mean of 128;
    the Caffe training's 123 is kept here (override it with `normalization`).
    """
    if layout_format in CAFFE_TRAINED:
        return CAFFE_TSN
    if backbone == "bninception":
        # tsn-pytorch, mmaction 0.x, Cadene's and tsn-pytorch's ImageNet files are all used with 104/117/128.
        return TSN_PYTORCH
    if layout_format in ("tsn_pytorch", "mmaction"):
        return IMAGENET
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

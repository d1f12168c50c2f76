"""Loading checkpoints of every supported kind into backbones, and saving this project's own format.

A file is read with `torch.load(weights_only=True)` or as safetensors. Its layout (this project's
format, mmaction 0.x, tsn-pytorch, caffe2pytorch-tsn, TSN Caffe names, TSN's parse_caffe.py,
Cadene's pretrainedmodels, torchvision VGG, plain state dict) is recognised from its keys; the architecture, modality and number of classes come from the weights;
the input normalisation comes from the layout (or is stored, in this project's format).
"""
from __future__ import annotations

import dataclasses
import json
import pickle
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from twostream.data.io import atomic_path, file_sha256
from twostream.pipeline.backbones.base import RGB_CHANNELS, Backbone, modality_of
from twostream.pipeline.backbones.checkpoint_layouts import (
    first_conv_and_classifier,
    fits,
    format_name,
    identify_architecture,
    key_differences,
    layout_normalization,
    name_classifier,
    recognise_layout,
    select_prefix,
    skeleton_shapes,
    unwrap,
)
from twostream.pipeline.backbones.errors import BackboneError, CheckpointError, CheckpointMismatchError
from twostream.pipeline.backbones.normalization import Normalization
from twostream.pipeline.backbones.registry import architecture, backbone_type, create_backbone

FORMAT = "twostream"
FORMAT_VERSION = 1
SAFETENSORS_SUFFIX = ".safetensors"


@dataclass(frozen=True)
class LoadedCheckpoint:
    """A checkpoint's weights in backbone names, with everything needed to rebuild the network."""

    path: Path
    sha256: str
    format: str
    container: str
    backbone: str
    modality: str
    num_classes: int
    in_channels: int
    normalization: Normalization
    state_dict: dict[str, Tensor] = field(repr=False)
    class_names: tuple[str, ...] | None = None
    config: dict[str, Any] = field(default_factory=dict)
    missing_keys: tuple[str, ...] = ()
    unexpected_keys: tuple[str, ...] = ()
    mismatched_keys: tuple[str, ...] = ()

    def build(self, device: str | torch.device = "cpu", dropout: float | None = None) -> Backbone:
        """The backbone with these weights and this normalisation, in eval mode on `device`.

        Keys the checkpoint lacks (only possible when loaded with strict=False) keep their fresh
        initialisation.
        """
        if dropout is None:
            dropout = self.config.get("dropout") if isinstance(self.config.get("dropout"), float) else None
        if self.missing_keys:
            net = create_backbone(self.backbone, self.num_classes, self.in_channels, dropout)
            net.load_state_dict(self.state_dict, strict=False)
        else:
            with torch.device("meta"):
                net = create_backbone(self.backbone, self.num_classes, self.in_channels, dropout)
            net = net.rebuild_with(self.state_dict)
        net.normalization = self.normalization
        return net.to(device).eval()


def load_checkpoint(
    path: str | Path,
    *,
    strict: bool = True,
    backbone: str | None = None,
    modality: str | None = None,
    num_classes: int | None = None,
    normalization: Normalization | None = None,
    prefix: str | None = None,
) -> LoadedCheckpoint:
    """Read a checkpoint of any supported kind and check it against its backbone.

    The architecture is recognised from the keys unless `backbone` names it; `modality` and
    `num_classes`, when given, must agree with the weights. Missing, unexpected or wrongly shaped
    keys are refused by name unless `strict` is False, in which case the matching weights are kept.
    `normalization` overrides the one the checkpoint's kind implies. `prefix` picks one network of
    a file that holds several (a gated-TSN conversion's `rgb_` or `flow_` layers) and strips it.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: checkpoint file not found")
    container, obj, metadata = _read(path)
    record, weights, layout_format, backbone = _recognise(obj, metadata, backbone, path, strict, prefix)
    first_conv, classifier = first_conv_and_classifier(backbone)
    weights = name_classifier(weights, classifier)
    in_channels = _first_conv_channels(weights, first_conv, modality, backbone)
    found_classes = _classifier_outputs(weights, classifier)
    num_classes = _resolve_classes(found_classes, num_classes, classifier, path)
    found_modality = modality_of(in_channels)
    if modality is not None and modality != found_modality:
        raise CheckpointError(f"{path}: holds a {found_modality} network ({in_channels} input channels), not {modality}")
    if "modality" in record:
        _agree(record["modality"], found_modality, "modality", path)
    expected = skeleton_shapes(backbone, num_classes, in_channels)
    missing, unexpected, mismatched = key_differences(weights, expected)
    if strict and (missing or unexpected or mismatched):
        raise CheckpointMismatchError(path, backbone, missing, unexpected, mismatched)
    kept = _kept_weights(weights, expected)
    class_names = record.get("class_names")
    if class_names is not None and len(class_names) != num_classes:
        raise CheckpointError(f"{path}: lists {len(class_names)} class names for {num_classes} classifier outputs")
    if normalization is None:
        normalization = record.get("normalization") or layout_normalization(
            layout_format, backbone, default_normalization(backbone)
        )
    return LoadedCheckpoint(
        path=path,
        sha256=file_sha256(path),
        format=format_name(layout_format, backbone),
        container=container,
        backbone=backbone,
        modality=found_modality,
        num_classes=num_classes,
        in_channels=in_channels,
        normalization=normalization,
        state_dict=kept,
        class_names=tuple(class_names) if class_names is not None else None,
        config=record.get("config") or {},
        missing_keys=tuple(missing),
        unexpected_keys=tuple(unexpected),
        mismatched_keys=tuple(mismatched),
    )


def _recognise(
    obj: Any, metadata: dict[str, str], backbone: str | None, path: Path, strict: bool, prefix: str | None
) -> tuple[dict[str, Any], dict[str, Tensor], str, str]:
    """The checkpoint's own record, its weights in backbone names, its layout and its architecture."""
    if _is_own_format(obj, metadata):
        if prefix:
            raise CheckpointError(f"{path}: a {FORMAT} checkpoint holds one network; drop the prefix {prefix!r}")
        record = _own_record(obj, metadata, path)
        backbone = _agree(backbone, record["backbone"], "backbone", path)
        return record, record.pop("state_dict"), FORMAT, backbone
    tensors, wrapper = unwrap(obj, path)
    layout = recognise_layout(select_prefix(tensors, prefix, path) if prefix else tensors)
    backbone = backbone or identify_architecture(layout.state_dict, path, strict)
    architecture(backbone)
    return {"config": _scalars(wrapper)}, layout.state_dict, layout.format, backbone


def save_checkpoint(
    path: str | Path,
    backbone: Backbone,
    *,
    class_names: list[str] | tuple[str, ...] | None = None,
    config: dict[str, Any] | None = None,
) -> str:
    """Write a backbone in this project's format (safetensors when the name ends in .safetensors); return its sha256.

    The file records the backbone name, modality, class names, normalisation and `config`
    (JSON-serialisable), so `load_checkpoint` needs no further arguments. The file is written atomically.
    """
    path = Path(path)
    if backbone.stages != backbone.taps:
        raise BackboneError(f"backbone {backbone.name!r}: only a full network can be saved as a checkpoint, not a part")
    if class_names is not None and len(class_names) != backbone.num_classes:
        raise CheckpointError(
            f"{path}: {len(class_names)} class names given for a backbone with {backbone.num_classes} outputs"
        )
    merged_config = {**backbone.config, **(config or {})}
    try:
        json.dumps(merged_config)
    except TypeError as error:
        raise CheckpointError(f"{path}: config must be JSON-serialisable ({error})") from None
    weights = {key: value.detach().cpu().contiguous() for key, value in backbone.state_dict().items()}
    record: dict[str, Any] = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "backbone": backbone.name,
        "modality": backbone.modality,
        "num_classes": backbone.num_classes,
        "class_names": list(class_names) if class_names is not None else None,
        "normalization": backbone.normalization.to_dict(),
        "config": merged_config,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as partial:
        if path.suffix == SAFETENSORS_SUFFIX:
            from safetensors.torch import save_file

            save_file(weights, str(partial), metadata={key: json.dumps(value) for key, value in record.items()})
        else:
            torch.save({**record, "state_dict": weights}, partial)
    return file_sha256(path)


def checkpoint_bytes(backbone: Backbone, *, class_names: list[str] | tuple[str, ...] | None = None) -> bytes:
    """The bytes of the file `save_checkpoint` writes for `backbone`: a network to keep inside another file."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "network.pt"
        save_checkpoint(path, backbone, class_names=class_names)
        return path.read_bytes()


def load_checkpoint_bytes(data: bytes, origin: str) -> LoadedCheckpoint:
    """Load a checkpoint from the bytes of a file in this project's format (`checkpoint_bytes`); `origin` names
    where the bytes were kept, in errors and as the result's path."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "network.pt"
        path.write_bytes(data)
        try:
            loaded = load_checkpoint(path)
        except CheckpointError as error:
            raise CheckpointError(str(error).replace(str(path), origin)) from None
    return dataclasses.replace(loaded, path=Path(origin))


def default_normalization(name: str) -> Normalization:
    """The normalisation an architecture assumes when a checkpoint says nothing about it."""
    with torch.device("meta"):
        return create_backbone(name, 1).normalization


def _read(path: Path) -> tuple[str, Any, dict[str, str]]:
    with open(path, "rb") as handle:
        head = handle.read(9)
    # safetensors: an 8-byte little-endian header length, then the JSON header.
    if path.suffix == SAFETENSORS_SUFFIX or head[8:9] == b"{":
        return "safetensors", *_read_safetensors(path)
    try:
        return "torch", torch.load(path, map_location="cpu", weights_only=True), {}
    except pickle.UnpicklingError as error:
        detail = _unpickler_detail(str(error))
        if "Unsupported global" in detail:
            raise CheckpointError(
                f"{path}: holds Python objects that safe loading refuses ({detail}); "
                "re-save it as a plain state dict of tensors"
            ) from None
        raise CheckpointError(f"{path}: not a readable PyTorch checkpoint ({detail})") from None
    except (RuntimeError, EOFError, OSError) as error:
        raise CheckpointError(f"{path}: not a readable PyTorch checkpoint ({str(error).splitlines()[0]})") from None


def _unpickler_detail(message: str) -> str:
    """The informative part of torch's weights-only unpickling error."""
    marker = "WeightsUnpickler error:"
    if marker not in message:
        return message.splitlines()[0] if message else "unpickling failed"
    detail = " ".join(message.split(marker, 1)[1].split())
    return detail.split(" Check the documentation")[0].split(". Please use")[0]


def _read_safetensors(path: Path) -> tuple[dict[str, Tensor], dict[str, str]]:
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(str(path), framework="pt", device="cpu") as handle:
            metadata = dict(handle.metadata() or {})
            return {key: handle.get_tensor(key) for key in handle.keys()}, metadata
    except (SafetensorError, OSError) as error:
        raise CheckpointError(f"{path}: not a readable safetensors file ({error})") from None


def _is_own_format(obj: Any, metadata: dict[str, str]) -> bool:
    if metadata:
        return metadata.get("format") == json.dumps(FORMAT)
    return isinstance(obj, dict) and obj.get("format") == FORMAT


def _own_record(obj: Any, metadata: dict[str, str], path: Path) -> dict[str, Any]:
    try:
        record = {key: json.loads(value) for key, value in metadata.items()} if metadata else dict(obj)
        if metadata:
            record["state_dict"] = obj
        if record.get("format_version") != FORMAT_VERSION:
            raise CheckpointError(
                f"{path}: {FORMAT} checkpoint version {record.get('format_version')!r} is not supported "
                f"(this version reads {FORMAT_VERSION}); upgrade twostream"
            )
        absent = [key for key in ("backbone", "modality", "normalization", "state_dict") if key not in record]
        if absent:
            raise CheckpointError(f"{path}: malformed {FORMAT} checkpoint, missing {', '.join(absent)}")
        record["normalization"] = Normalization.from_dict(record["normalization"])
    except json.JSONDecodeError as error:
        raise CheckpointError(f"{path}: malformed {FORMAT} checkpoint metadata ({error})") from None
    record["state_dict"], _ = unwrap(record["state_dict"], path)
    return record


def _kept_weights(weights: dict[str, Tensor], expected: dict[str, torch.Size]) -> dict[str, Tensor]:
    """The weights that fit, in the backbone's shapes and float32, with absent batch-norm step counters at zero."""
    kept = {
        key: value.reshape(expected[key]).float() if value.is_floating_point() else value.reshape(expected[key])
        for key, value in weights.items()
        if key in expected and fits(value, expected[key])
    }
    for key in expected:
        if key.endswith("num_batches_tracked") and key not in kept:
            kept[key] = torch.zeros((), dtype=torch.long)
    return kept


def _agree(given: str | None, found: str, what: str, path: Path) -> str:
    if given is not None and given != found:
        raise CheckpointError(f"{path}: holds {what} {found!r}, not {given!r}")
    return found


def _first_conv_channels(weights: dict[str, Tensor], first_conv: str, modality: str | None, backbone: str) -> int:
    """Input channels of the checkpoint's first conv; without one, those of the requested modality for the
    architecture `backbone`."""
    value = weights.get(f"{first_conv}.weight")
    if value is not None and value.dim() >= 4:  # a 2D or a 3D convolution
        return int(value.shape[1])
    return backbone_type(backbone).FLOW_INPUT if modality == "flow" else RGB_CHANNELS


def _classifier_outputs(weights: dict[str, Tensor], classifier: str) -> int | None:
    value = weights.get(f"{classifier}.weight")
    # a Linear's weight, or a 1 x 1 (x 1) convolution's (I3D's classifier)
    return int(value.shape[0]) if value is not None and value.dim() >= 2 else None


def _resolve_classes(found: int | None, given: int | None, classifier: str, path: Path) -> int:
    if found is None:
        if given is None:
            raise CheckpointError(f"{path}: has no final classifier {classifier!r}, so the number of classes is "
                                  "unknown; pass num_classes= to load_checkpoint to give it a fresh one")
        return given
    if given is not None and given != found:
        raise CheckpointError(f"{path}: classifier has {found} outputs, not the {given} classes asked for")
    return found


def _scalars(wrapper: dict[str, Any]) -> dict[str, Any]:
    """The wrapper's plain entries (arch, epoch, best accuracy ...) kept as information."""
    kept: dict[str, Any] = {}
    for key, value in wrapper.items():
        if isinstance(value, Tensor) and value.numel() == 1:
            value = value.item()
        if isinstance(value, (str, int, float, bool)):
            kept[str(key)] = value
    return kept

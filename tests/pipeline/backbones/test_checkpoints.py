"""Checkpoint loading: plain and own-format files round-trip, mismatches are refused by name.

BN-Inception files of other tools are tested in test_checkpoint_formats.py."""
from __future__ import annotations

import argparse
import hashlib
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from twostream.data.errors import TwostreamError
from twostream.pipeline.backbones import (
    BACKBONES,
    CAFFE_TSN,
    IMAGENET,
    Backbone,
    CheckpointError,
    CheckpointMismatchError,
    build_backbone,
    create_backbone,
    load_checkpoint,
    save_checkpoint,
)
from twostream.pipeline.backbones.checkpoint_layouts import identify_architecture
from twostream.pipeline.backbones.efficientnet import imagenet_weights_path

NUM_CLASSES = 6
COUNTER = "num_batches_tracked"


def _weights(net: Backbone) -> dict[str, torch.Tensor]:
    """The state dict without batch-norm step counters, which older tools do not save."""
    return {key: value for key, value in net.state_dict().items() if not key.endswith(COUNTER)}


def _assert_same_weights(built: Backbone, source: Backbone) -> None:
    expected = _weights(source)
    actual = _weights(built)
    assert actual.keys() == expected.keys()
    for key, value in expected.items():
        assert torch.equal(actual[key], value), key


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_torchvision_vgg16_state_dict_round_trips(tmp_path: Path) -> None:
    torch.manual_seed(4)
    source = build_backbone("vgg16", "rgb", 1000)
    path = tmp_path / "vgg16-397923af.pth"
    torch.save(source.state_dict(), path)
    loaded = load_checkpoint(path)
    assert (loaded.format, loaded.backbone, loaded.modality, loaded.num_classes) == ("torchvision", "vgg16", "rgb", 1000)
    assert loaded.normalization == IMAGENET
    _assert_same_weights(loaded.build(), source)


def test_plain_state_dict_with_dataparallel_prefix_round_trips(tmp_path: Path) -> None:
    source = build_backbone("tiny", "flow", NUM_CLASSES)
    path = tmp_path / "tiny.pt"
    torch.save({f"module.{key}": value for key, value in source.state_dict().items()}, path)
    loaded = load_checkpoint(path)
    assert (loaded.format, loaded.backbone, loaded.modality, loaded.num_classes) == ("plain", "tiny", "flow", NUM_CLASSES)
    _assert_same_weights(loaded.build(), source)


def test_plain_safetensors_round_trips(tmp_path: Path) -> None:
    source = build_backbone("efficientnet_lite0", "rgb", NUM_CLASSES)
    path = tmp_path / "lite0.safetensors"
    save_file({key: value.contiguous() for key, value in source.state_dict().items()}, str(path))
    loaded = load_checkpoint(path)
    assert (loaded.container, loaded.format, loaded.backbone, loaded.num_classes) == (
        "safetensors", "plain", "efficientnet_lite0", NUM_CLASSES
    )
    assert loaded.normalization == IMAGENET
    _assert_same_weights(loaded.build(), source)


def test_real_efficientnet_lite0_weights_are_recognised() -> None:
    loaded = load_checkpoint(imagenet_weights_path())
    assert (loaded.backbone, loaded.modality, loaded.num_classes, loaded.normalization) == (
        "efficientnet_lite0", "rgb", 1000, IMAGENET
    )
    _assert_same_weights(loaded.build(), build_backbone("efficientnet_lite0", "rgb", 1000, pretrained=True))


@pytest.mark.parametrize("suffix", [".pt", ".safetensors"])
def test_own_format_restores_everything_without_flags(tmp_path: Path, suffix: str) -> None:
    torch.manual_seed(5)
    source = build_backbone("tiny", "flow", 3, dropout=0.3)
    source.normalization = CAFFE_TSN
    classes = ["ApplyEyeMakeup", "Archery", "Biking"]
    path = tmp_path / f"spatial{suffix}"
    digest = save_checkpoint(path, source, class_names=classes, config={"epochs": 2, "lr": 0.001})
    loaded = load_checkpoint(path)
    assert digest == loaded.sha256 == _sha256(path)
    assert (loaded.format, loaded.backbone, loaded.modality, loaded.num_classes) == ("twostream", "tiny", "flow", 3)
    assert loaded.class_names == tuple(classes)
    assert loaded.normalization == CAFFE_TSN
    assert loaded.config["epochs"] == 2 and loaded.config["dropout"] == 0.3
    built = loaded.build()
    assert built.config["dropout"] == 0.3 and built.normalization == CAFFE_TSN
    _assert_same_weights(built, source)
    x = torch.randn(2, 10, 48, 48)
    torch.testing.assert_close(built(x), source.eval()(x))


@pytest.mark.parametrize("name", BACKBONES)
def test_architecture_is_identified_from_keys_and_shapes(name: str) -> None:
    with torch.device("meta"):
        weights = create_backbone(name, 9).state_dict()
    assert identify_architecture(weights, "probe") == name


def _broken_tiny_checkpoint(tmp_path: Path) -> tuple[Backbone, Path]:
    """A tiny net's state dict with one key missing, one unexpected and one of the wrong shape."""
    source = build_backbone("tiny", "rgb", NUM_CLASSES)
    weights = source.state_dict()
    del weights["conv2.bn.running_var"]
    weights["conv4.extra.weight"] = torch.zeros(3)
    weights["conv3.conv.weight"] = torch.zeros(32, 16, 5, 5)
    path = tmp_path / "broken.pt"
    torch.save(weights, path)
    return source, path


def test_mismatch_is_refused_naming_the_keys(tmp_path: Path) -> None:
    _, path = _broken_tiny_checkpoint(tmp_path)
    with pytest.raises(CheckpointMismatchError) as raised:
        load_checkpoint(path)
    message = str(raised.value)
    for fragment in ("conv2.bn.running_var", "conv4.extra.weight", "conv3.conv.weight (32, 16, 5, 5)", "strict"):
        assert fragment in message
    assert raised.value.missing == ("conv2.bn.running_var",)
    assert raised.value.unexpected == ("conv4.extra.weight",)


def test_strict_false_keeps_the_matching_weights(tmp_path: Path) -> None:
    source, path = _broken_tiny_checkpoint(tmp_path)
    loaded = load_checkpoint(path, strict=False)
    assert loaded.missing_keys == ("conv2.bn.running_var",)
    assert loaded.unexpected_keys == ("conv4.extra.weight",)
    assert len(loaded.mismatched_keys) == 1
    built = loaded.build()
    assert torch.equal(built.conv1.conv.weight, source.conv1.conv.weight)
    assert torch.equal(built.conv2.bn.running_var, torch.ones(16))
    assert built.conv3.conv.weight.shape == (32, 16, 3, 3)
    assert not torch.equal(built.conv3.conv.weight, torch.zeros(32, 16, 3, 3))


def test_checkpoint_without_classifier_needs_num_classes(tmp_path: Path) -> None:
    weights = {k: v for k, v in build_backbone("tiny", "rgb", 4).state_dict().items() if not k.startswith("fc.")}
    path = tmp_path / "body.pt"
    torch.save(weights, path)
    with pytest.raises(CheckpointError, match="no final classifier 'fc'"):
        load_checkpoint(path, strict=False)
    loaded = load_checkpoint(path, strict=False, num_classes=11)
    assert loaded.num_classes == 11 and set(loaded.missing_keys) == {"fc.weight", "fc.bias"}
    assert loaded.build().fc.weight.shape == (11, 32)


def test_bad_files_and_disagreements_raise_clear_errors(tmp_path: Path) -> None:
    net = build_backbone("tiny", "rgb", NUM_CLASSES)
    good = tmp_path / "good.pt"
    torch.save(net.state_dict(), good)
    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(b"not a checkpoint at all")
    unsafe = tmp_path / "unsafe.pt"
    torch.save({"state_dict": net.state_dict(), "args": argparse.Namespace(lr=0.1)}, unsafe)
    unknown = tmp_path / "unknown.pt"
    torch.save({"encoder.layer.weight": torch.zeros(3, 3)}, unknown)
    cases = [
        (lambda: load_checkpoint(tmp_path / "absent.pt"), "not found"),
        (lambda: load_checkpoint(garbage), "not a readable PyTorch checkpoint"),
        (lambda: load_checkpoint(unsafe), "safe loading refuses"),
        (lambda: load_checkpoint(unknown), "1 of 1 keys fit no known backbone \\(encoder.layer.weight\\)"),
        (lambda: load_checkpoint(good, modality="flow"), "holds a rgb network"),
        (lambda: load_checkpoint(good, num_classes=3), f"has {NUM_CLASSES} outputs, not the 3"),
        (lambda: load_checkpoint(good, backbone="bninception"), "does not fit backbone 'bninception'"),
        (lambda: save_checkpoint(tmp_path / "x.pt", net, class_names=["a"]), "1 class names"),
        (lambda: save_checkpoint(tmp_path / "x.pt", net, config={"path": Path("/")}), "JSON-serialisable"),
    ]
    for call, fragment in cases:
        with pytest.raises(TwostreamError, match=fragment):
            call()


def test_own_format_disagreeing_with_its_weights_is_refused(tmp_path: Path) -> None:
    net = build_backbone("tiny", "rgb", 2)
    path = tmp_path / "own.pt"
    save_checkpoint(path, net, class_names=["a", "b"])
    record = torch.load(path, weights_only=True)
    record["class_names"] = ["a", "b", "c"]
    torch.save(record, path)
    with pytest.raises(CheckpointError, match="3 class names for 2 classifier outputs"):
        load_checkpoint(path)
    record["class_names"], record["modality"] = ["a", "b"], "flow"
    torch.save(record, path)
    with pytest.raises(CheckpointError, match="holds modality 'rgb', not 'flow'"):
        load_checkpoint(path)
    record["modality"], record["format_version"] = "rgb", 99
    torch.save(record, path)
    with pytest.raises(CheckpointError, match="version 99 is not supported"):
        load_checkpoint(path)

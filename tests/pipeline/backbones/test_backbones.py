"""Backbone architectures: tap shapes at 224, partial forward passes, reusable tails, bad requests."""
from __future__ import annotations

import pytest
import torch

from twostream.data.errors import TwostreamError
from twostream.pipeline.backbones import (
    BACKBONES,
    Backbone,
    BackboneError,
    backbone_type,
    build_backbone,
    create_backbone,
)

NUM_CLASSES = 7

# Output shape per tap at 224x224, from the published architectures (TSN's BN-Inception halves the
# grid in inception3c and inception4e; VGG's conv5 is 14x14 before pool5; EfficientNet-Lite0's
# stride-2 stages are 2, 3, 4 and 6).
EXPECTED_SHAPES: dict[str, dict[str, tuple[int, ...]]] = {
    "bninception": {
        "conv1": (64, 112, 112),
        "conv2": (192, 56, 56),
        "inception3a": (256, 28, 28),
        "inception3b": (320, 28, 28),
        "inception3c": (576, 14, 14),
        "inception4a": (576, 14, 14),
        "inception4b": (576, 14, 14),
        "inception4c": (608, 14, 14),
        "inception4d": (608, 14, 14),
        "inception4e": (1056, 7, 7),
        "inception5a": (1024, 7, 7),
        "inception5b": (1024, 7, 7),
        "global_pool": (1024,),
        "logits": (NUM_CLASSES,),
    },
    "vgg16": {
        "conv1": (64, 224, 224),
        "conv2": (128, 112, 112),
        "conv3": (256, 56, 56),
        "conv4": (512, 28, 28),
        "conv5": (512, 14, 14),
        "pool5": (512, 7, 7),
        "fc6": (4096,),
        "fc7": (4096,),
        "logits": (NUM_CLASSES,),
    },
    "efficientnet_lite0": {
        "stem": (32, 112, 112),
        "stage1": (16, 112, 112),
        "stage2": (24, 56, 56),
        "stage3": (40, 28, 28),
        "stage4": (80, 14, 14),
        "stage5": (112, 14, 14),
        "stage6": (192, 7, 7),
        "stage7": (320, 7, 7),
        "head": (1280, 7, 7),
        "global_pool": (1280,),
        "logits": (NUM_CLASSES,),
    },
    "tiny": {
        "conv1": (8, 112, 112),
        "conv2": (16, 56, 56),
        "conv3": (32, 28, 28),
        "conv4": (32, 28, 28),
        "global_pool": (32,),
        "logits": (NUM_CLASSES,),
    },
    # A 16-frame clip (channels, time, height, width): Carreira and Zisserman's Inception-v1 inflated, whose
    # 7x7x7 stride-2 stem and 3x3x3 / 2x2x2 stride-2 pools before Mixed_4b and Mixed_5b halve time thrice.
    "i3d": {
        "conv3d_1a": (64, 8, 112, 112),
        "conv3d_2b": (64, 8, 56, 56),
        "conv3d_2c": (192, 8, 56, 56),
        "mixed_3b": (256, 8, 28, 28),
        "mixed_3c": (480, 8, 28, 28),
        "mixed_4b": (512, 4, 14, 14),
        "mixed_4c": (512, 4, 14, 14),
        "mixed_4d": (512, 4, 14, 14),
        "mixed_4e": (528, 4, 14, 14),
        "mixed_4f": (832, 4, 14, 14),
        "mixed_5b": (832, 2, 7, 7),
        "mixed_5c": (1024, 2, 7, 7),
        "global_pool": (1024,),
        "logits": (NUM_CLASSES,),
    },
}
EXPECTED_SHAPES["vgg19"] = EXPECTED_SHAPES["vgg16"]
MAP_TAPS = {"bninception": "inception4e", "vgg16": "conv5", "vgg19": "conv5", "efficientnet_lite0": "stage6", "tiny": "conv3",
            "i3d": "mixed_4f"}
# Park et al.'s A and B: the last convolutional maps; what follows them is pooling and the fully connected layers.
LAST_MAPS = {
    "bninception": ("inception5b", ("global_pool", "logits"), {"fc.weight", "fc.bias"}),
    "vgg16": ("conv5", ("pool5", "fc6", "fc7", "logits"),
              {f"classifier.{i}.{p}" for i in (0, 3, 6) for p in ("weight", "bias")}),
    "efficientnet_lite0": ("head", ("global_pool", "logits"), {"_fc.weight", "_fc.bias"}),
    "tiny": ("conv4", ("global_pool", "logits"), {"fc.weight", "fc.bias"}),
    "i3d": ("mixed_5c", ("global_pool", "logits"), {"logits.conv3d.weight", "logits.conv3d.bias"}),
}
LAST_MAPS["vgg19"] = LAST_MAPS["vgg16"]
POOLED_TAPS = {"bninception": "global_pool", "vgg16": "fc7", "vgg19": "fc7", "efficientnet_lite0": "global_pool",
               "tiny": "global_pool", "i3d": "global_pool"}
FEATURE_DIMS = {"bninception": 1024, "vgg16": 4096, "vgg19": 4096, "efficientnet_lite0": 1280, "tiny": 32, "i3d": 1024}


@pytest.fixture(scope="module", params=BACKBONES)
def rgb_net(request: pytest.FixtureRequest) -> Backbone:
    torch.manual_seed(0)
    return build_backbone(request.param, "rgb", NUM_CLASSES).eval()


def test_every_backbone_has_expected_shapes() -> None:
    assert set(EXPECTED_SHAPES) == set(BACKBONES)


def test_every_tap_has_its_shape_at_224(rgb_net: Backbone) -> None:
    expected = EXPECTED_SHAPES[rgb_net.name]
    assert rgb_net.taps == tuple(expected)
    with torch.no_grad():
        outputs = rgb_net.forward_taps(torch.randn(rgb_net.input_shape(224, 224)), rgb_net.taps)
    assert {tap: tuple(value.shape[1:]) for tap, value in outputs.items()} == expected
    assert {tap: rgb_net.tap_shape(tap) for tap in rgb_net.taps} == expected
    assert rgb_net.feature_dim == FEATURE_DIMS[rgb_net.name]
    assert rgb_net.map_tap == MAP_TAPS[rgb_net.name]
    assert set(rgb_net.default_taps) <= set(rgb_net.taps) and rgb_net.default_taps[-1] == "logits"
    assert rgb_net.map_tap in rgb_net.default_taps


def test_each_backbone_declares_its_last_map_and_pooled_taps_and_extracts_them_by_default(rgb_net: Backbone) -> None:
    last_map, tail_stages, tail_parameters = LAST_MAPS[rgb_net.name]
    declared = backbone_type(rgb_net.name)
    assert (declared.LAST_MAP_TAP, declared.POOLED_TAP) == (rgb_net.last_map_tap, rgb_net.pooled_tap)
    assert rgb_net.last_map_tap == last_map and rgb_net.pooled_tap == POOLED_TAPS[rgb_net.name]
    assert {rgb_net.map_tap, rgb_net.last_map_tap, rgb_net.pooled_tap, "logits"} == set(rgb_net.default_taps)
    tail = rgb_net.classifier_after(rgb_net.last_map_tap)
    assert tail.stages == tail_stages and tail.input_tap == last_map and rgb_net.input_tap is None
    convolutions = (torch.nn.Conv2d, torch.nn.Conv3d)
    assert not any(isinstance(module, convolutions) and module.kernel_size != (1, 1, 1) for module in tail.modules())
    assert {name for name, p in tail.named_parameters() if p.requires_grad} == tail_parameters
    assert rgb_net.TAPS[rgb_net.TAPS.index(rgb_net.pooled_tap) + 1] == "logits"  # the classifier's input


def test_layers_after_map_tap_reproduce_the_pooled_vector(rgb_net: Backbone) -> None:
    x = torch.randn(rgb_net.input_shape(224, 224))
    with torch.no_grad():
        outputs = rgb_net.forward_taps(x, [rgb_net.map_tap, rgb_net.pooled_tap])
        tail = rgb_net.layers_after(rgb_net.map_tap)
        assert tail.training and all(p.requires_grad for p in tail.parameters())
        pooled = tail.eval()(outputs[rgb_net.map_tap])
    assert pooled.shape == (1, rgb_net.feature_dim)
    torch.testing.assert_close(pooled, outputs[rgb_net.pooled_tap], rtol=1e-4, atol=1e-4)


def test_layers_after_is_an_independent_copy() -> None:
    net = build_backbone("tiny", "rgb", NUM_CLASSES)
    tail = net.layers_after("conv3")
    assert tail.stages == ("conv4", "global_pool")
    before = net.conv4.conv.weight.detach().clone()
    with torch.no_grad():
        tail.conv4.conv.weight.add_(1.0)
    torch.testing.assert_close(net.conv4.conv.weight, before)


def test_bninception_tail_after_inception4e_holds_inception5() -> None:
    with torch.device("meta"):
        net = create_backbone("bninception", NUM_CLASSES)
    tail = net.layers_after("inception4e")
    assert tail.stages == ("inception5a", "inception5b", "global_pool")
    prefixes = {key.split("_")[1] for key in tail.state_dict()}
    assert prefixes == {"5a", "5b"}


def test_vgg_classifier_after_conv5_reproduces_logits() -> None:
    torch.manual_seed(0)
    net = build_backbone("vgg16", "rgb", NUM_CLASSES).eval()
    with torch.no_grad():
        outputs = net.forward_taps(torch.randn(1, 3, 224, 224), ["conv5", "logits"])
        head = net.classifier_after("conv5")
        assert head.stages == ("pool5", "fc6", "fc7", "logits")
        assert {key.split(".")[0] for key in head.state_dict()} == {"classifier"}
        logits = head.eval()(outputs["conv5"])
    torch.testing.assert_close(logits, outputs["logits"], rtol=1e-4, atol=1e-4)


def test_forward_taps_stops_after_the_last_requested_tap() -> None:
    net = build_backbone("tiny", "rgb", NUM_CLASSES)
    reached: list[str] = []
    net.conv3.register_forward_hook(lambda *_: reached.append("conv3"))
    net.fc.register_forward_hook(lambda *_: reached.append("fc"))
    outputs = net.forward_taps(torch.randn(2, 3, 64, 64), ["conv2", "conv1"])
    assert list(outputs) == ["conv1", "conv2"] and reached == []
    net(torch.randn(2, 3, 64, 64))
    assert reached == ["conv3", "fc"]


def test_forward_returns_logits_for_any_input_size() -> None:
    net = build_backbone("bninception", "rgb", NUM_CLASSES).eval()
    with torch.no_grad():
        assert net(torch.randn(2, 3, 160, 192)).shape == (2, NUM_CLASSES)
    assert net.tap_shape("inception4e", (160, 192)) == (1056, 5, 6)


@pytest.mark.parametrize(
    ("call", "fragment"),
    [
        (lambda: build_backbone("resnet50", "rgb", 3), "unknown backbone 'resnet50'"),
        (lambda: build_backbone("tiny", "depth", 3), "unknown modality 'depth'"),
        (lambda: build_backbone("tiny", "rgb", 0), "num_classes"),
        (lambda: build_backbone("tiny", "rgb", 3, dropout=1.5), "dropout"),
        (lambda: build_backbone("bninception", "rgb", 3, pretrained=True), "no ImageNet weights"),
        (lambda: build_backbone("tiny", "rgb", 3).forward_taps(torch.zeros(1, 3, 32, 32), ["fc9"]), "no tap 'fc9'"),
        (lambda: build_backbone("tiny", "rgb", 3).forward_taps(torch.zeros(1, 3, 32, 32), []), "no taps requested"),
        (lambda: build_backbone("tiny", "rgb", 3).layers_after("logits"), "no layers between"),
        (lambda: build_backbone("tiny", "rgb", 3).layers_after("conv3").layers_after("conv1"), "lacks the stages"),
        (lambda: build_backbone("tiny", "rgb", 3).tap_shape("pool9"), "no tap 'pool9'"),
    ],
)
def test_bad_requests_raise_clear_errors(call, fragment: str) -> None:
    with pytest.raises(BackboneError, match=fragment) as raised:
        call()
    assert isinstance(raised.value, TwostreamError)

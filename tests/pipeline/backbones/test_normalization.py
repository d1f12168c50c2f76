"""Input normalisation carried by checkpoints: Caffe BGR means, ImageNet mean/std, flow offsets."""
from __future__ import annotations

import pytest
import torch

from twostream.pipeline.backbones import CAFFE_TSN, IMAGENET, TSN_PYTORCH, BackboneError, Normalization, build_backbone


def _pixel(red: int, green: int, blue: int) -> torch.Tensor:
    return torch.tensor([red, green, blue], dtype=torch.uint8).view(1, 3, 1, 1)


def test_caffe_tsn_reorders_to_bgr_and_subtracts_means_in_0_255() -> None:
    out = CAFFE_TSN.apply(_pixel(200, 100, 50), "rgb").flatten().tolist()
    assert out == [50 - 104, 100 - 117, 200 - 123]


def test_tsn_pytorch_uses_a_red_mean_of_128() -> None:
    assert TSN_PYTORCH.apply(_pixel(128, 117, 104), "rgb").abs().max().item() == 0.0


def test_imagenet_scales_to_0_1_and_standardises_in_rgb_order() -> None:
    out = IMAGENET.apply(_pixel(255, 0, 51), "rgb").flatten()
    expected = torch.tensor([(1.0 - 0.485) / 0.229, (0.0 - 0.456) / 0.224, (0.2 - 0.406) / 0.225])
    torch.testing.assert_close(out, expected)


def test_flow_is_centred_on_128() -> None:
    stack = torch.full((1, 10, 2, 2), 128, dtype=torch.uint8)
    assert CAFFE_TSN.apply(stack, "flow").abs().max().item() == 0.0
    assert IMAGENET.apply(stack, "flow").abs().max().item() < 0.01
    torch.testing.assert_close(CAFFE_TSN.apply(stack + 20, "flow"), torch.full((1, 10, 2, 2), 20.0))


def test_round_trip_through_dict() -> None:
    for normalization in (CAFFE_TSN, TSN_PYTORCH, IMAGENET):
        assert Normalization.from_dict(normalization.to_dict()) == normalization


def test_malformed_normalisation_is_refused() -> None:
    with pytest.raises(BackboneError, match="malformed normalisation"):
        Normalization.from_dict({"name": "x"})
    with pytest.raises(BackboneError, match="channel_order"):
        Normalization("x", "gbr", 1.0, (0, 0, 0), (1, 1, 1), 0.5, 0.5)
    with pytest.raises(BackboneError, match="RGB input needs 3 channels"):
        IMAGENET.apply(torch.zeros(1, 4, 2, 2), "rgb")
    with pytest.raises(BackboneError, match="unknown modality"):
        IMAGENET.apply(torch.zeros(1, 3, 2, 2), "depth")


@pytest.mark.parametrize(("name", "expected"), [("bninception", CAFFE_TSN), ("vgg16", IMAGENET), ("efficientnet_lite0", IMAGENET)])
def test_architectures_default_to_their_checkpoints_normalisation(name: str, expected: Normalization) -> None:
    with torch.device("meta"):
        assert build_backbone(name, "rgb", 2).normalization == expected

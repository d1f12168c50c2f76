"""BN-Inception checkpoints in the layouts other tools write, generated from those tools' definitions,
load strictly and give the logits of the Caffe network they came from."""
from __future__ import annotations

from collections.abc import Callable
from functools import partial
from pathlib import Path

import pytest
import torch

from tests.pipeline.backbones import bninception_formats as formats
from twostream.pipeline.backbones import (
    CAFFE_TSN,
    IMAGENET,
    TSN_PYTORCH,
    CheckpointError,
    load_checkpoint,
    normalization_named,
)

UCF101, KINETICS, IMAGENET_CLASSES = 101, 400, 1000


@pytest.fixture(scope="module")
def nets() -> dict[tuple[int, int], formats.CaffeNet]:
    """Caffe networks by (input channels, classes), made once."""
    return {key: formats.caffe_net(*key, seed=sum(key)) for key in ((3, UCF101), (10, UCF101), (3, KINETICS),
                                                                     (3, IMAGENET_CLASSES))}


def _save_legacy(obj: object, path: Path) -> None:
    """These tools all predate PyTorch 1.6, so their files are the legacy (non-zip) torch.save container."""
    torch.save(obj, path, _use_new_zipfile_serialization=False)


def _assert_same_logits(path: Path, net: formats.CaffeNet, in_channels: int, **options) -> None:
    built = load_checkpoint(path, **options).build()
    x = torch.randn(1, in_channels, 224, 224, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        torch.testing.assert_close(built(x), formats.caffe_forward(net, x), rtol=1e-4, atol=1e-4)


CASES: list[tuple[str, Callable, tuple[int, int], str, object]] = [
    ("tsn-pytorch", formats.tsn_pytorch, (3, UCF101), "tsn_pytorch", TSN_PYTORCH),
    ("tsn-pytorch flow", formats.tsn_pytorch, (10, UCF101), "tsn_pytorch", TSN_PYTORCH),
    ("mmaction 0.x", formats.mmaction, (10, UCF101), "mmaction", TSN_PYTORCH),
    ("caffe layer names", formats.raw_caffe, (3, UCF101), "caffe_tsn", CAFFE_TSN),
    ("parse_caffe.py", formats.parse_caffe, (10, UCF101), "tsn_parse_caffe", CAFFE_TSN),
    ("caffe2pytorch-tsn", formats.caffe2pytorch_tsn, (3, UCF101), "caffe2pytorch_tsn", CAFFE_TSN),
    ("caffe2pytorch-tsn flow", formats.caffe2pytorch_tsn, (10, UCF101), "caffe2pytorch_tsn", CAFFE_TSN),
    ("caffe2pytorch-tsn kinetics", partial(formats.caffe2pytorch_tsn, classifier="fc_action"), (3, KINETICS),
     "caffe2pytorch_tsn", CAFFE_TSN),
    ("tsn-pytorch imagenet", formats.tsn_pytorch_imagenet, (3, IMAGENET_CLASSES), "plain", TSN_PYTORCH),
    ("pretrainedmodels", formats.pretrainedmodels, (3, IMAGENET_CLASSES), "pretrainedmodels", TSN_PYTORCH),
]


@pytest.mark.parametrize(("writer", "key", "expected_format", "expected_normalization"),
                         [case[1:] for case in CASES], ids=[case[0] for case in CASES])
def test_foreign_layouts_load_strictly_with_the_source_logits(tmp_path: Path, nets, writer, key, expected_format,
                                                               expected_normalization) -> None:
    in_channels, num_classes = key
    path = tmp_path / "model.pth"
    _save_legacy(writer(nets[key]), path)
    loaded = load_checkpoint(path)
    assert (loaded.format, loaded.backbone, loaded.in_channels, loaded.num_classes) == (
        expected_format, "bninception", in_channels, num_classes)
    assert loaded.normalization == expected_normalization
    _assert_same_logits(path, nets[key], in_channels)


def test_caffe2pytorch_tsn_keys_are_the_published_ones(nets) -> None:
    # test_models.py of caffe2pytorch-tsn keeps the first 18 keys, strips 7 characters from the next 396
    # and reads the classifier from `base_model.fc-action.1`.
    keys = list(formats.caffe2pytorch_tsn(nets[(3, UCF101)]))
    assert len(keys) == 416 and keys[0] == "base_model.conv1_7x7_s2.weight"
    assert all(key[7:].startswith("base_model.") for key in keys[18:414])
    assert "11.0.0.base_model.inception_3a_1x1.weight" in keys and keys[-1] == "base_model.fc-action.1.bias"


def test_a_gated_tsn_file_gives_each_stream_by_its_prefix(tmp_path: Path, nets) -> None:
    rgb, flow = nets[(3, UCF101)], nets[(10, UCF101)]
    path = tmp_path / "gated_tsn.pth"
    _save_legacy(formats.gated_tsn(rgb, flow, seed=3), path)
    with pytest.raises(CheckpointError, match=r"groups rgb_, flow_.*--rgb-prefix"):
        load_checkpoint(path)
    with pytest.raises(CheckpointError, match="no key starts with the prefix 'spatial_'.*rgb_, flow_"):
        load_checkpoint(path, prefix="spatial_")
    assert load_checkpoint(path, prefix="flow_").modality == "flow"
    _assert_same_logits(path, rgb, 3, prefix="rgb_")


def test_normalization_can_be_overridden_by_name(tmp_path: Path, nets) -> None:
    path = tmp_path / "ucf101_rgb.pth"
    _save_legacy(formats.caffe2pytorch_tsn(nets[(3, UCF101)]), path)
    loaded = load_checkpoint(path, normalization=normalization_named("tsn_pytorch"))
    assert loaded.normalization == TSN_PYTORCH and loaded.build().normalization == TSN_PYTORCH
    assert normalization_named("imagenet") == IMAGENET
    with pytest.raises(Exception, match="unknown normalisation 'bgr': use one of caffe_tsn, tsn_pytorch, imagenet"):
        normalization_named("bgr")


def test_an_unknown_layout_names_the_keys_that_do_not_fit(tmp_path: Path, nets) -> None:
    state = formats.parse_caffe(nets[(3, UCF101)])
    state = {key.replace("inception_", "mixed_"): value for key, value in state.items()}
    path = tmp_path / "renamed.pth"
    torch.save(state, path)
    with pytest.raises(CheckpointError) as raised:
        load_checkpoint(path)
    message = str(raised.value)
    assert "mixed_3a_1x1.weight" in message and "conv1_7x7_s2" not in message.split("(")[1].split(")")[0]
    assert "strict=False (--strict false)" in message and "pass backbone" not in message
    loaded = load_checkpoint(path, strict=False)
    assert loaded.backbone == "bninception" and "mixed_3a_1x1.weight" in loaded.unexpected_keys


def test_tsn_pytorch_wrapper_entries_are_kept_as_information(tmp_path: Path, nets) -> None:
    path = tmp_path / "ucf101_rgb_checkpoint.pth.tar"
    _save_legacy(formats.tsn_pytorch(nets[(3, UCF101)]), path)
    assert load_checkpoint(path).config == {"epoch": 80, "arch": "BNInception", "best_prec1": 85.5}

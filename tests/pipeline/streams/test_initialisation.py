"""Where stream training starts: a user's BN-Inception ImageNet file, cross-modality initialised for flow."""
from __future__ import annotations

from pathlib import Path

import torch

from tests.pipeline.backbones import bninception_formats as formats
from twostream.pipeline.backbones import TSN_PYTORCH
from twostream.pipeline.streams.initialisation import initial_network


def test_training_starts_from_cadene_imagenet_bninception(tmp_path: Path) -> None:
    net = formats.caffe_net(3, 1000, seed=7)
    path = tmp_path / "bn_inception-52deb4733.pth"
    torch.save(formats.pretrainedmodels(net), path, _use_new_zipfile_serialization=False)
    flow = initial_network("bninception", "flow", 5, dropout=0.7, pretrained=False, init_checkpoint=path)
    assert flow.normalization == TSN_PYTORCH and flow.num_classes == 5 and flow.training
    expected = net["conv1/7x7_s2"][0].mean(1, keepdim=True).repeat(1, 10, 1, 1)
    torch.testing.assert_close(flow.state_dict()[f"{flow.FIRST_CONV}.weight"], expected)

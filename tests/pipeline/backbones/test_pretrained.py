"""EfficientNet-Lite0 with the ImageNet weights that install offline, checked on real photos."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from twostream.pipeline.backbones import build_backbone

# Photos in the shared data and the ImageNet class each shows (see its README).
PHOTOS = {
    "squirrel_cls.jpg": "fox squirrel",
    "baboon.jpg": "baboon",
    "messi5.jpg": "soccer ball",
    "orange.jpg": "orange",
}


def _centre_crop_224(path: Path) -> torch.Tensor:
    """Resize the short side to 256 (bilinear, as torchvision's Resize) and take the centre 224 crop."""
    image = Image.open(path).convert("RGB")
    scale = 256 / min(image.size)
    image = image.resize((round(image.width * scale), round(image.height * scale)), Image.BILINEAR)
    left, top = (image.width - 224) // 2, (image.height - 224) // 2
    crop = np.asarray(image.crop((left, top, left + 224, top + 224)))
    return torch.from_numpy(crop.copy()).permute(2, 0, 1)


@pytest.fixture(scope="module")
def imagenet_classes(shared_data: Path) -> list[str]:
    return (shared_data / "images" / "imagenet_classes.txt").read_text().splitlines()


def test_efficientnet_lite0_recognises_real_photos(shared_data: Path, imagenet_classes: list[str]) -> None:
    net = build_backbone("efficientnet_lite0", "rgb", 1000, pretrained=True).eval()
    batch = torch.stack([_centre_crop_224(shared_data / "images" / name) for name in PHOTOS])
    with torch.no_grad():
        probabilities = net(net.normalization.apply(batch, "rgb")).softmax(dim=1)
    confidence, index = probabilities.max(dim=1)
    predicted = [imagenet_classes[i].split(",")[0] for i in index.tolist()]
    assert predicted == list(PHOTOS.values())
    assert confidence.min().item() > 0.25


def test_pretrained_with_other_class_count_keeps_the_body() -> None:
    full = build_backbone("efficientnet_lite0", "rgb", 1000, pretrained=True)
    torch.manual_seed(0)
    fresh_head = build_backbone("efficientnet_lite0", "rgb", 12, pretrained=True)
    assert fresh_head._fc.weight.shape == (12, 1280)
    torch.testing.assert_close(fresh_head._blocks[15]._project_conv.weight, full._blocks[15]._project_conv.weight)

"""VGG16 and VGG19 with torchvision's parameter names (`features.N.*`, `classifier.N.*`)."""
from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence

import torch
from torch import Tensor, nn

from twostream.pipeline.backbones.base import RGB_CHANNELS, Backbone
from twostream.pipeline.backbones.errors import BackboneError
from twostream.pipeline.backbones.normalization import IMAGENET

CONVS_PER_BLOCK = {16: (2, 2, 3, 3, 3), 19: (2, 2, 4, 4, 4)}
WIDTHS = (64, 128, 256, 512, 512)
FC_WIDTH = 4096
POOL_GRID = 7  # torchvision pools conv5 maps adaptively to 7x7 before fc6
BLOCK_TAPS = ("conv1", "conv2", "conv3", "conv4", "conv5")
# Which classifier entries each fully connected stage runs, as in torchvision's layout.
CLASSIFIER_STAGES = {"fc6": ("0", "1"), "fc7": ("2", "3", "4"), "logits": ("5", "6")}


def feature_layout(depth: int) -> dict[str, tuple[int, ...]]:
    """Indices into `features` that each convolutional stage runs (pooling of the previous block first)."""
    layout: dict[str, tuple[int, ...]] = {}
    index = 0
    for block, convs in enumerate(CONVS_PER_BLOCK[depth]):
        start = index
        index += (1 if block else 0) + 2 * convs
        layout[BLOCK_TAPS[block]] = tuple(range(start, index))
    layout["pool5"] = (index,)
    return layout


class VGG(Backbone):
    """VGG with taps conv1..conv5 (each block's last ReLU), pool5, fc6, fc7, logits.

    `dropout` applies before the final classifier; the dropout between fc6 and fc7 keeps VGG's 0.5.
    """

    TAPS = (*BLOCK_TAPS, "pool5", "fc6", "fc7", "logits")
    DEFAULT_TAPS = ("conv5", "fc7", "logits")
    MAP_TAP = "conv5"
    LAST_MAP_TAP = "conv5"
    POOLED_TAP = "fc7"
    FIRST_CONV = "features.0"
    CLASSIFIER = "classifier.6"

    def __init__(
        self,
        depth: int,
        num_classes: int,
        in_channels: int = RGB_CHANNELS,
        dropout: float = 0.5,
        stages: Sequence[str] | None = None,
    ) -> None:
        if depth not in CONVS_PER_BLOCK:
            raise BackboneError(f"VGG depth {depth} is not supported; use one of {sorted(CONVS_PER_BLOCK)}")
        config = {"depth": depth, "num_classes": num_classes, "in_channels": in_channels, "dropout": dropout}
        super().__init__(f"vgg{depth}", IMAGENET, config, stages)
        self._layout = feature_layout(depth)
        features: OrderedDict[str, nn.Module] = OrderedDict()
        channels = in_channels
        for block, tap in enumerate(BLOCK_TAPS):
            indices = iter(self._layout[tap])
            if block:
                self._maybe_add(features, tap, next(indices), nn.MaxPool2d(2, 2))
            for conv_index, relu_index in zip(indices, indices):
                self._maybe_add(features, tap, conv_index, nn.Conv2d(channels, WIDTHS[block], 3, padding=1))
                self._maybe_add(features, tap, relu_index, nn.ReLU(inplace=True))
                channels = WIDTHS[block]
        self._maybe_add(features, "pool5", self._layout["pool5"][0], nn.MaxPool2d(2, 2))
        if features:
            self.features = nn.Sequential(features)
        classifier = self._classifier_modules(num_classes, dropout)
        if classifier:
            self.avgpool = nn.AdaptiveAvgPool2d(POOL_GRID)
            self.classifier = nn.Sequential(classifier)
        self._initialise()

    def _maybe_add(self, modules: OrderedDict[str, nn.Module], stage: str, index: int, module: nn.Module) -> None:
        if self.builds(stage):
            modules[str(index)] = module

    def _classifier_modules(self, num_classes: int, dropout: float) -> OrderedDict[str, nn.Module]:
        candidates = {
            "0": nn.Linear(WIDTHS[-1] * POOL_GRID * POOL_GRID, FC_WIDTH),
            "1": nn.ReLU(inplace=True),
            "2": nn.Dropout(0.5),
            "3": nn.Linear(FC_WIDTH, FC_WIDTH),
            "4": nn.ReLU(inplace=True),
            "5": nn.Dropout(dropout),
            "6": nn.Linear(FC_WIDTH, num_classes),
        }
        chosen = [key for stage, keys in CLASSIFIER_STAGES.items() if self.builds(stage) for key in keys]
        return OrderedDict((key, candidates[key]) for key in chosen)

    def _initialise(self) -> None:
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
                nn.init.zeros_(module.bias)
            elif isinstance(module, nn.Linear):
                nn.init.normal_(module.weight, 0.0, 0.01)
                nn.init.zeros_(module.bias)

    def _forward_stage(self, stage: str, x: Tensor) -> Tensor:
        if stage in self._layout:
            features = self.features._modules
            for index in self._layout[stage]:
                x = features[str(index)](x)
            return x
        if stage == "fc6":
            x = torch.flatten(self.avgpool(x), 1)
        classifier = self.classifier._modules
        for key in CLASSIFIER_STAGES[stage]:
            x = classifier[key](x)
        return x

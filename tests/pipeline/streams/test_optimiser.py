"""The stream trainer's parameter groups: decay on weights only, faster first conv (flow) and classifier."""
import pytest

from twostream.data.errors import TwostreamError
from twostream.pipeline.backbones import build_backbone
from twostream.pipeline.streams.optimiser import FLOW_FIRST_CONV_LR_MULT, parameter_groups
from twostream.pipeline.streams.train_streams import StreamTrainingConfig


def _group_of(groups: list[dict], parameter) -> dict:
    return next(group for group in groups if any(p is parameter for p in group["params"]))


def test_weights_decay_biases_do_not_and_the_flow_first_conv_learns_faster():
    net = build_backbone("tiny", "flow", 4)
    groups = parameter_groups(net, 0.01, 5e-4)
    assert _group_of(groups, net.conv1.conv.weight)["lr"] == pytest.approx(0.01 * FLOW_FIRST_CONV_LR_MULT)
    inner = _group_of(groups, net.conv2.conv.weight)
    assert inner["lr"] == 0.01 and inner["weight_decay"] == 5e-4
    assert _group_of(groups, net.conv2.bn.weight)["weight_decay"] == 0.0
    assert _group_of(groups, net.fc.weight)["lr"] == 0.01  # TSN: the classifier learns at the common rate
    assert sum(len(group["params"]) for group in groups) == len(list(net.parameters()))


def test_a_classifier_multiplier_speeds_up_only_the_new_classifier():
    net = build_backbone("tiny", "rgb", 4)
    groups = parameter_groups(net, 0.01, 5e-4, classifier_lr_mult=10.0)
    assert _group_of(groups, net.fc.weight)["lr"] == pytest.approx(0.1)
    assert _group_of(groups, net.fc.bias)["lr"] == pytest.approx(0.1)
    assert _group_of(groups, net.fc.weight)["weight_decay"] == 5e-4
    assert _group_of(groups, net.fc.bias)["weight_decay"] == 0.0  # TSN decays no bias, the new classifier's neither
    assert _group_of(groups, net.conv1.conv.weight)["lr"] == pytest.approx(0.01)  # rgb: no first-conv boost
    assert sum(len(group["params"]) for group in groups) == len(list(net.parameters()))
    with pytest.raises(TwostreamError, match="multiplier must be positive"):
        StreamTrainingConfig(classifier_lr_mult=0.0)

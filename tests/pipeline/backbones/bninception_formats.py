"""BN-Inception checkpoints as other tools write them, generated from those tools' public definitions.

Nothing here reads this project's parameter names. The network is TSN's deploy prototxt
(yjxiong/temporal-segment-networks, models/*/tsn_bn_inception_*_deploy.prototxt): Caffe layers
`conv1/7x7_s2`, `conv2/3x3_reduce`, `conv2/3x3`, then per inception block `inception_<b>/<branch>`
with branches 1x1, 3x3_reduce, 3x3, double_3x3_reduce, double_3x3_1, double_3x3_2 and pool_proj,
each convolution followed by a BN layer `<conv>_bn`, and the classifier `fc-action`. Caffe blobs
keep Caffe's shapes: a BN layer's four blobs (scale, shift, mean, variance) are (1, C, 1, 1).

Each writer renames those layers by its tool's rule:
- parse_caffe.py (TSN's converter, also the source of tsn-pytorch's bn_inception.yaml ids):
  `/` and `-` become `_`; BN blobs become weight, bias, running_mean, running_var.
- tsn-pytorch: modules named by the yaml ids (1-D BN tensors), under `module.base_model.`; its
  classifier `fc` is replaced by dropout and a `module.new_fc` Linear is added.
- mmaction 0.x and Cadene's pretrainedmodels: the same ids as attributes (BN tensors 1-D),
  mmaction under `backbone.` with `cls_head.fc_cls`, Cadene with `last_linear`.
- caffe2pytorch-tsn (Caffe -> HDF5 -> Torch7 -> PyTorch): convolutions and BN keep their Caffe
  name with `/` -> `_` under `base_model.`, nested in the Torch7 Sequential path (each inception
  block is Sequential(ConcatTable(branch, ...), JoinTable) at top-level index 11 + its position);
  ReLU and pooling modules take the next free index. The classifier is Sequential(View, Linear)
  named `base_model.fc-action` (Kinetics: `fc_action`).
"""
from __future__ import annotations

from collections import OrderedDict

import torch
import torch.nn.functional as F
from torch import Tensor

# (block, 1x1, 3x3_reduce, 3x3, double_3x3_reduce, double_3x3, pool, pool_proj, stride) from the prototxt;
# 0 means the branch is absent (the block passes its pooled input through).
BLOCKS = (
    ("3a", 64, 64, 64, 64, 96, "ave", 32, 1),
    ("3b", 64, 64, 96, 64, 96, "ave", 64, 1),
    ("3c", 0, 128, 160, 64, 96, "max", 0, 2),
    ("4a", 224, 64, 96, 96, 128, "ave", 128, 1),
    ("4b", 192, 96, 128, 96, 128, "ave", 128, 1),
    ("4c", 160, 128, 160, 128, 160, "ave", 128, 1),
    ("4d", 96, 128, 192, 160, 192, "ave", 128, 1),
    ("4e", 0, 128, 192, 192, 256, "max", 0, 2),
    ("5a", 352, 192, 320, 160, 224, "ave", 128, 1),
    ("5b", 352, 192, 320, 192, 224, "max", 128, 1),
)
FEATURES = 1024
BN_BLOBS = ("weight", "bias", "running_mean", "running_var")
CaffeNet = dict[str, list[Tensor]]  # Caffe layer name -> its blobs, in prototxt order


def _conv(net: dict, name: str, in_channels: int, out_channels: int, kernel: int, generator: torch.Generator) -> None:
    fan_in = in_channels * kernel * kernel
    net[name] = [torch.randn(out_channels, in_channels, kernel, kernel, generator=generator) / fan_in ** 0.5,
                 torch.randn(out_channels, generator=generator) * 0.1]
    net[f"{name}_bn"] = [1 + 0.1 * torch.randn(1, out_channels, 1, 1, generator=generator),
                         0.1 * torch.randn(1, out_channels, 1, 1, generator=generator),
                         0.1 * torch.randn(1, out_channels, 1, 1, generator=generator),
                         0.5 + torch.rand(1, out_channels, 1, 1, generator=generator)]


def caffe_net(in_channels: int, num_classes: int, seed: int) -> CaffeNet:
    """Random blobs for every parameterised layer of TSN's BN-Inception deploy prototxt."""
    generator = torch.Generator().manual_seed(seed)
    net: dict[str, list[Tensor]] = OrderedDict()
    _conv(net, "conv1/7x7_s2", in_channels, 64, 7, generator)
    _conv(net, "conv2/3x3_reduce", 64, 64, 1, generator)
    _conv(net, "conv2/3x3", 64, 192, 3, generator)
    width = 192
    for block, c1x1, c3r, c3, dr, d, _pool, proj, _stride in BLOCKS:
        prefix = f"inception_{block}"
        if c1x1:
            _conv(net, f"{prefix}/1x1", width, c1x1, 1, generator)
        _conv(net, f"{prefix}/3x3_reduce", width, c3r, 1, generator)
        _conv(net, f"{prefix}/3x3", c3r, c3, 3, generator)
        _conv(net, f"{prefix}/double_3x3_reduce", width, dr, 1, generator)
        _conv(net, f"{prefix}/double_3x3_1", dr, d, 3, generator)
        _conv(net, f"{prefix}/double_3x3_2", d, d, 3, generator)
        if proj:
            _conv(net, f"{prefix}/pool_proj", width, proj, 1, generator)
        width = c1x1 + c3 + d + (proj or width)
    assert width == FEATURES
    net["fc-action"] = [torch.randn(num_classes, FEATURES, generator=generator) / FEATURES ** 0.5,
                        0.1 * torch.randn(num_classes, generator=generator)]
    return net


def caffe_forward(net: CaffeNet, x: Tensor) -> Tensor:
    """The prototxt's forward pass over the blobs: Caffe pooling rounds up, BN uses the stored statistics."""
    def unit(name: str, x: Tensor, stride: int = 1) -> Tensor:
        weight, bias = net[name]
        x = F.conv2d(x, weight, bias, stride=stride, padding=weight.shape[-1] // 2)
        scale, shift, mean, var = (blob.flatten() for blob in net[f"{name}_bn"])
        return F.relu(F.batch_norm(x, mean, var, scale, shift, training=False, eps=1e-5))

    x = unit("conv1/7x7_s2", x, 2)
    x = F.max_pool2d(x, 3, 2, ceil_mode=True)
    x = unit("conv2/3x3", unit("conv2/3x3_reduce", x))
    x = F.max_pool2d(x, 3, 2, ceil_mode=True)
    for block, c1x1, _c3r, _c3, _dr, _d, pool, proj, stride in BLOCKS:
        p = f"inception_{block}/"
        branches = [unit(f"{p}1x1", x)] if c1x1 else []
        branches.append(unit(f"{p}3x3", unit(f"{p}3x3_reduce", x), stride))
        branches.append(unit(f"{p}double_3x3_2", unit(f"{p}double_3x3_1", unit(f"{p}double_3x3_reduce", x)), stride))
        if stride == 2:
            pooled = F.max_pool2d(x, 3, 2, ceil_mode=True)
        elif pool == "max":
            pooled = F.max_pool2d(x, 3, 1, 1, ceil_mode=True)
        else:
            pooled = F.avg_pool2d(x, 3, 1, 1, ceil_mode=True, count_include_pad=True)
        branches.append(unit(f"{p}pool_proj", pooled) if proj else pooled)
        x = torch.cat(branches, 1)
    weight, bias = net["fc-action"]
    return F.linear(x.mean((2, 3)), weight, bias)


def _blobs_by_param(name: str, blobs: list[Tensor]) -> dict[str, Tensor]:
    params = BN_BLOBS if name.endswith("_bn") else BN_BLOBS[:2]
    return dict(zip(params, blobs))


def raw_caffe(net: CaffeNet) -> dict[str, Tensor]:
    """Caffe layer names and blob shapes, `<layer>.<param>`."""
    return {f"{name}.{param}": blob for name, blobs in net.items() for param, blob in _blobs_by_param(name, blobs).items()}


def _underscored(name: str) -> str:
    return name.replace("/", "_").replace("-", "_")


def parse_caffe(net: CaffeNet) -> dict[str, Tensor]:
    """TSN's parse_caffe.py dump: `/` and `-` become `_`, blobs keep Caffe's shapes."""
    return {_underscored(key): value for key, value in raw_caffe(net).items()}


def _module_state(net: CaffeNet, classifier: str | None, counters: bool = False) -> dict[str, Tensor]:
    """A yaml-built (or attribute-per-layer) module's state dict: yaml ids, 1-D BN tensors."""
    state: dict[str, Tensor] = OrderedDict()
    for name, blobs in net.items():
        layer = _underscored(name) if name != "fc-action" else classifier
        if layer is None:
            continue
        for param, blob in _blobs_by_param(name, blobs).items():
            state[f"{layer}.{param}"] = blob.flatten() if name.endswith("_bn") else blob
        if counters and name.endswith("_bn"):
            state[f"{layer}.num_batches_tracked"] = torch.tensor(0)
    return state


def tsn_pytorch_imagenet(net: CaffeNet) -> dict[str, Tensor]:
    """tsn-pytorch's ImageNet BN-Inception file: yaml ids, the 1000-way classifier `fc`."""
    return _module_state(net, "fc")


def pretrainedmodels(net: CaffeNet) -> dict[str, Tensor]:
    """Cadene's pretrainedmodels BN-Inception: the same ids, classifier `last_linear`."""
    return _module_state(net, "last_linear")


def tsn_pytorch(net: CaffeNet) -> dict:
    """A tsn-pytorch training checkpoint: DataParallel-wrapped TSN, `base_model` without fc, `new_fc`."""
    body = _module_state(net, None)
    state = OrderedDict((f"module.base_model.{key}", value) for key, value in body.items())
    weight, bias = net["fc-action"]
    state.update({"module.new_fc.weight": weight, "module.new_fc.bias": bias})
    return {"epoch": 80, "arch": "BNInception", "state_dict": state, "best_prec1": 85.5}


def mmaction(net: CaffeNet) -> dict:
    """An mmaction 0.x TSN2D checkpoint: `backbone.` attributes (with BN step counters), `cls_head.fc_cls`."""
    state = OrderedDict((f"backbone.{key}", value) for key, value in _module_state(net, None, counters=True).items())
    weight, bias = net["fc-action"]
    state.update({"cls_head.fc_cls.weight": weight, "cls_head.fc_cls.bias": bias})
    return {"meta": {"mmcv_version": "0.2.10", "time": "Thu Jan  1 00:00:00 2020"}, "state_dict": state}


def caffe2pytorch_tsn(net: CaffeNet, classifier: str = "fc-action") -> dict[str, Tensor]:
    """caffe2pytorch-tsn's state dict: Torch7 Sequential paths around `base_model.<layer>` names."""
    state: dict[str, Tensor] = OrderedDict()

    def add(path: str, name: str) -> None:
        for param, blob in _blobs_by_param(name, net[name]).items():
            state[f"{path}base_model.{_underscored(name)}.{param}"] = blob.flatten() if name.endswith("_bn") else blob

    for name in ("conv1/7x7_s2", "conv1/7x7_s2_bn", "conv2/3x3_reduce", "conv2/3x3_reduce_bn",
                 "conv2/3x3", "conv2/3x3_bn"):
        add("", name)
    # Top level: conv1, bn, relu, pool, conv2 reduce, bn, relu, conv2, bn, relu, pool -> blocks from index 11.
    for position, (block, c1x1, _c3r, _c3, _dr, _d, _pool, proj, _stride) in enumerate(BLOCKS):
        branches = ([["1x1"]] if c1x1 else []) + [["3x3_reduce", "3x3"], ["double_3x3_reduce", "double_3x3_1",
                                                                           "double_3x3_2"]]
        branches.append(["pool_proj"] if proj else [])
        for index, convs in enumerate(branches):
            for conv in convs:
                layer = f"inception_{block}/{conv}"
                add(f"{11 + position}.0.{index}.", layer)
                add(f"{11 + position}.0.{index}.", f"{layer}_bn")
    weight, bias = net["fc-action"]
    head = f"base_model.{classifier}.1"
    state.update({f"{head}.weight": weight, f"{head}.bias": bias})
    return state


def gated_tsn(rgb: CaffeNet, flow: CaffeNet, seed: int) -> dict[str, Tensor]:
    """One file holding both streams and a gating net, each under its own prefix of parse_caffe names."""
    generator = torch.Generator().manual_seed(seed)
    state = {f"rgb_{key}": value for key, value in parse_caffe(rgb).items()}
    state.update({f"flow_{key}": value for key, value in parse_caffe(flow).items()})
    state.update({"gating_conv1.weight": torch.randn(512, 1056, 3, 3, generator=generator),
                  "gating_conv1.bias": torch.zeros(512), "gating_fc.weight": torch.randn(2, 512, generator=generator),
                  "gating_fc.bias": torch.zeros(2)})
    return state


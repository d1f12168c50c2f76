"""Joining the two streams' feature maps at a tap: channel concatenation, or concatenation and a 1x1 conv."""
from __future__ import annotations

import torch
from torch import nn

from twostream.fusion.errors import FusionError
from twostream.fusion.heads.layers import Concat, check_pair

MAP_FUSIONS: tuple[str, ...] = ("concat", "conv")


class ConvFusion(nn.Module):
    """Concatenate the two maps, then a learned 1x1 convolution to `out_channels`.

    With `average_init` (and equal widths in and out) the convolution starts as the mean of the two
    streams, so a body pretrained on one stream's maps sees maps of the usual width and scale.
    """

    def __init__(self, rgb_channels: int, flow_channels: int, out_channels: int | None = None,
                 average_init: bool = True, bias: bool = True) -> None:
        """A 1x1 conv from rgb_channels + flow_channels to out_channels (default: rgb_channels)."""
        super().__init__()
        self.out_dim = out_channels or rgb_channels
        self.conv = nn.Conv2d(rgb_channels + flow_channels, self.out_dim, kernel_size=1, bias=bias)
        if average_init:
            if not rgb_channels == flow_channels == self.out_dim:
                raise FusionError(
                    "averaging initialisation needs equal rgb, flow and output widths; "
                    f"got {rgb_channels}, {flow_channels}, {self.out_dim}"
                )
            with torch.no_grad():
                identity = torch.eye(self.out_dim) / 2
                self.conv.weight.copy_(torch.cat([identity, identity], dim=1)[:, :, None, None])
                if bias:
                    self.conv.bias.zero_()

    def forward(self, rgb: torch.Tensor, flow: torch.Tensor) -> torch.Tensor:
        """Return the convolved concatenation, (N, out_channels, H, W)."""
        check_pair(rgb, flow, maps=True)
        return self.conv(torch.cat([rgb, flow], dim=1))


def make_map_fusion(kind: str, rgb_channels: int, flow_channels: int | None = None) -> Concat | ConvFusion:
    """Return the map fusion named `kind` ('concat' or 'conv'; conv maps back to rgb_channels, averaging)."""
    flow_channels = rgb_channels if flow_channels is None else flow_channels
    if kind == "concat":
        return Concat(rgb_channels, flow_channels)
    if kind == "conv":
        return ConvFusion(rgb_channels, flow_channels)
    raise FusionError(f"unknown map fusion {kind!r}; expected one of {', '.join(MAP_FUSIONS)}")


def widen_conv_input(conv: nn.Conv2d, streams: int = 2) -> nn.Conv2d:
    """Return a copy of `conv` that reads `streams` concatenated inputs of its width.

    Its weights are the original's divided by `streams` and repeated, so on concatenated maps it
    computes what `conv` computes on their mean: the way to make a pretrained body's convs that read
    the tap accept concatenation fusion.
    """
    if conv.groups != 1:
        raise FusionError("widen_conv_input supports ungrouped convolutions only")
    wide = nn.Conv2d(
        conv.in_channels * streams, conv.out_channels, conv.kernel_size, stride=conv.stride,
        padding=conv.padding, dilation=conv.dilation, bias=conv.bias is not None, padding_mode=conv.padding_mode,
    ).to(device=conv.weight.device, dtype=conv.weight.dtype)
    with torch.no_grad():
        wide.weight.copy_(torch.cat([conv.weight / streams] * streams, dim=1))
        if conv.bias is not None:
            wide.bias.copy_(conv.bias)
    return wide


def body_for_concat(body: nn.Module, rgb_channels: int, flow_channels: int, height: int,
                    width: int) -> tuple[nn.Module, int]:
    """Make `body`, built for `rgb_channels`-wide maps, read the streams' concatenation; return it and
    the width of its output.

    A body with parameters gets the convolutions that read the tap widened (`widen_body_for_concat`)
    and keeps its output width. A body without any is the pooling after a network's last map tap
    (BN-Inception's inception5b, EfficientNet-Lite0's head, tiny's conv4): it pools each channel of
    the concatenation, so its output is the two streams' pooled vectors side by side, rgb + flow
    wide, which go straight to the gate and the classifier.
    """
    if any(True for _ in body.parameters()):
        if flow_channels != rgb_channels:
            raise FusionError(f"concat fusion into a pretrained body needs equal widths, got rgb {rgb_channels} "
                              f"and flow {flow_channels}; use conv fusion")
        body = widen_body_for_concat(body, rgb_channels, height, width)
    return body, int(_traced(body, torch.zeros(1, rgb_channels + flow_channels, height, width)).shape[1])


def _traced(body: nn.Module, maps: torch.Tensor) -> torch.Tensor:
    """Run `body` once on `maps` in eval mode without gradients, leaving its mode as it was."""
    was_training = body.training
    body.eval()
    try:
        with torch.no_grad():
            return body(maps)
    finally:
        body.train(was_training)


def widen_body_for_concat(body: nn.Module, channels: int, height: int, width: int) -> nn.Module:
    """Make a body that reads `channels`-wide maps read the two streams' concatenation (2x wide), in place.

    Every convolution that receives the concatenated width where it expects `channels` is widened
    with `widen_conv_input`, so at the start the body computes on the concatenation what it computed
    on the streams' mean. Found by one traced forward pass, so branches (pooling paths too) are covered.
    """
    names = {module: name for name, module in body.named_modules() if isinstance(module, nn.Conv2d)}
    pending: list[nn.Module] = []

    def hook(module: nn.Module, args: tuple) -> tuple | None:
        if args[0].shape[1] == 2 * channels and module.in_channels == channels:
            pending.append(module)
            return (args[0][:, :channels],)  # carry on tracing with the expected width
        return None

    handles = [module.register_forward_pre_hook(hook) for module in names]
    try:
        _traced(body, torch.zeros(1, 2 * channels, height, width))
    finally:
        for handle in handles:
            handle.remove()
    if not pending:
        raise FusionError(f"no convolution of the body reads the {channels}-channel tap; use conv fusion instead")
    for module in pending:
        parent_name, _, child = names[module].rpartition(".")
        parent = body.get_submodule(parent_name) if parent_name else body
        setattr(parent, child, widen_conv_input(module))
    return body

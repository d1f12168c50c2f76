"""Input normalisation that travels with a checkpoint: channel order, value range, mean and std, flow offset."""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import Tensor

from twostream.data.sampling import STREAMS
from twostream.pipeline.backbones.errors import BackboneError

MODALITIES = STREAMS  # a network's input modality is the stream it serves


@dataclass(frozen=True)
class Normalization:
    """How raw 0-255 pixels (RGB order) or quantised flow (0-255) become a network's input.

    `mean` and `std` are listed in `channel_order` and expressed in units where full intensity is
    `input_range` (255 for Caffe-style nets, 1 for torchvision-style ones). Flow channels are all
    shifted by `flow_mean` and divided by `flow_std`, in the same units.
    """

    name: str
    channel_order: str
    input_range: float
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    flow_mean: float
    flow_std: float

    def __post_init__(self) -> None:
        if self.channel_order not in ("rgb", "bgr"):
            raise BackboneError(f"normalisation {self.name!r}: channel_order must be 'rgb' or 'bgr', not {self.channel_order!r}")
        if self.input_range not in (1.0, 255.0):
            raise BackboneError(f"normalisation {self.name!r}: input_range must be 1 or 255, not {self.input_range!r}")

    def apply(self, x: Tensor, modality: str) -> Tensor:
        """Normalise a float or uint8 batch of 0-255 values, (N, C, H, W) or clips (N, C, T, H, W): RGB frames in
        RGB order, or flow."""
        if modality not in MODALITIES:
            raise BackboneError(f"unknown modality {modality!r}: use one of {', '.join(MODALITIES)}")
        x = x.float()
        if self.input_range != 255.0:
            x = x * (self.input_range / 255.0)
        if modality == "flow":
            return (x - self.flow_mean) / self.flow_std
        channel = 1 if x.dim() == 5 else -3
        if x.shape[channel] != 3:
            raise BackboneError(f"normalisation {self.name!r}: RGB input needs 3 channels, got {x.shape[channel]}")
        if self.channel_order == "bgr":
            x = x.flip(channel)
        per_channel = (3, 1, 1, 1) if x.dim() == 5 else (3, 1, 1)
        mean = torch.tensor(self.mean, dtype=x.dtype, device=x.device).view(per_channel)
        std = torch.tensor(self.std, dtype=x.dtype, device=x.device).view(per_channel)
        return (x - mean) / std

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready form, as stored in checkpoints and store attributes."""
        data = asdict(self)
        data["mean"] = list(self.mean)
        data["std"] = list(self.std)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Normalization:
        """Rebuild from `to_dict` output; a missing or malformed field is an error naming it."""
        try:
            return cls(
                name=str(data["name"]),
                channel_order=str(data["channel_order"]),
                input_range=float(data["input_range"]),
                mean=_triple(data["mean"]),
                std=_triple(data["std"]),
                flow_mean=float(data["flow_mean"]),
                flow_std=float(data["flow_std"]),
            )
        except (KeyError, TypeError, ValueError) as error:
            raise BackboneError(f"malformed normalisation record {data!r}: {error}") from None


def _triple(values: Any) -> tuple[float, float, float]:
    items = tuple(float(v) for v in values)
    if len(items) != 3:
        raise ValueError(f"expected 3 values, got {len(items)}")
    return items  # type: ignore[return-value]


# Caffe TSN BN-Inception: BGR pixels 0-255 minus the per-channel means of its prototxt; flow minus 128.
CAFFE_TSN = Normalization("caffe_tsn", "bgr", 255.0, (104.0, 117.0, 123.0), (1.0, 1.0, 1.0), 128.0, 1.0)
# tsn-pytorch and mmaction 0.x train BN-Inception on BGR 0-255 with a red mean of 128 instead of 123.
TSN_PYTORCH = Normalization("tsn_pytorch", "bgr", 255.0, (104.0, 117.0, 128.0), (1.0, 1.0, 1.0), 128.0, 1.0)
# torchvision-style and EfficientNet weights. Flow is centred and scaled by the mean ImageNet std so
# that a cross-modality initialised first conv sees inputs on the scale its RGB weights were trained on.
IMAGENET = Normalization("imagenet", "rgb", 1.0, (0.485, 0.456, 0.406), (0.229, 0.224, 0.225), 0.5, 0.226)

# I3D (Kinetics models as converted by pytorch-i3d): RGB scaled to [-1, 1]; TV-L1 flow clipped to +-20 px and
# divided by 20. Flow quantised with TSN's bound of 20 px maps 0..255 onto exactly that range.
I3D_NORMALIZATION = Normalization("i3d", "rgb", 1.0, (0.5, 0.5, 0.5), (0.5, 0.5, 0.5), 0.5, 0.5)

NORMALIZATIONS: dict[str, Normalization] = {n.name: n for n in (CAFFE_TSN, TSN_PYTORCH, IMAGENET, I3D_NORMALIZATION)}


def normalization_named(name: str) -> Normalization:
    """The named normalisation (caffe_tsn, tsn_pytorch, imagenet, i3d), or an error listing the names."""
    try:
        return NORMALIZATIONS[name]
    except KeyError:
        raise BackboneError(f"unknown normalisation {name!r}: use one of {', '.join(NORMALIZATIONS)}") from None

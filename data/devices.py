"""Turning a --device string into a torch device, with a clear error where it is not available."""
from __future__ import annotations

import torch

from twostream.data.errors import TwostreamError


def resolve_device(name: str) -> torch.device:
    """The torch device `name` means ("cpu", "cuda", "cuda:1"), refusing CUDA when torch sees none."""
    try:
        device = torch.device(name)
    except RuntimeError as error:
        raise TwostreamError(f"unknown device {name!r}: {error}") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise TwostreamError(f"device {name!r} asked for, but torch sees no CUDA device; use --device cpu")
    return device

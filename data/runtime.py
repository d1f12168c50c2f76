"""What a stage runs on: the torch device a --device names, autocast for it, the ffmpeg binary and OpenCV."""
from __future__ import annotations

import functools
import importlib
import os
import shutil
from contextlib import AbstractContextManager, nullcontext
from types import ModuleType

import torch

from twostream.data.errors import TwostreamError


AUTO_DEVICE = "auto"  # CUDA when torch sees a device, else the CPU


def resolve_device(name: str | torch.device | None) -> torch.device:
    """The torch device `name` means ("auto" or None: CUDA when available, else the CPU; "cpu", "cuda", "cuda:1"),
    refusing CUDA when torch sees none."""
    if name is None or name == AUTO_DEVICE:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if isinstance(name, torch.device):
        name = str(name)
    try:
        device = torch.device(name)
    except RuntimeError as error:
        raise TwostreamError(f"unknown device {name!r}: {error}") from None
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise TwostreamError(f"device {name!r} asked for, but torch sees no CUDA device; use --device cpu")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise TwostreamError(f"device {name!r} asked for, but torch sees {torch.cuda.device_count()} CUDA "
                                 f"device(s); use cuda:0 to cuda:{torch.cuda.device_count() - 1}")
    return device


def opencv(needed_for: str | None = None) -> ModuleType | None:
    """OpenCV's cv2 module, imported on first use, so that what does not need it (TV-L1 on a GPU) runs where it
    is not installed. Without it: None, or with `needed_for`, a TwostreamError naming what needs it."""
    try:
        return importlib.import_module("cv2")
    except ImportError:
        if needed_for is None:
            return None
        raise TwostreamError(f"{needed_for} needs OpenCV: pip install opencv-contrib-python-headless") from None


def autocast(device: torch.device | str, amp: bool) -> AbstractContextManager:
    """Mixed precision on CUDA when `amp` is set (bf16 where the GPU has it, else fp16); CPU stays exact."""
    device = torch.device(device)
    if not amp or device.type != "cuda":
        return nullcontext()
    dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return torch.autocast(device_type="cuda", dtype=dtype)


@functools.lru_cache(maxsize=1)
def ffmpeg_executable() -> str:
    """Return the path of the ffmpeg binary to run: $TWOSTREAM_FFMPEG, else imageio-ffmpeg's, else the one on PATH."""
    configured = os.environ.get("TWOSTREAM_FFMPEG")
    if configured:
        if not os.path.isfile(configured):
            raise TwostreamError(f"TWOSTREAM_FFMPEG={configured} is not a file; unset it or point it at ffmpeg")
        return configured
    try:
        import imageio_ffmpeg

        return imageio_ffmpeg.get_ffmpeg_exe()
    except (ImportError, RuntimeError):
        found = shutil.which("ffmpeg")
        if found:
            return found
    raise TwostreamError("no ffmpeg found: pip install imageio-ffmpeg, or put ffmpeg on PATH")

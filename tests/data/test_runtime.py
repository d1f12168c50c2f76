"""Devices, autocast and the ffmpeg binary: one place decides them for every stage."""
from __future__ import annotations

import os
import subprocess

import pytest
import torch

from twostream.data.errors import TwostreamError
from twostream.data.runtime import autocast, ffmpeg_executable, resolve_device


def test_cpu_resolves_and_stays_exact_under_amp():
    device = resolve_device("cpu")
    assert device == torch.device("cpu") and resolve_device(device) == device
    with autocast(device, amp=True):
        assert (torch.ones(2, 2) @ torch.ones(2, 2)).dtype == torch.float32


def test_unknown_and_missing_devices_are_clear_errors():
    with pytest.raises(TwostreamError, match="unknown device 'toaster'"):
        resolve_device("toaster")
    if not torch.cuda.is_available():
        with pytest.raises(TwostreamError, match="torch sees no CUDA device; use --device cpu"):
            resolve_device("cuda:0")


def test_ffmpeg_is_found_and_runs():
    path = ffmpeg_executable()
    assert os.path.isfile(path) and os.access(path, os.X_OK)
    # three frames of a 32x24 test pattern as raw RGB: ffmpeg decodes, scales and writes them
    done = subprocess.run([path, "-v", "error", "-f", "lavfi", "-i", "testsrc=size=32x24:rate=10", "-frames:v", "3",
                           "-f", "rawvideo", "-pix_fmt", "rgb24", "-"], capture_output=True, timeout=60)
    assert done.returncode == 0, done.stderr.decode()
    assert len(done.stdout) == 3 * 24 * 32 * 3


def test_a_configured_ffmpeg_that_is_not_there_is_a_clear_error(monkeypatch, tmp_path):
    monkeypatch.setenv("TWOSTREAM_FFMPEG", str(tmp_path / "ffmpeg"))
    ffmpeg_executable.cache_clear()  # the binary is looked up once a process
    try:
        with pytest.raises(TwostreamError, match=r"TWOSTREAM_FFMPEG=.*ffmpeg is not a file; unset it or point it at"):
            ffmpeg_executable()
    finally:
        ffmpeg_executable.cache_clear()

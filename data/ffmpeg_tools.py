"""Locating the ffmpeg executable: a system ffmpeg on PATH, else the one imageio-ffmpeg ships."""
from __future__ import annotations

import functools
import os
import shutil

from twostream.data.errors import TwostreamError


@functools.lru_cache(maxsize=1)
def ffmpeg_executable() -> str:
    """Return the path of the ffmpeg binary to run ($TWOSTREAM_FFMPEG, PATH, or imageio-ffmpeg's)."""
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

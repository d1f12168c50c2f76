"""Errors raised by the optical flow package."""
from __future__ import annotations

from twostream.data.errors import TwostreamError


class FlowError(TwostreamError):
    """Bad input to a flow algorithm (frames, parameters) or a malformed .flo file."""

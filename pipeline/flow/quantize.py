"""TSN's flow quantisation to uint8 grey levels and its inverse."""
from __future__ import annotations

import numpy as np

from twostream.pipeline.flow.errors import FlowError

TSN_BOUND = 20.0


def _check_bound(bound: float) -> float:
    if not bound > 0:
        raise FlowError(f"flow quantisation bound must be > 0, got {bound}")
    return float(bound)


def quantize_flow(flow: np.ndarray, bound: float = TSN_BOUND) -> np.ndarray:
    """Map flow in pixels to uint8 as TSN: clip to [-bound, bound], then round(255 * (v + bound) / (2 * bound))."""
    bound = _check_bound(bound)
    scaled = (np.clip(np.asarray(flow, np.float32), -bound, bound) + bound) * (255.0 / (2.0 * bound))
    return np.rint(scaled).astype(np.uint8)


def dequantize_flow(quantized: np.ndarray, bound: float = TSN_BOUND) -> np.ndarray:
    """Map uint8 grey levels back to flow in pixels (float32); the inverse of quantize_flow up to rounding."""
    bound = _check_bound(bound)
    quantized = np.asarray(quantized)
    if quantized.dtype != np.uint8:
        raise FlowError(f"quantised flow must be uint8, got dtype {quantized.dtype}")
    return quantized.astype(np.float32) * np.float32(2.0 * bound / 255.0) - np.float32(bound)

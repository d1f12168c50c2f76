"""How far a flow field is from another: the endpoint error, per pixel and averaged."""
from __future__ import annotations

import numpy as np

from twostream.pipeline.flow.errors import FlowError


def endpoint_errors(flow: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """The Euclidean distance between two flow fields of one shape (..., 2) at each pixel, (...) float64."""
    flow, reference = np.asarray(flow, dtype=np.float64), np.asarray(reference, dtype=np.float64)
    if flow.shape != reference.shape or flow.ndim < 1 or flow.shape[-1] != 2:
        raise FlowError(f"two flow fields of one shape (..., 2) are needed, got {flow.shape} and {reference.shape}")
    return np.hypot(flow[..., 0] - reference[..., 0], flow[..., 1] - reference[..., 1])


def mean_endpoint_error(flow: np.ndarray, reference: np.ndarray) -> float:
    """The average endpoint error of `flow` against `reference` over every pixel (EPE, in pixels)."""
    return float(endpoint_errors(flow, reference).mean())

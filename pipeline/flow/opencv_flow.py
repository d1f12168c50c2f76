"""OpenCV's TV-L1 (contrib optflow) and Farneback behind the FlowAlgorithm interface."""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from twostream.data.runtime import opencv
from twostream.pipeline.flow.base import FlowAlgorithm
from twostream.pipeline.flow.errors import FlowError
from twostream.pipeline.flow.params import TVL1Params


def _check_threads(threads: int) -> int:
    if int(threads) != threads or threads < 0:
        raise FlowError(f"threads must be a whole number >= 0 (0: OpenCV's default), got {threads}")
    return int(threads)


class OpenCVTVL1(FlowAlgorithm):
    """cv2.optflow.DualTVL1OpticalFlow with TSN's parameters by default.

    `threads` is passed to cv2.setNumThreads before each call (1 by default: one task per core
    when several run at once; 0 restores OpenCV's own choice).
    """

    name = "tvl1-opencv"

    def __init__(self, threads: int = 1, **params: Any) -> None:
        self.tvl1 = TVL1Params.from_kwargs(**params)
        self.threads = _check_threads(threads)
        if not hasattr(opencv("tvl1-opencv"), "optflow"):
            raise FlowError("cv2.optflow is missing: install opencv-contrib-python-headless for tvl1-opencv")

    @property
    def params(self) -> dict[str, Any]:
        return self.tvl1.as_dict()

    def _create(self) -> Any:
        p = self.tvl1
        return opencv("tvl1-opencv").optflow.DualTVL1OpticalFlow_create(
            p.tau, p.lambda_, p.theta, p.scales, p.warps, p.epsilon, p.inner_iterations,
            p.outer_iterations, p.scale_step, 0.0, p.median_filter, False,
        )

    def _compute_checked(self, frames: np.ndarray) -> np.ndarray:
        opencv("tvl1-opencv").setNumThreads(self.threads if self.threads else -1)
        solver = self._create()
        out = np.empty((frames.shape[0] - 1, *frames.shape[1:], 2), np.float32)
        for t in range(frames.shape[0] - 1):
            out[t] = solver.calc(frames[t], frames[t + 1], None)
        return out


@dataclass(frozen=True)
class FarnebackParams:
    """cv2.calcOpticalFlowFarneback settings (OpenCV's sample values by default)."""

    pyr_scale: float = 0.5
    levels: int = 3
    winsize: int = 15
    iterations: int = 3
    poly_n: int = 5
    poly_sigma: float = 1.2


class Farneback(FlowAlgorithm):
    """Gunnar Farneback's polynomial-expansion flow: fast, less accurate than TV-L1."""

    name = "farneback"

    def __init__(self, threads: int = 1, **params: Any) -> None:
        unknown = sorted(set(params) - set(FarnebackParams.__dataclass_fields__))
        if unknown:
            known = ", ".join(FarnebackParams.__dataclass_fields__)
            raise FlowError(f"unknown Farneback parameter(s) {', '.join(unknown)}; known: {known}")
        self.farneback = FarnebackParams(**params)
        if not 0 < self.farneback.pyr_scale < 1:
            raise FlowError(f"Farneback pyr_scale must lie in (0, 1), got {self.farneback.pyr_scale}")
        self.threads = _check_threads(threads)

    @property
    def params(self) -> dict[str, Any]:
        return asdict(self.farneback)

    def _compute_checked(self, frames: np.ndarray) -> np.ndarray:
        cv2 = opencv("Farneback flow")
        cv2.setNumThreads(self.threads if self.threads else -1)
        p = self.farneback
        out = np.empty((frames.shape[0] - 1, *frames.shape[1:], 2), np.float32)
        for t in range(frames.shape[0] - 1):
            out[t] = cv2.calcOpticalFlowFarneback(
                frames[t], frames[t + 1], None, p.pyr_scale, p.levels, p.winsize, p.iterations,
                p.poly_n, p.poly_sigma, 0,
            )
        return out

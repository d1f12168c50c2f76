"""TV-L1 parameters shared by our PyTorch solver and OpenCV's, with TSN's values as defaults."""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from twostream.pipeline.flow.errors import FlowError


@dataclass(frozen=True)
class TVL1Params:
    """Zach-Pock-Bischof TV-L1 settings with the names OpenCV's DualTVL1 uses, TSN's values by default.

    `iterations` counts primal-dual steps per warp; they run in rounds of `inner_iterations`,
    the flow being median filtered before each round (OpenCV's outer x inner iterations: 10 x 30).
    """

    tau: float = 0.25
    lambda_: float = 0.15
    theta: float = 0.3
    scales: int = 5
    scale_step: float = 0.8
    warps: int = 5
    epsilon: float = 0.01
    iterations: int = 300
    inner_iterations: int = 30
    median_filter: int = 5

    def __post_init__(self) -> None:
        positive = {"tau": self.tau, "lambda": self.lambda_, "theta": self.theta, "epsilon": self.epsilon}
        for key, value in positive.items():
            if not value > 0:
                raise FlowError(f"TV-L1 parameter {key} must be > 0, got {value}")
        counts = {"scales": self.scales, "warps": self.warps, "iterations": self.iterations,
                  "inner_iterations": self.inner_iterations}
        for key, value in counts.items():
            if int(value) != value or value < 1:
                raise FlowError(f"TV-L1 parameter {key} must be a whole number >= 1, got {value}")
        if not 0 < self.scale_step < 1:
            raise FlowError(f"TV-L1 parameter scale_step must lie in (0, 1), got {self.scale_step}")
        if self.iterations % self.inner_iterations:
            raise FlowError(
                f"TV-L1 iterations ({self.iterations}) must be a multiple of inner_iterations ({self.inner_iterations})"
            )
        if self.median_filter not in (0, 1, 3, 5):
            raise FlowError(f"TV-L1 median_filter must be 0 or 1 (off), 3 or 5, got {self.median_filter}")

    @property
    def outer_iterations(self) -> int:
        """Rounds of inner iterations per warp (each starts with a median filter)."""
        return self.iterations // self.inner_iterations

    @classmethod
    def from_kwargs(cls, **params: Any) -> TVL1Params:
        """Build from keyword overrides; accepts `lambda` or `lambda_`; unknown names raise FlowError."""
        if "lambda" in params:
            params["lambda_"] = params.pop("lambda")
        known = set(cls.__dataclass_fields__)
        unknown = sorted(set(params) - known)
        if unknown:
            names = ", ".join(sorted(name.rstrip("_") for name in known))
            raise FlowError(f"unknown TV-L1 parameter(s) {', '.join(unknown)}; known: {names}")
        return cls(**params)

    def as_dict(self) -> dict[str, Any]:
        """The parameters as a JSON-serialisable dict (`lambda` without the underscore)."""
        values = asdict(self)
        values["lambda"] = values.pop("lambda_")
        return values

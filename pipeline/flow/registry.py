"""Look up a flow algorithm by name."""
from __future__ import annotations

from typing import Any

from twostream.pipeline.flow.base import FlowAlgorithm
from twostream.pipeline.flow.errors import FlowError
from twostream.pipeline.flow.opencv_flow import Farneback, OpenCVTVL1
from twostream.pipeline.flow.torch_flow import TorchTVL1

_ALGORITHMS: dict[str, type[FlowAlgorithm]] = {
    TorchTVL1.name: TorchTVL1,
    OpenCVTVL1.name: OpenCVTVL1,
    Farneback.name: Farneback,
}
FLOW_ALGORITHMS: tuple[str, ...] = tuple(_ALGORITHMS)


def get_flow_algorithm(name: str, **params: Any) -> FlowAlgorithm:
    """Return the algorithm called `name` (one of FLOW_ALGORITHMS) built with `params` overriding its defaults."""
    try:
        cls = _ALGORITHMS[name]
    except KeyError:
        raise FlowError(f"unknown flow algorithm {name!r}; choose one of {', '.join(FLOW_ALGORITHMS)}") from None
    return cls(**params)

"""Dense optical flow: our batched PyTorch TV-L1, OpenCV's TV-L1 and Farneback, TSN quantisation, .flo files.

Every algorithm maps (N, H, W) uint8 grayscale frames to (N-1, H, W, 2) float32 fields, where
flow[t] goes from frame t to frame t+1 (x then y, in pixels).
"""
from twostream.pipeline.flow.accuracy import endpoint_errors, mean_endpoint_error
from twostream.pipeline.flow.base import FlowAlgorithm
from twostream.pipeline.flow.color import flow_to_color
from twostream.pipeline.flow.errors import FlowError
from twostream.pipeline.flow.flo import read_flo, write_flo
from twostream.pipeline.flow.pair import flow_between_images
from twostream.pipeline.flow.params import TVL1Params
from twostream.pipeline.flow.quantize import TSN_BOUND, dequantize_flow, quantize_flow
from twostream.pipeline.flow.registry import FLOW_ALGORITHMS, get_flow_algorithm

__all__ = [
    "FLOW_ALGORITHMS",
    "FlowAlgorithm",
    "FlowError",
    "TSN_BOUND",
    "TVL1Params",
    "dequantize_flow",
    "endpoint_errors",
    "flow_between_images",
    "flow_to_color",
    "get_flow_algorithm",
    "mean_endpoint_error",
    "quantize_flow",
    "read_flo",
    "write_flo",
]

"""What storing TV-L1 flow as TSN's 8-bit quantisation costs I3D's flow stream: on real clips, the flow fields
and the flow network's 1024-d features from quantised flow (as the frames store keeps it: clipped to
+-20 px, 256 levels) against those from the unquantised solver output, clipped to +-20 px and divided by 20.

Run: python bench/i3d_flow_quantisation.py [--video PATH] [--clips 6] [--stride 4] [--seeds 3] [--out FILE]
The network is I3D's flow net with random weights (seeded; no released weights install offline), so the
feature rows say how far the quantisation moves a network of this architecture, not the released one.
"""
from __future__ import annotations

import argparse

import cv2
import numpy as np
import torch

from twostream.data.reference_data import shared_data_dir
from twostream.data.sampling import clip_starts, evaluation_crops
from twostream.pipeline.backbones import create_backbone
from twostream.pipeline.backbones.i3d import THUMOS_CLIP
from twostream.pipeline.decode import read_video
from twostream.pipeline.flow import dequantize_flow, get_flow_algorithm, quantize_flow
from twostream.pipeline.flow.quantize import TSN_BOUND

from common import report

CROP = 224


def centre_crop(fields: np.ndarray, size: int = CROP) -> np.ndarray:
    """The centre size x size crop of flow fields (L, H, W, 2), where extract-features' one crop lies."""
    crop = evaluation_crops(*fields.shape[1:3], size, 1)[0]
    return fields[:, crop.top:crop.top + size, crop.left:crop.left + size]


def i3d_input(flow: np.ndarray) -> torch.Tensor:
    """I3D's flow input from fields (L, H, W, 2) in pixels: clipped to +-20 px, divided by 20, (1, 2, L, H, W)."""
    scaled = np.clip(flow, -TSN_BOUND, TSN_BOUND) / TSN_BOUND
    return torch.from_numpy(np.ascontiguousarray(scaled.transpose(3, 0, 1, 2), dtype=np.float32))[None]


def relative(changed: torch.Tensor, reference: torch.Tensor) -> float:
    """||changed - reference|| / ||reference||."""
    return float((changed - reference).norm() / reference.norm())


def main() -> None:
    """Measure, print the table and write the JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    shared = shared_data_dir()
    parser.add_argument("--video", default=str(shared / "videos" / "v_ApplyEyeMakeup_sample.avi") if shared else None,
                        help="a real clip (default: the shared data's UCF101 clip)")
    parser.add_argument("--clips", type=int, default=6)
    parser.add_argument("--stride", type=int, default=4)
    parser.add_argument("--seeds", type=int, default=3, help="random I3D flow networks to average over")
    parser.add_argument("--out")
    args = parser.parse_args()
    if not args.video:
        parser.error("no shared data found: give --video")
    frames, _ = read_video(args.video)  # 340 x 256, as extract-frames stores frames by default
    starts = clip_starts(len(frames), THUMOS_CLIP, args.stride)[:args.clips]
    needed = int(starts[-1]) + THUMOS_CLIP + 1
    grey = np.stack([cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY) for frame in frames[:needed]])  # as extract-frames
    solved = centre_crop(get_flow_algorithm("tvl1").compute(grey))
    stored = dequantize_flow(quantize_flow(solved, TSN_BOUND), TSN_BOUND)
    clipped = np.clip(solved, -TSN_BOUND, TSN_BOUND)
    error = stored - clipped
    still = float(dequantize_flow(quantize_flow(np.zeros(1, np.float32), TSN_BOUND), TSN_BOUND)[0])
    rows = [{"measure": "stored value of zero flow", "value": still, "unit": "px (level 128 of 0..255)"},
            {"measure": "flow field error, RMS", "value": float(np.sqrt(np.mean(error ** 2))), "unit": "px"},
            {"measure": "flow field error, largest", "value": float(np.abs(error).max()), "unit": "px"},
            {"measure": "flow beyond +-20 px (clipped either way)", "value": float(np.mean(np.abs(solved) > TSN_BOUND)),
             "unit": "share of values"}]
    # Only the 1024-d feature: a randomly initialised classifier says nothing about the released one's logits.
    measured: dict[str, list[float]] = {"global_pool": [], "cosine": []}
    for seed in range(args.seeds):
        torch.manual_seed(seed)
        net = create_backbone("i3d", 400, in_channels=2).eval()
        for start in starts:
            window = slice(int(start), int(start) + THUMOS_CLIP)
            with torch.inference_mode():
                exact = net.forward_taps(i3d_input(solved[window]), ["global_pool"])
                kept = net.forward_taps(i3d_input(stored[window]), ["global_pool"])
            measured["global_pool"].append(relative(kept["global_pool"], exact["global_pool"]))
            measured["cosine"].append(float(torch.nn.functional.cosine_similarity(
                kept["global_pool"], exact["global_pool"]).item()))
    values = np.asarray(measured["global_pool"])
    rows.append({"measure": "I3D flow global_pool: relative change, mean", "value": float(values.mean()),
                 "unit": f"over {len(values)} clips x nets"})
    rows.append({"measure": "I3D flow global_pool: relative change, largest", "value": float(values.max()),
                 "unit": f"over {len(values)} clips x nets"})
    rows.append({"measure": "I3D flow global_pool: cosine similarity, smallest", "value": min(measured["cosine"]),
                 "unit": f"over {len(measured['cosine'])} clips x nets"})
    report("i3d_flow_quantisation", rows, args.out, video=str(args.video), clips=len(starts), stride=args.stride,
           seeds=args.seeds, crop=CROP, bound=TSN_BOUND, flow="tvl1 (default parameters)")


if __name__ == "__main__":
    main()

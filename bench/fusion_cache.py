"""What the feature cache buys: one gated-fusion training step from cached inception4e maps against the
same step end to end through both frozen BN-Inception backbones from frames, same batch, one run.

Each path runs in a fresh process and holds only what it needs: the cached path the gate, its optimiser
state and the cached tensors; the end-to-end path also both backbones and the frames. Peak memory is, on
CUDA, torch's peak allocation during the timed steps; on the CPU, the bytes of every tensor the path holds
between steps plus the rise of the peak resident size during the steps (resident size alone would also
count the allocator's freed but unreturned pages).
Run: python bench/fusion_cache.py [--videos 4] [--steps 3] [--device cpu|cuda] [--out FILE]
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from common import report

SEGMENTS = 3
NUM_CLASSES = 101


def _rss_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field):
            return int(line.split()[1])
    return 0


def _reset_peak() -> None:
    Path("/proc/self/clear_refs").write_text("5")  # resets VmHWM to the current resident size


def _held_bytes(modules: list, optimizer, tensors: list) -> int:
    """Bytes of the parameters, buffers, gradients, optimiser state and inputs a path keeps between steps."""
    held = [t for m in modules for t in (*m.parameters(), *m.buffers())]
    held += [p.grad for m in modules for p in m.parameters() if p.grad is not None]
    held += [v for state in optimizer.state.values() for v in state.values() if hasattr(v, "nbytes")]
    return sum(t.nbytes for t in held + tensors)


def measure(path: str, videos: int, steps: int, device: str) -> dict:
    """Time `steps` training steps of the gate on one path; return seconds per step and peak bytes."""
    import torch

    from twostream.fusion.heads.gating import GatedFusionHead
    from twostream.fusion.training.losses import gated_fusion_loss
    from twostream.pipeline.backbones import build_backbone

    torch.manual_seed(0)
    cuda = device.startswith("cuda")
    views = videos * SEGMENTS
    rgb_net = build_backbone("bninception", "rgb", NUM_CLASSES).to(device).eval()
    flow_net = build_backbone("bninception", "flow", NUM_CLASSES).to(device).eval()
    head = GatedFusionHead(rgb_net.layers_after("inception4e"), rgb_net.feature_dim, NUM_CLASSES, 1056).to(device)
    optimizer = torch.optim.SGD(head.parameters(), lr=1e-3, momentum=0.9)
    labels = torch.randint(0, NUM_CLASSES, (videos,), device=device)
    if path == "cached":
        rgb_map = torch.randn(views, 1056, 7, 7, device=device)
        flow_map = torch.randn(views, 1056, 7, 7, device=device)
        rgb_logits = torch.randn(views, NUM_CLASSES, device=device)
        flow_logits = torch.randn(views, NUM_CLASSES, device=device)
        inputs, modules = [rgb_map, flow_map, rgb_logits, flow_logits, labels], [head]
        del rgb_net, flow_net  # the cached path never needs the backbones
    else:
        frames = torch.randint(0, 256, (views, 3, 224, 224), dtype=torch.uint8, device=device)
        stacks = torch.randint(0, 256, (views, 10, 224, 224), dtype=torch.uint8, device=device)
        inputs, modules = [frames, stacks, labels], [rgb_net, flow_net, head]

    def step() -> None:
        if path == "cached":
            maps, logits = (rgb_map, flow_map), (rgb_logits, flow_logits)
        else:
            with torch.no_grad():
                rgb = rgb_net.forward_taps(rgb_net.normalization.apply(frames, "rgb"), ["inception4e", "logits"])
                flow = flow_net.forward_taps(flow_net.normalization.apply(stacks, "flow"), ["inception4e", "logits"])
            maps, logits = (rgb["inception4e"], flow["inception4e"]), (rgb["logits"], flow["logits"])
        gate, own = head(*maps)
        weights = head.weights(gate.view(videos, SEGMENTS, 2).mean(1)).weights
        fused = weights[:, :1] * logits[0].view(videos, SEGMENTS, -1).mean(1) + \
            weights[:, 1:] * logits[1].view(videos, SEGMENTS, -1).mean(1)
        loss = gated_fusion_loss(fused, own.view(videos, SEGMENTS, -1).mean(1), labels, 1.0).total
        optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(head.parameters(), 40)
        optimizer.step()

    step()  # warm-up
    if cuda:
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    else:
        held = _held_bytes(modules, optimizer, inputs)
        _reset_peak()
        base = _rss_kib("VmRSS:") * 1024
    start = time.perf_counter()
    for _ in range(steps):
        step()
    if cuda:
        torch.cuda.synchronize()
    seconds = (time.perf_counter() - start) / steps
    peak = torch.cuda.max_memory_allocated() if cuda else held + _rss_kib("VmHWM:") * 1024 - base
    return {"path": path, "seconds_per_step": seconds, "peak_bytes": max(peak, 1)}


def main() -> None:
    """Run both paths in fresh processes, print the table and the ratios, write the JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--videos", type=int, default=4, help="videos per batch (x3 segments)")
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--out")
    parser.add_argument("--one", choices=("cached", "end-to-end"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(measure(args.one, args.videos, args.steps, args.device)))
        return
    rows = []
    for path in ("cached", "end-to-end"):
        done = subprocess.run([sys.executable, __file__, "--one", path, "--videos", str(args.videos),
                               "--steps", str(args.steps), "--device", args.device],
                              capture_output=True, text=True, check=True, env={**os.environ, "PYTHONWARNINGS": "ignore"})
        rows.append(json.loads(done.stdout.strip().splitlines()[-1]))
    cached, full = rows
    rows.append({"path": "ratio end-to-end / cached", "seconds_per_step": full["seconds_per_step"] / cached["seconds_per_step"],
                 "peak_bytes": full["peak_bytes"] / cached["peak_bytes"]})
    report("fusion_cache", rows, args.out, device=args.device, videos=args.videos, segments=SEGMENTS,
           goal="at least 10x less time and 5x less memory with the cache")


if __name__ == "__main__":
    main()

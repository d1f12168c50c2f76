"""Optical flow benchmark: pairs/s at 340x256 with TSN's TV-L1 parameters, and EPE on the Sintel pair.

Run: python bench/flow.py [--out bench/results/flow.json] [--pairs 8] [--iteration-pairs 4] [--rows ROWS]
     [--work-batch 64]
Rows: OpenCV TV-L1 (1 process; all cores as processes; skipped without opencv-contrib's cv2.optflow), our
PyTorch TV-L1 on the CPU (batch 1, eager and compiled; batch N; all cores as processes) and on CUDA when
present (batch 1..256, eager and compiled; `--rows cuda,iterations --iteration-device cuda` runs these
alone and counts the iterations on CUDA). One run each; prints a table and writes JSON. Then the work
itself: how many primal-dual iterations the epsilon stop lets each pyramid level's warps run, on pairs
of the two real clips and of a synthetic video (the iterations a pair needs bound its rate: pairs/s <=
bandwidth / (bytes per iteration x iterations)); and the work row: on 64 consecutive Kinetics pairs solved
as one batch, the pixel-iterations computed over those the pairs need on their own (`--rows work`).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import cv2
import numpy as np
import torch

from twostream.data.reference_data import shared_data_dir
from twostream.data.runtime import ffmpeg_executable
from twostream.pipeline.flow import get_flow_algorithm, mean_endpoint_error, read_flo
from twostream.pipeline.flow.params import TVL1Params
from twostream.pipeline.flow.step_chunks import chunk_length
from twostream.pipeline.flow.torch_flow import GPU_SYNC_EVERY
from twostream.pipeline.flow.tvl1 import tvl1_flow

WIDTH, HEIGHT = 340, 256
ROWS = ("opencv", "opencv-processes", "eager", "compiled", "batch", "processes", "cuda", "iterations", "work")
CLIP = "videos/kinetics_sample_340x256.mp4"


def load_frames(data: Path, count: int, clip: Path | None = None, skip: int = 30) -> np.ndarray:
    """`count` consecutive grayscale frames of a clip (default the Kinetics one) at 340x256, after `skip`."""
    command = [ffmpeg_executable(), "-v", "error", "-i", str(clip or data / CLIP), "-frames:v", str(count + skip),
               "-vf", f"scale={WIDTH}:{HEIGHT}", "-pix_fmt", "gray", "-f", "rawvideo", "-"]
    raw = subprocess.run(command, check=True, capture_output=True).stdout
    return np.frombuffer(raw, np.uint8).reshape(-1, HEIGHT, WIDTH)[skip:skip + count].copy()


def sintel_epe(data: Path, name: str, options: dict) -> float:
    """Average endpoint error of one algorithm on the Sintel pair against its ground truth."""
    folder = data / "flow" / "sintel"
    first, second = (cv2.imread(str(folder / f"frame_000{i}.png"), cv2.IMREAD_GRAYSCALE) for i in (1, 2))
    flow = get_flow_algorithm(name, **options).compute_pair(first, second)
    return mean_endpoint_error(flow, read_flo(folder / "frame_0001.flo"))


def _run_chunk(args: tuple[str, dict, np.ndarray]) -> int:
    name, options, frames = args
    get_flow_algorithm(name, **options).compute(frames)
    return frames.shape[0] - 1


def pairs_per_second(name: str, options: dict, frames: np.ndarray, processes: int = 1) -> float:
    """Throughput over the consecutive pairs of `frames`, split across `processes` worker processes."""
    if processes == 1:
        start = time.perf_counter()
        done = _run_chunk((name, options, frames))
        return done / (time.perf_counter() - start)
    bounds = np.linspace(0, frames.shape[0] - 1, processes + 1).astype(int)
    chunks = [(name, options, frames[a:b + 1]) for a, b in zip(bounds[:-1], bounds[1:]) if b > a]
    with ProcessPoolExecutor(processes) as pool:
        list(pool.map(_run_chunk, [(name, options, frames[:2])] * processes))  # start-up excluded
        start = time.perf_counter()
        done = sum(pool.map(_run_chunk, chunks))
    return done / (time.perf_counter() - start)


def iteration_counts(frames: np.ndarray, device: str = "cpu") -> list[dict]:
    """Per pyramid level and warp, the iterations each consecutive pair of `frames` ran (TSN's parameters)."""
    records: list[dict] = []
    params = TVL1Params()
    for index in range(frames.shape[0] - 1):
        pair = torch.from_numpy(frames[index:index + 2].astype(np.float32)).to(device)
        tvl1_flow(pair[:1], pair[1:], params, iterations=records)
    return records


def iteration_rows(source: str, records: list[dict], pairs: int) -> list[dict]:
    """One row per pyramid level (0: finest) of a source: the iterations per warp, mean and distribution,
    and the share of warps stopped by the iteration cap rather than by epsilon."""
    cap = TVL1Params().iterations
    rows = []
    for level in sorted({record["level"] for record in records}):
        counts = np.array([c for record in records if record["level"] == level for c in record["iterations"]])
        rows.append({"source": source, "pairs": pairs, "level": level, "mean": float(counts.mean()),
                     "median": float(np.median(counts)), "p90": float(np.percentile(counts, 90)),
                     "max": int(counts.max()), "capped": float(np.mean(counts >= cap))})
    return rows


def work_ratios(records: list[dict], chunk: int) -> dict[str, float]:
    """Pixel-iterations computed over those the pairs need on their own (each pair's own iterations), from
    one batch's iteration records: as solved (eager, converged pairs dropped at each check), if every pair
    ran until the batch's slowest stopped (converged pairs frozen but computed), and in chunks of `chunk`
    iterations between checks (the compiled path on a GPU, from the same counts)."""
    needed = sum(r["pixels"] * sum(r["iterations"]) for r in records)
    solved = sum(r["pixels"] * r["executed"] for r in records)
    slowest = sum(r["pixels"] * len(r["iterations"]) * max(r["iterations"]) for r in records)
    chunked = sum(r["pixels"] * len(r["iterations"]) * chunk * -(-max(r["iterations"]) // chunk) for r in records)
    return {"solved": solved / needed, "until_slowest": slowest / needed, "chunks": chunked / needed}


def work_row(data: Path, batch: int) -> dict:
    """Solve `batch` consecutive pairs of the Kinetics clip at 340x256 with TSN's parameters as one batch on
    the CPU, and report the work ratios (see `work_ratios`)."""
    frames = torch.from_numpy(load_frames(data, batch + 1).astype(np.float32))
    records: list[dict] = []
    start = time.perf_counter()
    tvl1_flow(frames[:-1], frames[1:], TVL1Params(), iterations=records)
    seconds = time.perf_counter() - start
    chunk = chunk_length(GPU_SYNC_EVERY, TVL1Params().inner_iterations)
    ratios = work_ratios(records, chunk)
    print(f"\nTV-L1 work, {batch} consecutive Kinetics pairs at {WIDTH}x{HEIGHT} in one CPU batch ({seconds:.0f} s): "
          f"pixel-iterations computed over those the pairs need alone: {ratios['solved']:.3f} as solved; "
          f"{ratios['until_slowest']:.3f} if every pair ran until the slowest stopped; {ratios['chunks']:.3f} "
          f"in chunks of {chunk} (the compiled GPU path)")
    return {"batch": batch, "pairs": frames.shape[0] - 1, "seconds": seconds, "chunk": chunk, **ratios}


def synthetic_clip(folder: Path) -> Path:
    """One video of the synthetic generator's tiny preset, rendered into `folder`."""
    from twostream.data.synthetic import PRESETS, make_synthetic

    root = make_synthetic(folder, PRESETS["tiny"], workers=1)
    return sorted((root / "videos").rglob("*.mp4"))[0]


def iteration_table(data: Path, pairs: int, device: str) -> list[dict]:
    """Iteration rows for `pairs` pairs of the Kinetics, UCF101 and a synthetic clip solved on `device`,
    printed as a table."""
    iterations = []
    with tempfile.TemporaryDirectory() as folder:
        clips = {"kinetics": (data / CLIP, 30), "ucf101": (data / "videos" / "v_ApplyEyeMakeup_sample.avi", 30),
                 "synthetic": (synthetic_clip(Path(folder)), 0)}  # a synthetic video is 12 frames long
        for source, (clip, skip) in clips.items():
            counted = load_frames(data, pairs + 1, clip, skip)
            iterations += iteration_rows(source, iteration_counts(counted, device), counted.shape[0] - 1)
    print("\nTV-L1 iterations per warp (TSN's parameters, epsilon stop; level 0 is the finest):")
    for row in iterations:
        print(f"  {row['source']:<10} level {row['level']}: mean {row['mean']:6.1f}, median {row['median']:5.0f}, "
              f"p90 {row['p90']:5.0f}, max {row['max']:4d}, capped {100 * row['capped']:.0f} %")
    return iterations


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="bench/results/flow.json", help="JSON results file")
    parser.add_argument("--pairs", type=int, default=8, help="pairs timed per CPU row (default 8)")
    parser.add_argument("--gpu-pairs", type=int, default=256, help="pairs timed per CUDA row (default 256)")
    parser.add_argument("--iteration-pairs", type=int, default=4,
                        help="pairs per source counted for iterations (0: no count)")
    parser.add_argument("--iteration-device", default="cpu", help="where the iterations are counted")
    parser.add_argument("--work-batch", type=int, default=64,
                        help="consecutive pairs solved as one batch by the work row (default 64)")
    parser.add_argument("--rows", default=",".join(ROWS),
                        help="comma-separated rows to run (default all; cuda when torch sees a GPU): "
                             + ", ".join(ROWS))
    parser.add_argument("--gpu-batches", type=int, nargs="+", default=[1, 8, 32, 64, 128, 256],
                        help="batch sizes of the CUDA rows (default 1 8 32 64 128 256)")
    parser.add_argument("--gpu-compile", choices=("off", "on"), nargs="+", default=["off", "on"],
                        help="compile settings of the CUDA rows (default off on)")
    args = parser.parse_args()
    selected = set(args.rows.split(","))
    if selected - set(ROWS):
        parser.error(f"unknown rows: {', '.join(sorted(selected - set(ROWS)))}")
    if "cuda" in selected and args.rows != parser.get_default("rows") and not torch.cuda.is_available():
        print("--rows cuda: torch sees no CUDA device", file=sys.stderr)
        return 2
    data = shared_data_dir()
    if data is None:
        print("shared data not found: set TWOSTREAM_SHARED_DATA", file=sys.stderr)
        return 2
    cores = os.cpu_count() or 1
    frames = load_frames(data, args.pairs + 1)
    rows = []

    def add(label: str, name: str, options: dict, processes: int = 1, epe_options: dict | None = None,
            timed_frames: np.ndarray = frames) -> None:
        rate = pairs_per_second(name, options, timed_frames, processes)
        epe = sintel_epe(data, name, epe_options if epe_options is not None else options)
        rows.append({"row": label, "algorithm": name, "options": options, "processes": processes,
                     "pairs": timed_frames.shape[0] - 1, "pairs_per_s": rate, "sintel_epe": epe})
        print(f"{label:<44} {rate:9.2f} pairs/s   Sintel EPE {epe:.4f}", flush=True)

    if "opencv" in selected or "opencv-processes" in selected:
        if not hasattr(cv2, "optflow"):
            print("tvl1-opencv rows skipped: cv2.optflow is missing (opencv-contrib-python-headless)", flush=True)
            selected -= {"opencv", "opencv-processes"}
    if "opencv" in selected:
        add("tvl1-opencv, 1 process, 1 thread", "tvl1-opencv", {"threads": 1})
    if "opencv-processes" in selected:
        add(f"tvl1-opencv, {cores} processes x 1 thread", "tvl1-opencv", {"threads": 1}, cores)
    if "eager" in selected:
        add("tvl1 (ours) CPU, batch 1, 1 thread", "tvl1", {"device": "cpu", "batch_size": 1, "threads": 1})
    if "compiled" in selected:
        compiled = {"device": "cpu", "batch_size": 1, "threads": 1, "compile": "on"}
        pairs_per_second("tvl1", compiled, frames[:2])  # compiling excluded
        add("tvl1 (ours) CPU compiled, batch 1, 1 thread", "tvl1", compiled)
    if "batch" in selected:
        add(f"tvl1 (ours) CPU, batch {args.pairs}, {cores} threads", "tvl1",
            {"device": "cpu", "batch_size": args.pairs, "threads": cores})
    if "processes" in selected:
        add(f"tvl1 (ours) CPU, {cores} processes x batch 1", "tvl1",
            {"device": "cpu", "batch_size": 1, "threads": 1}, cores)
    gpu = None
    if "cuda" in selected and torch.cuda.is_available():
        gpu = torch.cuda.get_device_name(0)
        gpu_frames = np.concatenate([frames] * (args.gpu_pairs // args.pairs + 1))[:args.gpu_pairs + 1]
        for batch in args.gpu_batches:
            for compile in args.gpu_compile:
                options = {"device": "cuda", "batch_size": batch, "compile": compile}
                pairs_per_second("tvl1", options, gpu_frames[:batch + 1])  # warm-up (and compiling)
                add(f"tvl1 (ours) CUDA, batch {batch}, compile {compile}", "tvl1", options,
                    epe_options={"device": "cuda", "compile": compile}, timed_frames=gpu_frames)
    iterations = []
    if "iterations" in selected and args.iteration_pairs > 0:
        iterations = iteration_table(data, args.iteration_pairs, args.iteration_device)
    work = work_row(data, args.work_batch) if "work" in selected else None
    result = {"size": [WIDTH, HEIGHT], "params": get_flow_algorithm("tvl1").params, "cpu_cores": cores,
              "cpu": platform.processor() or platform.machine(), "gpu": gpu, "torch": torch.__version__,
              "opencv": cv2.__version__, "rows": rows, "iterations": iterations, "work": work}
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2))
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

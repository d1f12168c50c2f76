"""Optical flow benchmark: pairs/s at 340x256 with TSN's TV-L1 parameters, and EPE on the Sintel pair.

Run: python bench/flow.py [--out bench/results/flow.json] [--pairs 8] [--iteration-pairs 4] [--rows ROWS]
     [--work-batch 64] [--inputs FILE.npz]
     python bench/flow.py --prepare FILE.npz [--gpu-pairs 256]   (the inputs of the flow rows in one file)
Rows: OpenCV TV-L1 (1 process; all cores as processes; skipped without opencv-contrib's cv2.optflow), our
PyTorch TV-L1 on the CPU (batch 1, eager and compiled; batch N; all cores as processes) and on CUDA when
present (batch 1..256, eager and compiled; `--rows cuda,iterations --iteration-device cuda` runs these
alone and counts the iterations on CUDA). One run each; prints a table and writes JSON. Then the work
itself: how many primal-dual iterations the epsilon stop lets each pyramid level's warps run, on pairs
of the two real clips and of a synthetic video (the iterations a pair needs bound its rate: pairs/s <=
bandwidth / (bytes per iteration x iterations)); and the work row: on 64 consecutive Kinetics pairs solved
as one batch, the pixel-iterations computed over those the pairs need on their own (`--rows work`); and the
model row: from the same batch's iterations and the planes the Triton kernels load and store per pixel, the
pairs/s an H100 and an H200 would reach at 80 % of their memory bandwidth (`--rows model`).
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import torch

from twostream.data.reference_data import shared_data_dir
from twostream.data.runtime import ffmpeg_executable, opencv
from twostream.pipeline.flow import get_flow_algorithm, mean_endpoint_error, read_flo
from twostream.pipeline.flow.params import TVL1Params
from twostream.pipeline.flow.step_chunks import chunk_length
from twostream.pipeline.flow.torch_flow import GPU_SYNC_EVERY
from twostream.pipeline.flow.tvl1 import tvl1_flow

from common import provenance

WIDTH, HEIGHT = 340, 256
ROWS = ("opencv", "opencv-processes", "eager", "compiled", "batch", "processes", "cuda", "iterations", "work",
        "model")
# device memory bandwidth in bytes/s, and the share of it a memory-bound kernel sustains
GPU_BANDWIDTH = {"H100 (SXM, HBM3)": 3.35e12, "H200 (HBM3e)": 4.8e12}
SUSTAINED_SHARE = 0.8
FLOAT_BYTES = 4
CLIP = "videos/kinetics_sample_340x256.mp4"


def load_frames(data: Path, count: int, clip: Path | None = None, skip: int = 30) -> np.ndarray:
    """`count` consecutive grayscale frames of a clip (default the Kinetics one) at 340x256, after `skip`."""
    command = [ffmpeg_executable(), "-v", "error", "-i", str(clip or data / CLIP), "-frames:v", str(count + skip),
               "-vf", f"scale={WIDTH}:{HEIGHT}", "-pix_fmt", "gray", "-f", "rawvideo", "-"]
    raw = subprocess.run(command, check=True, capture_output=True).stdout
    return np.frombuffer(raw, np.uint8).reshape(-1, HEIGHT, WIDTH)[skip:skip + count].copy()


def sintel_pair(data: Path) -> dict[str, np.ndarray]:
    """The Sintel pair as grayscale frames and its ground-truth flow."""
    cv2 = opencv("reading the Sintel pair")
    folder = data / "flow" / "sintel"
    first, second = (cv2.imread(str(folder / f"frame_000{i}.png"), cv2.IMREAD_GRAYSCALE) for i in (1, 2))
    return {"sintel_first": first, "sintel_second": second, "sintel_truth": read_flo(folder / "frame_0001.flo")}


def sintel_epe(sintel: dict[str, np.ndarray], name: str, options: dict) -> float:
    """Average endpoint error of one algorithm on the Sintel pair against its ground truth."""
    flow = get_flow_algorithm(name, **options).compute_pair(sintel["sintel_first"], sintel["sintel_second"])
    return mean_endpoint_error(flow, sintel["sintel_truth"])


def prepare_inputs(data: Path, out: Path, pairs: int) -> None:
    """Write the flow rows' inputs into one file, so that they run where there is neither ffmpeg nor OpenCV
    nor the shared data (a bare GPU machine): `pairs` + 1 consecutive Kinetics frames and the Sintel pair."""
    out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(out, clip=load_frames(data, pairs + 1), **sintel_pair(data))
    print(f"wrote {out} ({out.stat().st_size / 2**20:.1f} MiB): {pairs + 1} frames and the Sintel pair")


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


def needed_pixel_iterations(records: list[dict]) -> int:
    """The pixel-iterations the pairs of iteration `records` need on their own: each level's pixels times the
    iterations each pair ran there."""
    return sum(r["pixels"] * sum(r["iterations"]) for r in records)


def work_ratios(records: list[dict], chunk: int) -> dict[str, float]:
    """Pixel-iterations computed over those the pairs need on their own (each pair's own iterations), from
    one batch's iteration records: as solved (eager, converged pairs dropped at each check), if every pair
    ran until the batch's slowest stopped (converged pairs frozen but computed), and in chunks of `chunk`
    iterations between checks (the compiled path on a GPU, from the same counts)."""
    needed = needed_pixel_iterations(records)
    solved = sum(r["pixels"] * r["executed"] for r in records)
    slowest = sum(r["pixels"] * len(r["iterations"]) * max(r["iterations"]) for r in records)
    chunked = sum(r["pixels"] * len(r["iterations"]) * chunk * -(-max(r["iterations"]) // chunk) for r in records)
    return {"solved": solved / needed, "until_slowest": slowest / needed, "chunks": chunked / needed}


def work_row(clip: np.ndarray, device: str, records: list[dict]) -> dict:
    """Solve the consecutive pairs of `clip` (340x256 Kinetics frames) with TSN's parameters as one batch on
    `device`, and report the work ratios (see `work_ratios`); the iteration records are appended to `records`."""
    frames = torch.from_numpy(clip.astype(np.float32)).to(device)
    batch = frames.shape[0] - 1
    start = time.perf_counter()
    tvl1_flow(frames[:-1], frames[1:], TVL1Params(), iterations=records)
    seconds = time.perf_counter() - start
    chunk = chunk_length(GPU_SYNC_EVERY, TVL1Params().inner_iterations)
    ratios = work_ratios(records, chunk)
    print(f"\nTV-L1 work, {batch} consecutive Kinetics pairs at {WIDTH}x{HEIGHT} in one batch on {device} "
          f"({seconds:.0f} s): "
          f"pixel-iterations computed over those the pairs need alone: {ratios['solved']:.3f} as solved; "
          f"{ratios['until_slowest']:.3f} if every pair ran until the slowest stopped; {ratios['chunks']:.3f} "
          f"in chunks of {chunk} (the compiled GPU path)")
    return {"batch": batch, "pairs": batch, "device": device, "seconds": seconds, "chunk": chunk, **ratios}


def kernel_bytes_per_pair(records: list[dict], pairs: int, inner_iterations: int) -> dict[str, float]:
    """Bytes the Triton kernels move per pair, from one batch's iteration records: each pair's steps (pixels
    x iterations x the step kernel's planes), its median filters (one before each round of
    `inner_iterations`, both flow components) and the end-of-warp gather of pairs that stopped after an odd
    step (their flow and dual field copied back). Linearisation, the pyramid and host transfers are left out:
    the figure bounds what the iterations allow."""
    from twostream.pipeline.flow import triton_kernels as kernels

    median_planes = 2 * (kernels.MEDIAN_PLANES_READ + kernels.MEDIAN_PLANES_WRITTEN)
    gather_planes = 2 * kernels.STEP_PLANES_WRITTEN  # the step's output planes (flow, dual field), read and written
    median = gather = 0.0
    for record in records:
        counts = np.array(record["iterations"])
        median += record["pixels"] * (-(-counts // inner_iterations)).sum() * median_planes
        gather += record["pixels"] * (counts % 2).sum() * gather_planes
    step = needed_pixel_iterations(records) * (kernels.STEP_PLANES_READ + kernels.STEP_PLANES_WRITTEN)
    parts = {"step": step, "median": median, "gather": gather}
    return {name: FLOAT_BYTES * value / pairs for name, value in parts.items()}


def model_row(records: list[dict], pairs: int) -> dict:
    """The predicted GPU figure: pairs/s at `SUSTAINED_SHARE` of each GPU's bandwidth for the bytes the
    kernels move per pair (`kernel_bytes_per_pair`), printed with the bytes per pixel-iteration."""
    params = TVL1Params()
    parts = kernel_bytes_per_pair(records, pairs, params.inner_iterations)
    per_pair = sum(parts.values())
    pixel_iterations = needed_pixel_iterations(records) / pairs
    predicted = {gpu: SUSTAINED_SHARE * bandwidth / per_pair for gpu, bandwidth in GPU_BANDWIDTH.items()}
    print(f"\nTV-L1 on a GPU, modelled: {pixel_iterations / 1e6:.1f} M pixel-iterations per pair (the work row's "
          f"{pairs} pairs), {per_pair / 1e9:.2f} GB per pair moved by the Triton kernels (step "
          f"{parts['step'] / 1e9:.2f}, median {parts['median'] / 1e9:.2f}, gather {parts['gather'] / 1e9:.3f}); at "
          f"{100 * SUSTAINED_SHARE:.0f} % of bandwidth: "
          + ", ".join(f"{gpu} {rate:.0f} pairs/s" for gpu, rate in predicted.items()))
    return {"pairs": pairs, "pixel_iterations_per_pair": pixel_iterations, "bytes_per_pair": per_pair,
            "bytes_per_pair_parts": parts, "sustained_share": SUSTAINED_SHARE, "bandwidth": GPU_BANDWIDTH,
            "predicted_pairs_per_s": predicted}


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


def measured_against_predicted(rows: list[dict], model: dict | None, gpu: str | None) -> list[dict]:
    """For each CUDA row with the Triton kernels, its pairs/s over the model's figure for this GPU (matched by
    name: H100 or H200), printed."""
    if not model or not gpu:
        return []
    matches = [name for name in model["predicted_pairs_per_s"] if name.split()[0] in gpu]
    if not matches:
        print(f"no modelled figure for {gpu}: the model knows {', '.join(model['predicted_pairs_per_s'])}")
        return []
    predicted = model["predicted_pairs_per_s"][matches[0]]
    compared = []
    for row in rows:
        if row["options"].get("device") == "cuda" and row["options"].get("compile") == "triton":
            compared.append({"row": row["row"], "measured": row["pairs_per_s"], "predicted": predicted,
                             "ratio": row["pairs_per_s"] / predicted})
            print(f"{row['row']}: measured {row['pairs_per_s']:.0f} pairs/s, predicted {predicted:.0f} "
                  f"({100 * row['pairs_per_s'] / predicted:.0f} %)")
    return compared


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="bench/results/flow.json", help="JSON results file (written after every row)")
    parser.add_argument("--inputs", type=Path, help="the frames and Sintel pair from --prepare: the flow rows then "
                                                    "need neither ffmpeg, OpenCV nor the shared data")
    parser.add_argument("--prepare", type=Path, metavar="FILE.npz",
                        help="write the flow rows' inputs (--gpu-pairs + 1 frames and the Sintel pair) and stop")
    parser.add_argument("--pairs", type=int, default=8, help="pairs timed per CPU row (default 8)")
    parser.add_argument("--gpu-pairs", type=int, default=256,
                        help="consecutive pairs timed per CUDA row (default 256)")
    parser.add_argument("--iteration-pairs", type=int, default=4,
                        help="pairs per source counted for iterations (0: no count)")
    parser.add_argument("--iteration-device", default="cpu", help="where the iterations are counted")
    parser.add_argument("--work-batch", type=int, default=64,
                        help="consecutive pairs solved as one batch by the work row (default 64)")
    parser.add_argument("--work-device", default="cpu", help="where the work row solves its batch (default cpu)")
    parser.add_argument("--rows", default=",".join(ROWS),
                        help="comma-separated rows to run (default all; cuda when torch sees a GPU): "
                             + ", ".join(ROWS))
    parser.add_argument("--gpu-batches", type=int, nargs="+", default=[1, 8, 32, 64, 128, 256],
                        help="batch sizes of the CUDA rows (default 1 8 32 64 128 256)")
    parser.add_argument("--gpu-compile", choices=("off", "on", "triton"), nargs="+", default=["off", "on", "triton"],
                        help="compile settings of the CUDA rows (default off on triton)")
    args = parser.parse_args()
    selected = set(args.rows.split(","))
    if selected - set(ROWS):
        parser.error(f"unknown rows: {', '.join(sorted(selected - set(ROWS)))}")
    if "cuda" in selected and args.rows != parser.get_default("rows") and not torch.cuda.is_available():
        print("--rows cuda: torch sees no CUDA device", file=sys.stderr)
        return 2
    data = shared_data_dir()
    if args.inputs is None and data is None:
        print("shared data not found: set TWOSTREAM_SHARED_DATA, or give --inputs", file=sys.stderr)
        return 2
    if args.prepare:
        prepare_inputs(data, args.prepare, args.gpu_pairs)
        return 0
    inputs = dict(np.load(args.inputs)) if args.inputs else None
    needed = max(args.pairs, args.work_batch if selected & {"work", "model"} else 0,
                 args.gpu_pairs if "cuda" in selected else 0) + 1
    if inputs is not None and inputs["clip"].shape[0] < needed:
        print(f"{args.inputs} holds {inputs['clip'].shape[0]} frames; these rows need {needed}: prepare it with "
              f"--gpu-pairs {needed - 1}", file=sys.stderr)
        return 2
    clip = inputs["clip"] if inputs is not None else load_frames(data, needed)
    sintel = inputs if inputs is not None else sintel_pair(data)
    cores = os.cpu_count() or 1
    frames = clip[:args.pairs + 1]
    cv2 = opencv()
    # the machine (CPU, cores, GPU, torch) is provenance()'s
    result = {**provenance(), "size": [WIDTH, HEIGHT], "params": get_flow_algorithm("tvl1").params,
              "opencv": cv2.__version__ if cv2 else None, "rows": [], "iterations": [], "work": None,
              "model": None, "measured_against_predicted": []}
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)

    def save() -> None:
        out.write_text(json.dumps(result, indent=2))

    def add(label: str, name: str, options: dict, processes: int = 1, epe_options: dict | None = None,
            timed_frames: np.ndarray = frames) -> None:
        rate = pairs_per_second(name, options, timed_frames, processes)
        epe = sintel_epe(sintel, name, epe_options if epe_options is not None else options)
        result["rows"].append({"row": label, "algorithm": name, "options": options, "processes": processes,
                               "pairs": timed_frames.shape[0] - 1, "pairs_per_s": rate, "sintel_epe": epe})
        print(f"{label:<44} {rate:9.2f} pairs/s   Sintel EPE {epe:.4f}", flush=True)
        save()

    if selected & {"opencv", "opencv-processes"} and not hasattr(cv2, "optflow"):
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
    records: list[dict] = []
    if selected & {"work", "model"}:
        result["work"] = work_row(clip[:args.work_batch + 1], args.work_device, records)
        save()
    if "model" in selected:
        result["model"] = model_row(records, args.work_batch)
        save()
    if "cuda" in selected and torch.cuda.is_available():
        gpu_frames = clip[:args.gpu_pairs + 1]  # consecutive frames: no pair jumps back to the start
        for batch in args.gpu_batches:
            for compile in args.gpu_compile:
                options = {"device": "cuda", "batch_size": batch, "compile": compile}
                pairs_per_second("tvl1", options, gpu_frames[:batch + 1])  # warm-up (and compiling)
                add(f"tvl1 (ours) CUDA, batch {batch}, compile {compile}", "tvl1", options,
                    epe_options={"device": "cuda", "compile": compile}, timed_frames=gpu_frames)
        result["measured_against_predicted"] = measured_against_predicted(result["rows"], result["model"],
                                                                          result["machine"]["gpu"])
        save()
    if "iterations" in selected and args.iteration_pairs > 0:
        if data is None:  # the iteration rows decode the shared data's clips, which --inputs does not hold
            print("iteration rows skipped: they need the shared data (set TWOSTREAM_SHARED_DATA)", flush=True)
        else:
            result["iterations"] = iteration_table(data, args.iteration_pairs, args.iteration_device)
    save()
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

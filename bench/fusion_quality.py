"""Fusion quality with power: stage one and two on the synthetic generator, over several seeds.

For each seed, renders the `quality` preset (8 classes x 44 videos; split 1 tests 152 videos) and
runs the whole pipeline as a user would, one twostream command per step: index, extract-frames,
train-streams (with --folds for out-of-fold scores), extract-features, then the fusion runs (gated
fusion with lambda 1 and 0 on clean and out-of-fold training scores, lambda 1 on dropout scores,
m-fusion, baselines A and B, feature amplification) and evaluate.
It then prints, per method, mean +- sd over seeds of mean class accuracy; the paired differences
that matter, pooled over seeds with a stratified paired bootstrap (each seed's test videos
resampled on their own); the oracle ceiling against the plain average; and the gate's spatial
share w1 / (w1 + w2) over test videos. Every choice inside (grid-searched weighting, best epochs)
is made on validation; the test list is only scored.

Run: python bench/fusion_quality.py [--seeds 0 1 2] [--folds 3] [--work DIR] [--out FILE]
(25 to 30 minutes a seed on 2 cores; with --work, a rerun resumes: finished steps are not recomputed.)
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import report  # noqa: E402

from twostream.data.metrics import pooled_paired_difference, spatial_share  # noqa: E402
from twostream.fusion import late  # noqa: E402
from twostream.fusion.experiment import ORACLE  # noqa: E402
from twostream.fusion.results import ResultsTable  # noqa: E402
from twostream.fusion.training.runs import load_run  # noqa: E402

SPLIT = "1"
FLOW = ["--flow", "tvl1", "--flow-param", "scales=3", "--flow-param", "warps=3", "--flow-param", "iterations=60",
        "--flow-batch", "8"]
STREAMS = ["--backbone", "efficientnet_lite0", "--input-size", "96", "--epochs", "10", "--batch-size", "8",
           "--lr", "0.001", "--lr-steps", "8", "--dropout-rgb", "0.5", "--dropout-flow", "0.5", "--patience", "10"]
FEATURES = ["--snippets", "5", "--crops", "3", "--crop-size", "88", "--input-size", "96"]
# Chosen on seed 0's validation videos: with the body's BatchNorm frozen (the release's default) the ReLU gate died
# at 0.01 and 0.003 and reached 0.875 at 0.001; trained BatchNorm at 0.01 reached 0.938.
GATE = ["--preload", "--batch-size", "8", "--patience", "5", "--max-epochs-per-phase", "40", "--lrs", "0.01", "0.001",
        "--train-bn"]
# Park et al.'s settings and step schedule, its length cut from 805 epochs to 60 (steps at 20 and 40)
HEAD = ["--preload", "--iteration-scale", "0.00125"]
TRAIN_SCORES = ("clean", "dropout", "out-of-fold")
AVERAGE = late.TITLES["average"]
BEST_FIXED = late.TITLES[late.SEARCHED_RULE]


def fusion_runs(folds: int) -> dict[str, list[str]]:
    """Each fusion run of a seed: its name and the command that trains it."""
    runs = {}
    for mode in TRAIN_SCORES:
        if mode == "out-of-fold" and not folds:
            continue
        for lam in ("1", "0") if mode != "dropout" else ("1",):
            runs[f"gated-{mode}-lam{lam}"] = ["train-gate", *GATE, "--lam", lam, "--train-scores", mode]
    for head in ("mfusion", "baseline-a", "baseline-b", "amplification"):
        runs[head] = ["train-mfuse", *HEAD, "--head", head]
    return runs


def comparisons(folds: int) -> list[tuple[str, str]]:
    """The pairs of runs whose paired difference is reported beside the comparisons with fixed rules."""
    pairs = [(f"gated-{mode}-lam1", f"gated-{mode}-lam0") for mode in ("clean", "out-of-fold")
             if folds or mode != "out-of-fold"]
    pairs += [("gated-dropout-lam1", "gated-clean-lam1")]
    pairs += [("gated-out-of-fold-lam1", "gated-clean-lam1")] if folds else []
    return pairs + [("mfusion", "baseline-a"), ("mfusion", "baseline-b")]


class Pipeline:
    """One seed's pipeline in its own folder, each step a twostream command, skipped when its output exists."""

    def __init__(self, work: Path, seed: int, folds: int, workers: int) -> None:
        """Run seed `seed` under `work/seed<seed>` with `folds` out-of-fold stream pairs and `workers` dask workers."""
        self.root, self.seed, self.folds, self.workers = work / f"seed{seed}", seed, folds, workers
        self.root.mkdir(parents=True, exist_ok=True)
        self.seconds: dict[str, float] = {}

    def step(self, name: str, output: Path | None, arguments: list[str]) -> None:
        """Run `twostream ARGUMENTS` unless `output` exists (None: always, for commands that resume by
        themselves); record its seconds; stop the benchmark if it fails."""
        if output is not None and output.exists():
            return
        started = time.perf_counter()
        print(f"[seed {self.seed}] {name}", flush=True)
        result = subprocess.run([sys.executable, "-m", "twostream.cli", *arguments], capture_output=True, text=True)
        if result.returncode != 0:
            raise SystemExit(f"seed {self.seed}, {name} failed (exit {result.returncode}):\n{result.stderr[-4000:]}")
        self.seconds[name] = round(time.perf_counter() - started, 1)

    def run(self, runs: dict[str, list[str]], compare: list[tuple[str, str]]) -> Path:
        """Run every step of the seed; return its results JSON."""
        root, seed = self.root, str(self.seed)
        manifest, frames, features = root / "manifest.json", root / "frames.zarr", root / "features.zarr"
        streams, runs_dir, results = root / "streams", root / "runs", root / "results.json"
        data = [str(manifest), "--features", str(features), "--split", SPLIT]
        self.step("make-synthetic", root / "synthetic" / "splits" / "testlist03.txt",
                  ["make-synthetic", "--preset", "quality", "--seed", seed, "--out", str(root / "synthetic")])
        self.step("index", manifest, ["index", "--dataset", "ucf101", "--splits", str(root / "synthetic" / "splits"),
                                      "--videos", str(root / "synthetic" / "videos"), "--out", str(manifest)])
        self.step("extract-frames", None,
                  ["extract-frames", str(manifest), "--store", str(frames), "--frame-size", "native",
                   "--workers", str(self.workers), *FLOW])
        fold_flags = ["--folds", str(self.folds)] if self.folds else []
        self.step("train-streams", None,
                  ["train-streams", str(manifest), "--frames", str(frames), "--out", str(streams), "--split", SPLIT,
                   "--seed", seed, *STREAMS, *fold_flags, "--resume"])
        fold_checkpoints = ["--fold-checkpoints", str(streams)] if self.folds else []
        self.step("extract-features", None,
                  ["extract-features", str(manifest), "--frames", str(frames), "--store", str(features),
                   "--rgb-checkpoint", str(streams / "rgb.pt"), "--flow-checkpoint", str(streams / "flow.pt"),
                   "--workers", str(self.workers), *FEATURES, *fold_checkpoints])
        for name, command in runs.items():
            self.step(name, runs_dir / name / f"split{SPLIT}" / "predictions.json",
                      [command[0], *data, "--runs", str(runs_dir), "--name", name, "--overwrite", *command[1:]])
        compare_flags = [flag for first, second in compare
                         for flag in ("--compare", str(runs_dir / first), str(runs_dir / second))]
        self.step("evaluate", results, ["evaluate", *data, "--out", str(results),
                                        "--runs", *[str(runs_dir / name) for name in runs], *compare_flags])
        return results


def method_names(runs_dir: Path, names: list[str]) -> dict[str, str]:
    """The method name evaluate gave each run (its recorded method), by run name."""
    return {name: str(load_run(runs_dir / name / f"split{SPLIT}").config.get("method", name)) for name in names}


def gate_shares(runs_dir: Path, name: str) -> np.ndarray:
    """The gate's spatial share w1 / (w1 + w2) of each test video of a gated run."""
    records = load_run(runs_dir / name / f"split{SPLIT}").predictions["test"]
    return spatial_share(np.array([record["gate_weights"] for record in records], dtype=np.float64))


def summarise(tables: dict[int, ResultsTable], work: Path, runs: list[str], compare: list[tuple[str, str]],
              resamples: int) -> tuple[list[dict], list[dict], list[dict]]:
    """Per-method accuracy over seeds, pooled paired differences, and the gates' spatial shares."""
    split = f"split {SPLIT}"
    seeds = sorted(tables)
    names = {seed: method_names(work / f"seed{seed}" / "runs", runs) for seed in seeds}
    methods = list(dict.fromkeys(m for seed in seeds for m in tables[seed].methods))
    accuracy_rows = []
    for method in methods:
        values = [100 * tables[s].cells[method][split]["mean_class_accuracy"] for s in seeds
                  if split in tables[s].cells.get(method, {})]
        accuracy_rows.append({"method": method, "seeds": len(values), "mean": float(np.mean(values)),
                              "sd": float(np.std(values, ddof=1)) if len(values) > 1 else 0.0,
                              **{f"seed {s}": v for s, v in zip(seeds, values)}})
    outcomes = {seed: tables[seed].outcome_arrays(split) for seed in seeds}
    pairs = [(run, reference) for run in runs for reference in (BEST_FIXED, AVERAGE)]
    pairs += compare + [(ORACLE, AVERAGE)]
    difference_rows = []
    for first, second in pairs:
        triples = []
        for seed in seeds:
            labels, correct = outcomes[seed]
            a, b = names[seed].get(first, first), names[seed].get(second, second)
            triples.append((correct[a], correct[b], labels))
        pooled = pooled_paired_difference(triples, resamples)
        difference_rows.append({"method": first, "minus": second, "points": 100 * pooled.estimate,
                                "low": 100 * pooled.low, "high": 100 * pooled.high,
                                "above zero": pooled.low > 0})
    share_rows = []
    for name in (run for run in runs if run.startswith("gated-")):
        shares = [gate_shares(work / f"seed{seed}" / "runs", name) for seed in seeds]
        share_rows.append({"run": name, "mean share": float(np.mean([s.mean() for s in shares])),
                           "sd over test videos (mean over seeds)": float(np.mean([s.std() for s in shares])),
                           "lowest": float(min(s.min() for s in shares)), "highest": float(max(s.max() for s in shares))})
    return accuracy_rows, difference_rows, share_rows


def main() -> None:
    """Run every seed's pipeline, then print the three tables and write them as JSON."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--folds", type=int, default=3, help="stream pairs for out-of-fold scores (0: leave out)")
    parser.add_argument("--workers", type=int, default=2, help="dask workers of extract-frames and extract-features")
    parser.add_argument("--bootstrap", type=int, default=2000, help="resamples of the pooled intervals")
    parser.add_argument("--work", help="folder for every seed's outputs (default: a temporary folder, kept)")
    parser.add_argument("--out")
    args = parser.parse_args()
    work = Path(args.work) if args.work else Path(tempfile.mkdtemp(prefix="fusion_quality-"))
    runs, compare = fusion_runs(args.folds), comparisons(args.folds)
    tables, seconds = {}, {}
    for seed in args.seeds:
        pipeline = Pipeline(work, seed, args.folds, args.workers)
        results = pipeline.run(runs, compare)
        tables[seed] = ResultsTable.from_dict(json.loads(results.read_text()))
        seconds[seed] = pipeline.seconds
    accuracy, differences, shares = summarise(tables, work, list(runs), compare, args.bootstrap)
    out = Path(args.out) if args.out else None
    report("fusion_quality", accuracy, out, seeds=args.seeds, folds=args.folds, work=str(work),
           differences=differences, gate_shares=shares, seconds=seconds)
    print("\nPaired differences in mean class accuracy (points), pooled over seeds, 95 % stratified bootstrap:")
    for row in differences:
        print(f"  {row['method']} minus {row['minus']}: {row['points']:+.1f} [{row['low']:+.1f}, {row['high']:+.1f}]")
    print("\nGate spatial share w1 / (w1 + w2) over test videos:")
    for row in shares:
        print(f"  {row['run']}: {row['mean share']:.2f}, sd {row['sd over test videos (mean over seeds)']:.2f} "
              f"(range {row['lowest']:.2f} to {row['highest']:.2f})")


if __name__ == "__main__":
    main()

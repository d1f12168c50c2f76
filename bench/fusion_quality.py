"""Fusion quality with power: stage one and two on the synthetic generator, over presets and seeds.

Settings are chosen on some seeds and reported on others, never the same. For each preset (`demo`:
8 classes x 20 videos, split 1 trains on 96 and tests 64; `quality`: 8 classes x 44 videos, split 1
trains on 200 and tests 152) and each seed, the whole pipeline runs as a user would, one twostream
command per step: make-synthetic, index, extract-frames, train-streams, extract-features.

- Choice seeds (default 0 1 2): every candidate gate setting of `GATE_CANDIDATES` (train-gate with no
  flags among them; with `--folds`, those of `OUT_OF_FOLD_CANDIDATES` too) is trained and read, per
  candidate over the choice seeds: on the validation videos the kept epoch's accuracy and loss, the
  gate's share gap (mimic minus distractor) and share sd (in-sample for the candidates trained on
  validation too); on the test videos of these seeds, which no report ever uses, gated fusion minus
  the best fixed weighting (pooled paired) and the share gap. train-gate's defaults were chosen from
  these readings.
- Report seeds (default 3 4 5): the fusion runs (gated fusion with its defaults, lambda 1 and 0, and
  on dropout and out-of-fold scores; m-fusion, baselines A and B, feature amplification) and evaluate.
  It prints, per preset, per method the mean +- sd over seeds of mean class accuracy; the paired
  differences that matter, pooled over seeds with a stratified paired bootstrap (each seed's test
  videos resampled on their own); the oracle ceiling; and the gate's spatial share w1 / (w1 + w2)
  over test videos, overall and per degradation the generator applied (distractor: the frames
  mislead, trust the flow; mimic: the flow misleads, trust the frames).
Every choice inside a run (grid-searched weighting, best epochs) is made on validation.

Run: python bench/fusion_quality.py [--presets demo quality] [--choice-seeds 0 1 2] [--report-seeds 3 4 5]
     [--folds 0] [--work DIR] [--out FILE]
(a demo seed takes about 10 minutes on 2 cores, a quality seed about 20; with --work, a rerun resumes:
finished steps are not recomputed. --choice-seeds with no value skips the choice.)
"""
from __future__ import annotations

import argparse
import functools
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from twostream.data.metrics import pooled_paired_difference, spatial_share
from twostream.fusion import late
from twostream.fusion.comparison import ORACLE
from twostream.fusion.probe import CLEAN, OUTCOMES
from twostream.fusion.results import ResultsTable
from twostream.fusion.training.learning import LEARNING
from twostream.fusion.training.runs import RunRecord, load_run

from common import print_table, write_results

SPLIT = "1"
PRESETS = ("demo", "quality")
# Stage one as `make demo` runs it
FLOW = ["--flow", "tvl1", "--flow-param", "scales=3", "--flow-param", "warps=3", "--flow-param", "iterations=60",
        "--flow-batch", "8"]
STREAMS = ["--backbone", "efficientnet_lite0", "--input-size", "96", "--epochs", "12", "--batch-size", "8",
           "--lr", "0.001", "--lr-steps", "9", "--dropout-rgb", "0.5", "--dropout-flow", "0.5", "--patience", "12"]
FEATURES = ["--snippets", "5", "--crops", "3", "--crop-size", "88", "--input-size", "96"]
# The features of these small datasets fit in memory; reading them first changes no result.
GATE = ["--preload"]
# The gate's former defaults, from which the first candidates each change one setting: clean scores, the
# validation carve held out
FORMER = ["--train-on", "train", "--train-scores", "clean"]
# The gate settings the choice seeds compare, by name: the former defaults, the settings around them, and
# train-gate's present defaults (the last candidate, chosen by the rule the documentation gives).
GATE_CANDIDATES: dict[str, list[str]] = {
    "former defaults (pooled body, softmax, rates 0.03, 0.003, the last of 16 epochs a phase, clean scores, "
    "validation held out)": FORMER,
    "ReLU gate": [*FORMER, "--activation", "relu"],
    "rates 0.01, 0.001": [*FORMER, "--lrs", "0.01", "0.001"],
    "rates 0.1, 0.01": [*FORMER, "--lrs", "0.1", "0.01"],
    "dropout 0.5": [*FORMER, "--dropout", "0.5"],
    "dropout scores": ["--train-on", "train", "--train-scores", "dropout"],
    "the epoch of best validation accuracy, early stopping": [*FORMER, "--select", "accuracy",
                                                              "--max-epochs-per-phase", "100"],
    "the epoch of lowest validation loss, early stopping": [*FORMER, "--select", "loss", "--max-epochs-per-phase", "100"],
    "the last epoch of 8 a phase": [*FORMER, "--max-epochs-per-phase", "8"],
    "layers body, conv, softmax, rates 0.01, 0.001": [*FORMER, "--body", "layers", "--fusion", "conv", "--lrs", "0.01",
                                                      "0.001"],
    "gated TSN: layers body, conv, ReLU, rates 0.001, 0.0001, early stopping on accuracy": [
        *FORMER, "--body", "layers", "--fusion", "conv", "--activation", "relu", "--lrs", "0.001", "0.0001",
        "--select", "accuracy", "--max-epochs-per-phase", "100"],
    "trained on train+val": ["--train-on", "train+val", "--train-scores", "clean"],
    "trained on train+val, dropout scores (train-gate's defaults)": ["--train-on", "train+val", "--train-scores",
                                                                     "dropout"],
}
# Candidates that need out-of-fold scores (`--folds`), after the others
OUT_OF_FOLD_CANDIDATES: dict[str, list[str]] = {
    "out-of-fold scores": ["--train-on", "train", "--train-scores", "out-of-fold"],
    "out-of-fold scores, the last epoch of 8 a phase": ["--train-on", "train", "--train-scores", "out-of-fold",
                                                        "--max-epochs-per-phase", "8"],
}
# Park et al.'s heads and settings, but stepping on validation plateaus as `make demo` does: their step schedule,
# scaled to these datasets, runs 805 epochs (`--iteration-scale 0.00125` still 150 on the demo preset)
HEAD = ["--preload", "--schedule", "plateau", "--batch-size", "16", "--patience", "2", "--max-epochs-per-phase", "15"]
TRAIN_SCORES = ("clean", "dropout", "out-of-fold")
DEFAULT_GATE = "gated-dropout-lam1"  # train-gate's defaults (dropout scores, every training video)
HELD_OUT = "gated-held-out"  # the former default: clean scores, the validation carve held out
AVERAGE = late.TITLES["average"]
BEST_FIXED = late.TITLES[late.SEARCHED_RULE]
# The degradations whose right gate weighting is known: the frames mislead (trust the flow), the flow misleads
TELLING_DEGRADATIONS = ("distractor", "mimic")
CHOICE_RESULTS = "choice-results.json"  # a choice seed's evaluation of a gate candidate, after its run name
PROBE_RESULTS = "probe.json"  # a choice seed's attribute probe of its features store
PROBED_ATTRIBUTE = "degradation"
# The epochs (from 1) at which the choice reads each candidate's share sd over the validation videos: the first,
# through the first phase of 16 and the second
SHARE_EPOCHS = (1, 2, 4, 8, 16, 24, 32)
STAGE_ONE_DONE = "stage-one.done"  # written in a seed's folder once its stage one has finished


def fusion_runs(folds: int) -> dict[str, list[str]]:
    """Each fusion run of a report seed: its name and the command that trains it."""
    runs = {}
    for mode in TRAIN_SCORES:
        if mode == "out-of-fold" and not folds:
            continue
        for lam in ("1", "0") if mode != "clean" else ("1",):
            runs[f"gated-{mode}-lam{lam}"] = ["train-gate", *GATE, "--multitask-weight", lam, "--train-scores", mode]
    runs[HELD_OUT] = ["train-gate", *GATE, "--train-on", "train", "--train-scores", "clean"]
    for head in ("mfusion", "baseline-a", "baseline-b", "amplification"):
        runs[head] = ["train-mfuse", *HEAD, "--head", head]
    return runs


def gate_candidates(folds: int) -> dict[str, list[str]]:
    """The gate candidates a choice seed trains, by label: those needing out-of-fold scores only with `folds`."""
    return {**GATE_CANDIDATES, **(OUT_OF_FOLD_CANDIDATES if folds else {})}


def candidate_runs(folds: int, picked: list[int] | None = None) -> dict[str, list[str]]:
    """Each gate candidate of a choice seed (those numbered in `picked`; None: all): a run name, candidate-<its
    number>, and the command that trains it."""
    return {name: ["train-gate", *GATE, *flags] for name, _, flags in picked_candidates(folds, picked)}


def picked_candidates(folds: int, picked: list[int] | None) -> list[tuple[str, str, list[str]]]:
    """The gate candidates a choice trains (those numbered in `picked`; None: all): each one's run name, label
    and flags."""
    return [(f"candidate-{index}", label, flags) for index, (label, flags) in enumerate(gate_candidates(folds).items())
            if picked is None or index in picked]


def comparisons(folds: int) -> list[tuple[str, str]]:
    """The pairs of runs whose paired difference is reported beside the comparisons with fixed rules."""
    pairs = [(f"gated-{mode}-lam1", f"gated-{mode}-lam0") for mode in ("dropout", "out-of-fold")
             if folds or mode != "out-of-fold"]
    pairs += [(DEFAULT_GATE, "gated-clean-lam1"), (DEFAULT_GATE, HELD_OUT)]
    pairs += [("gated-out-of-fold-lam1", DEFAULT_GATE)] if folds else []
    return pairs + [("mfusion", "baseline-a"), ("mfusion", "baseline-b")]


class Pipeline:
    """One preset and seed's pipeline in its own folder, each step a twostream command, skipped when its output
    exists."""

    def __init__(self, work: Path, preset: str, seed: int, folds: int, workers: int) -> None:
        """Run `preset` at `seed` under `work/<preset>/seed<seed>` with `folds` out-of-fold stream pairs and
        `workers` dask workers."""
        self.root = work / preset / f"seed{seed}"
        self.preset, self.seed, self.folds, self.workers = preset, seed, folds, workers
        self.root.mkdir(parents=True, exist_ok=True)
        self.seconds: dict[str, float] = {}
        self.runs_dir = self.root / "runs"
        self.data = [str(self.root / "manifest.json"), "--features", str(self.root / "features.zarr"),
                     "--split", SPLIT]

    def step(self, name: str, output: Path | None, arguments: list[str]) -> None:
        """Run `twostream ARGUMENTS` unless `output` exists (None: always, for commands that resume by
        themselves); record its seconds; stop the benchmark if it fails."""
        if output is not None and output.exists():
            return
        started = time.perf_counter()
        print(f"[{self.preset} seed {self.seed}] {name}", flush=True)
        result = subprocess.run([sys.executable, "-m", "twostream.cli", *arguments], capture_output=True, text=True)
        if result.returncode != 0:
            raise SystemExit(f"{self.preset} seed {self.seed}, {name} failed (exit {result.returncode}):\n"
                             f"{result.stderr[-4000:]}")
        self.seconds[name] = round(time.perf_counter() - started, 1)

    def stage_one(self) -> None:
        """Render the dataset, index it, extract frames and flow, train the streams and extract features; a
        finished stage one (its mark written last) is not run again."""
        root, seed = self.root, str(self.seed)
        done = root / STAGE_ONE_DONE
        if done.exists():
            return
        manifest, frames, features, streams = (root / "manifest.json", root / "frames.zarr", root / "features.zarr",
                                               root / "streams")
        self.step("make-synthetic", root / "synthetic" / "splits" / "testlist03.txt",
                  ["make-synthetic", "--preset", self.preset, "--seed", seed, "--out", str(root / "synthetic")])
        self.step("index", manifest, ["index", "--dataset", "ucf101", "--splits", str(root / "synthetic" / "splits"),
                                      "--videos", str(root / "synthetic" / "videos"), "--out", str(manifest)])
        self.step("extract-frames", None,
                  ["extract-frames", str(manifest), "--frames", str(frames), "--frame-size", "native",
                   "--workers", str(self.workers), *FLOW])
        fold_flags = ["--folds", str(self.folds)] if self.folds else []
        self.step("train-streams", None,
                  ["train-streams", str(manifest), "--frames", str(frames), "--out", str(streams), "--split", SPLIT,
                   "--seed", seed, *STREAMS, *fold_flags, "--resume"])
        fold_checkpoints = ["--fold-checkpoints", str(streams)] if self.folds else []
        self.step("extract-features", None,
                  ["extract-features", str(manifest), "--frames", str(frames), "--features", str(features),
                   "--rgb-checkpoint", str(streams / "rgb.pt"), "--flow-checkpoint", str(streams / "flow.pt"),
                   "--workers", str(self.workers), *FEATURES, *fold_checkpoints])
        done.write_text(json.dumps({"preset": self.preset, "seed": self.seed, "folds": self.folds}) + "\n")

    def probe(self) -> dict:
        """Probe the seed's features store for each video's degradation (twostream probe); return its result."""
        result = self.root / PROBE_RESULTS
        self.step("probe", result, ["probe", *self.data, "--attribute", PROBED_ATTRIBUTE, "--out", str(result)])
        return json.loads(result.read_text())

    def train(self, runs: dict[str, list[str]]) -> None:
        """Train every run not yet trained."""
        for name, command in runs.items():
            self.step(name, self.runs_dir / name / f"split{SPLIT}" / "predictions.json",
                      [command[0], *self.data, "--run", str(self.runs_dir / name), "--overwrite",
                       *command[1:]])

    def evaluate(self, runs: dict[str, list[str]], compare: list[tuple[str, str]],
                 name: str = "results.json") -> Path:
        """Evaluate the runs on the test videos into the seed's file `name`; return its path."""
        results = self.root / name
        compare_flags = [flag for first, second in compare
                         for flag in ("--compare", str(self.runs_dir / first), str(self.runs_dir / second))]
        self.step(f"evaluate {name}", results, ["evaluate", *self.data, "--out", str(results),
                                        "--runs", *[str(self.runs_dir / name) for name in runs], *compare_flags])
        return results

    def degradations(self) -> dict[str, str]:
        """Each video's degradation as the generator recorded it ("none" for a clean video)."""
        metadata = json.loads((self.root / "synthetic" / "metadata.json").read_text())
        return {video["video_id"]: video["degradation"] or "none" for video in metadata["videos"]}


@functools.cache
def finished_run(run_dir: Path) -> RunRecord:
    """A finished run's record, read once: the tables below each read the same runs."""
    return load_run(run_dir)


def best_validation(run_dir: Path) -> tuple[float, float]:
    """The validation accuracy and loss of the epoch a run kept."""
    kept = [record for record in finished_run(run_dir).metrics if record.get("improved")][-1]
    return float(kept["val_mean_class_accuracy"]), float(kept.get("val_loss", float("nan")))


def choice_rows(pipelines: list[Pipeline], folds: int, resamples: int, picked: list[int] | None) -> list[dict]:
    """Per gate candidate, averaged over the choice seeds: its validation accuracy and loss, and its share gap
    (mimic minus distractor) and share sd over the validation videos (in-sample for a candidate trained on
    them); and on the choice seeds' test videos, gated fusion minus the best fixed weighting (pooled paired) and
    the share gap."""
    candidates = candidate_runs(folds, picked)
    rows = []
    for name, label, flags in picked_candidates(folds, picked):
        # one evaluation a candidate: candidates whose settings differ only where a method's name does not say
        # (rates, dropout, the epoch kept) share a name, which one table would suffix with their folders, and
        # summarise finds a run's rows under its recorded name (method_names)
        tables = {p.seed: ResultsTable.from_dict(json.loads(
            p.evaluate({name: candidates[name]}, [], f"{name}-{CHOICE_RESULTS}").read_text())) for p in pipelines}
        _, differences = summarise(tables, pipelines, [name], [], resamples)
        scores = np.array([best_validation(p.runs_dir / name / f"split{SPLIT}") for p in pipelines])
        shares = [share_summary([gate_shares(p, name, "val")]) for p in pipelines]
        test = next(row for row in differences if row["method"] == name and row["minus"] == BEST_FIXED)
        rows.append({"candidate": label, "flags": " ".join(flags) or "(none)", "seeds": len(pipelines),
                     "test minus best fixed": test["points"], "test interval": test["95 % interval"],
                     "test share gap": share_summary([gate_shares(p, name) for p in pipelines])[
                         "mimic minus distractor"],
                     "val accuracy": float(scores[:, 0].mean()), "val accuracy sd": float(scores[:, 0].std(ddof=1))
                     if len(pipelines) > 1 else 0.0, "val loss": float(scores[:, 1].mean()),
                     "val share gap": float(np.nanmean([row["mimic minus distractor"] for row in shares])),
                     "val share sd": float(np.mean([row["sd over test videos"] for row in shares])),
                     "val share gap per seed": ", ".join(f"{row['mimic minus distractor']:+.2f}" for row in shares)})
    return rows


def share_sd_by_epoch_rows(pipelines: list[Pipeline], folds: int, picked: list[int] | None) -> list[dict]:
    """Per gate candidate: its share sd over the validation videos after each epoch of SHARE_EPOCHS (mean over the
    choice seeds that ran that epoch; blank where none did), and the epochs it ran (per seed)."""
    rows = []
    for name, label, _ in picked_candidates(folds, picked):
        histories = [finished_run(p.runs_dir / name / f"split{SPLIT}").metrics for p in pipelines]
        row: dict = {"candidate": label}
        for epoch in SHARE_EPOCHS:
            values = [history[epoch - 1]["val_share_sd"] for history in histories if len(history) >= epoch]
            row[f"epoch {epoch}"] = float(np.mean(values)) if values else ""
        row["epochs run"] = ", ".join(str(len(history)) for history in histories)
        rows.append(row)
    return rows


def probe_rows(probes: dict[int, dict]) -> list[dict]:
    """The probe's test accuracy per tap (and the majority value's) on each choice seed and their mean (none
    without probes)."""
    if not probes:
        return []
    first = next(iter(probes.values()))
    labelled = {"majority value": {seed: result["majority"]["accuracy"] for seed, result in probes.items()}}
    for tap, scored in first["taps"].items():
        labelled[f"{tap} ({scored['kind']}, {scored['features']} features)"] = {
            seed: result["taps"][tap]["accuracy"] for seed, result in probes.items()}
    return [{"features": label, **{f"seed {seed}": value for seed, value in by_seed.items()},
             "mean": float(np.mean(list(by_seed.values())))} for label, by_seed in labelled.items()]


def streams_right_rows(probes: dict[int, dict]) -> list[dict]:
    """Which stream is right on the training videos with the cached (clean) scores, per degradation: the share of
    videos on which only the spatial stream, only the temporal one, both or neither is right, the choice seeds'
    videos pooled."""
    pooled: dict[str, dict[str, float]] = {}
    for result in probes.values():
        shares = result["streams_right"].get(CLEAN)
        if shares is None:
            continue
        for value, row in [("all", shares["all"]), *shares["by_value"].items()]:
            total = pooled.setdefault(value, dict.fromkeys(("videos", *OUTCOMES), 0.0))
            total["videos"] += row["videos"]
            for outcome in OUTCOMES:
                total[outcome] += row[outcome] * row["videos"]
    return [{PROBED_ATTRIBUTE: value, "videos": int(total["videos"]),
             **{outcome.replace("_", " "): total[outcome] / total["videos"] for outcome in OUTCOMES}}
            for value, total in pooled.items() if total["videos"]]


def method_names(runs_dir: Path, names: list[str]) -> dict[str, str]:
    """The method name evaluate gave each run (its recorded method), by run name."""
    return {name: str(finished_run(runs_dir / name / f"split{SPLIT}").config.get("method", name)) for name in names}


def gate_shares(pipeline: Pipeline, name: str, videos: str = "test") -> tuple[np.ndarray, list[str]]:
    """The gate's spatial share w1 / (w1 + w2) of each of a gated run's `videos` ("test" or "val"), and each
    video's degradation."""
    records = finished_run(pipeline.runs_dir / name / f"split{SPLIT}").predictions[videos]
    kinds = pipeline.degradations()
    shares = spatial_share(np.array([record["gate_weights"] for record in records], dtype=np.float64))
    return shares, [kinds.get(record["video_id"], "none") for record in records]


def share_summary(measured: list[tuple[np.ndarray, list[str]]]) -> dict[str, float]:
    """The share's mean and sd over test videos (mean over seeds) and its mean per telling degradation over the
    seeds' videos pooled, from each seed's (shares, degradations)."""
    row = {"mean share": float(np.mean([s.mean() for s, _ in measured])),
           "sd over test videos": float(np.mean([s.std() for s, _ in measured]))}
    for kind in TELLING_DEGRADATIONS:
        values = np.concatenate([s[np.array(k) == kind] for s, k in measured])
        row[f"share on {kind}"] = float(values.mean()) if values.size else float("nan")
    row["mimic minus distractor"] = row["share on mimic"] - row["share on distractor"]
    return row


def share_rows(pipelines: list[Pipeline], runs: list[str]) -> list[dict]:
    """Per gated run: a row of its share summary over the seeds together, then a row per seed."""
    rows = []
    for name in (run for run in runs if run.startswith("gated-")):
        measured = [gate_shares(pipeline, name) for pipeline in pipelines]
        rows.append({"run": name, "seeds": "all", **share_summary(measured)})
        rows += [{"run": name, "seeds": str(p.seed), **share_summary([m])} for p, m in zip(pipelines, measured)]
    return rows


def finding_rows(pipelines: list[Pipeline], runs: list[str]) -> list[dict]:
    """Per run: the seeds whose head did not learn, by finding (kept its first epoch, constant gate)."""
    rows = []
    for name in runs:
        found: dict[str, list[int]] = {}
        for pipeline in pipelines:
            config = finished_run(pipeline.runs_dir / name / f"split{SPLIT}").config
            for finding in config.get(LEARNING, []):
                found.setdefault(finding["name"], []).append(pipeline.seed)
        said = "; ".join(f"{finding} on seeds {', '.join(map(str, seeds))}" for finding, seeds in found.items())
        rows.append({"run": name, "seeds": len(pipelines), "did not learn": said or "learned on every seed"})
    return rows


def summarise(tables: dict[int, ResultsTable], pipelines: list[Pipeline], runs: list[str],
              compare: list[tuple[str, str]], resamples: int) -> tuple[list[dict], list[dict]]:
    """Per-method accuracy over seeds and pooled paired differences of one preset's report seeds."""
    split = f"split {SPLIT}"
    seeds = sorted(tables)
    names = {p.seed: method_names(p.runs_dir, runs) for p in pipelines}
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
                                "95 % interval": f"[{100 * pooled.low:+.1f}, {100 * pooled.high:+.1f}]",
                                "above zero": pooled.low > 0})
    return accuracy_rows, difference_rows


def report_part(reported: list[Pipeline], runs: dict[str, list[str]], compare: list[tuple[str, str]],
                resamples: int) -> dict[str, list[dict]]:
    """Train and evaluate every fusion run of the report seeds; return their accuracies, paired differences, gate
    shares and learning findings."""
    tables = {}
    for pipeline in reported:
        pipeline.stage_one()
        pipeline.train(runs)
        tables[pipeline.seed] = ResultsTable.from_dict(json.loads(pipeline.evaluate(runs, compare).read_text()))
    accuracy, differences = summarise(tables, reported, list(runs), compare, resamples)
    return {"accuracy": accuracy, "differences": differences, "gate_shares": share_rows(reported, list(runs)),
            "did_not_learn": finding_rows(reported, list(runs))}


def main() -> None:
    """Run the choice seeds' candidates, then every report seed's pipeline; print the tables and write JSON."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--presets", nargs="+", choices=PRESETS, default=list(PRESETS))
    parser.add_argument("--choice-seeds", type=int, nargs="*", default=[0, 1, 2],
                        help="seeds whose validation videos compare the gate candidates (none: skip the choice)")
    parser.add_argument("--report-seeds", type=int, nargs="*", default=[3, 4, 5],
                        help="seeds whose test videos are reported; must differ from the choice seeds (none: only "
                             "the choice)")
    parser.add_argument("--candidates", type=int, nargs="+", metavar="N",
                        help="train only these gate candidates, by their place in GATE_CANDIDATES from 0 (default: all)")
    parser.add_argument("--folds", type=int, default=0, help="stream pairs for out-of-fold scores (0: leave out)")
    parser.add_argument("--workers", type=int, default=2, help="dask workers of extract-frames and extract-features")
    parser.add_argument("--bootstrap", type=int, default=2000, help="resamples of the pooled intervals")
    parser.add_argument("--work", help="folder for every seed's outputs (default: a temporary folder, kept)")
    parser.add_argument("--out")
    args = parser.parse_args()
    if set(args.choice_seeds) & set(args.report_seeds):
        parser.error(f"seeds {sorted(set(args.choice_seeds) & set(args.report_seeds))} are both choice and report "
                     "seeds: a choice must never see the videos it is reported on")
    work = Path(args.work) if args.work else Path(tempfile.mkdtemp(prefix="fusion_quality-"))
    runs, compare = fusion_runs(args.folds), comparisons(args.folds)
    payload: dict[str, dict] = {}
    for preset in args.presets:
        chosen = [Pipeline(work, preset, seed, args.folds, args.workers) for seed in args.choice_seeds]
        for pipeline in chosen:
            pipeline.stage_one()
            pipeline.train(candidate_runs(args.folds, args.candidates))
        reported = [Pipeline(work, preset, seed, args.folds, args.workers) for seed in args.report_seeds]
        probes = {pipeline.seed: pipeline.probe() for pipeline in chosen}
        payload[preset] = {"choice": choice_rows(chosen, args.folds, args.bootstrap, args.candidates) if chosen else [],
                           "share_sd_by_epoch": share_sd_by_epoch_rows(chosen, args.folds, args.candidates)
                           if chosen else [],
                           "probe": probe_rows(probes),
                           "streams_right": streams_right_rows(probes),
                           **(report_part(reported, runs, compare, args.bootstrap) if reported else {}),
                           "seconds": {f"seed {p.seed}": p.seconds for p in chosen + reported}}
    for preset, parts in payload.items():
        print(f"\n== {preset}: gate candidates on the choice seeds {args.choice_seeds} ==")
        for row in parts["choice"]:
            print(f"  {row['candidate']}: accuracy {100 * row['val accuracy']:.1f} +- "
                  f"{100 * row['val accuracy sd']:.1f}, loss {row['val loss']:.3f}, share gap "
                  f"{row['val share gap']:+.2f} (per seed {row['val share gap per seed']}), share sd "
                  f"{row['val share sd']:.2f}; test minus best fixed {row['test minus best fixed']:+.1f} "
                  f"{row['test interval']}, test share gap {row['test share gap']:+.2f}  [{row['flags']}]")
        print("\nThe gate's share sd over the validation videos after each epoch (mean over the choice seeds):")
        print_table(parts["share_sd_by_epoch"])
        print(f"\nThe probe's test accuracy, predicting each video's {PROBED_ATTRIBUTE} from both streams' pooled "
              "features:")
        print_table(parts["probe"])
        print("\nWhich stream is right on the training videos (cached scores), the choice seeds pooled:")
        print_table(parts["streams_right"])
        if "accuracy" not in parts:
            continue
        print(f"\n== {preset}: report seeds {args.report_seeds}, mean class accuracy (%) ==")
        print_table(parts["accuracy"])
        print("\nPaired differences in mean class accuracy (points), pooled over seeds, 95 % stratified bootstrap:")
        for row in parts["differences"]:
            print(f"  {row['method']} minus {row['minus']}: {row['points']:+.1f} [{row['low']:+.1f}, {row['high']:+.1f}]")
        print("\nHeads that did not learn (seeds, by finding):")
        for row in parts["did_not_learn"]:
            print(f"  {row['run']}: {row['did not learn']}")
        print("\nGate spatial share w1 / (w1 + w2) over test videos, the seeds together and each seed:")
        for row in parts["gate_shares"]:
            print(f"  {row['run']}, seeds {row['seeds']}: {row['mean share']:.2f}, sd {row['sd over test videos']:.2f}; "
                  f"distractor {row['share on distractor']:.2f}, mimic {row['share on mimic']:.2f} "
                  f"(mimic minus distractor {row['mimic minus distractor']:+.2f})")
    write_results("fusion_quality", args.out, choice_seeds=args.choice_seeds, report_seeds=args.report_seeds,
                  folds=args.folds, work=str(work), presets=payload)


if __name__ == "__main__":
    main()

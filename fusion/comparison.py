"""What evaluate runs: every method on one split's test videos in one table (late-fusion rules, the
trained runs, Park et al.'s amplification rows and the oracle), with bootstrap intervals and paired
differences."""
from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np

from twostream.data.manifest import Manifest
from twostream.data.metrics import (
    VideoScores,
    accuracy_interval,
    bootstrap_samples,
    mean_class_accuracy_of,
    oracle_correct,
    paired_difference_interval,
)
from twostream.fusion import late
from twostream.fusion.configs import EvaluateConfig
from twostream.fusion.errors import FusionError, ReportError
from twostream.fusion.features import FeatureSource, stream_scores
from twostream.fusion.results import ResultsTable
from twostream.fusion.sources import open_fusion_store
from twostream.fusion.splits import resolve_splits, split_sources
from twostream.fusion.training.learning import Finding
from twostream.fusion.training.runs import PREDICTIONS, load_run, split_folder
from twostream.fusion.training.tasks import DEFAULT_SCORE_WEIGHTS

log = logging.getLogger(__name__)

ORACLE = "oracle: either stream's top-1 right"
REFERENCES = (late.TITLES[late.SEARCHED_RULE], late.TITLES["average"])  # what trained methods are compared with


def evaluate(manifest: Manifest, features: str | Path, runs: Sequence[str | Path],
             *, config: EvaluateConfig = EvaluateConfig()) -> ResultsTable:
    """Every method's mean class accuracy and top-1 per split of `features`: late-fusion rules and the trained
    `runs` (run folders, as train-gate and train-mfuse write them).

    Amplification runs add Park et al.'s rows (see `amplification_rows`). With `config.bootstrap`
    resamples, each mean class accuracy gets its bootstrap interval over the test videos, each
    trained run its paired differences from the best fixed weighting (grid search on validation) and
    from the plain average (and the pairs of `config.compare` theirs), and the oracle (whichever
    stream's top-1 is right) a row.
    """
    store = open_fusion_store(features)
    roots = [str(root) for root in runs]
    unknown = [folder for pair in config.compare for folder in pair if folder not in roots]
    if unknown:
        raise FusionError(f"--compare names {unknown[0]}, which is not among --runs; compare runs you evaluate")
    table = ResultsTable()
    for each in resolve_splits(manifest, config.split):
        name = f"split {each}"
        sources = split_sources(store, manifest, each, ["rgb_logits", "flow_logits"], val_fraction=config.val_fraction,
                                seed=config.seed)
        val = (stream_scores(sources.val, "rgb"), stream_scores(sources.val, "flow"), sources.val.labels)
        test_rgb, test_flow = stream_scores(sources.test, "rgb"), stream_scores(sources.test, "flow")
        labels = sources.test.labels
        fused, flow_weight = late.late_fusion_scores(val, (test_rgb, test_flow))
        log.info("split %s: grid search chose flow weight %.2f", each, flow_weight)
        correct = {late.TITLES[rule]: scores.argmax(axis=1) == labels for rule, scores in fused.items()}
        trained: dict[str, str] = {}  # run folder -> method
        trained_runs = distinct_titles(roots, [_trained_run(split_folder(root, each), sources.test) for root in roots])
        derived = amplification_rows(trained_runs, test_flow.probabilities)
        for root, run in zip(roots, trained_runs):
            _add_row(correct, run.title, run.scored.scores, labels, root)
            table.add_findings(run.title, name, run.learning)
            trained[root] = run.title
        for title, scores in derived.items():
            _add_row(correct, title, scores, labels, "the amplification rows")
        correct[ORACLE] = oracle_correct(test_rgb.logits, test_flow.logits, labels)
        samples = bootstrap_samples(len(labels), config.bootstrap, config.seed) if config.bootstrap else None
        for method, right in correct.items():
            interval = accuracy_interval(right, labels, samples, config.level) if samples is not None else None
            table.add(method, name, mean_class_accuracy_of(right, labels), float(right.mean()), interval)
        table.add_outcomes(name, sources.test.video_ids, labels, correct)
        pairs = [(method, reference) for method in [*trained.values(), *derived] for reference in REFERENCES]
        pairs += [(trained[first], trained[second]) for first, second in config.compare]
        for method, reference in pairs if samples is not None else ():
            table.add_difference(method, name, reference, paired_difference_interval(
                correct[method], correct[reference], labels, samples, config.level))
    return table


def distinct_titles(roots: Sequence[str], runs: Sequence[TrainedRun]) -> list[TrainedRun]:
    """`runs` (one per folder of `roots`), those whose recorded method names another run's too titled with
    their folder's name as well, "method [folder]": two gates that differ only in settings their method
    name leaves out (rates, epochs, dropout) get rows of their own."""
    counts = Counter(run.title for run in runs)
    return [replace(run, title=f"{run.title} [{Path(root).name}]") if counts[run.title] > 1 else run
            for root, run in zip(roots, runs)]


def _add_row(correct: dict[str, np.ndarray], title: str, scores: np.ndarray, labels: np.ndarray, origin: str) -> None:
    """Record which test videos a method got right, refusing a second method of the same title."""
    if title in correct:
        raise FusionError(f"{origin} and another run (or rule) are both named {title!r}; the table's rows need "
                          "distinct names: evaluate one of them, or give the runs' folders distinct names")
    correct[title] = np.asarray(scores).argmax(axis=1) == labels


@dataclass(frozen=True)
class TrainedRun:
    """A trained run's title, its test results in the order of the test videos, its task's settings, and how
    its head did not learn (see `twostream.fusion.training.learning`)."""

    title: str
    scored: VideoScores
    task: Mapping
    learning: Sequence[Finding] = ()

    @property
    def head_probabilities(self) -> np.ndarray | None:
        """The head's own video-level softmax scores (the mean over views), or None when the run kept logits."""
        if self.task.get("final_score") != "probabilities":
            return None
        return self.scored.head_scores if self.scored.head_scores is not None else self.scored.scores


def amplification_rows(runs: Sequence[TrainedRun], flow_probabilities: np.ndarray) -> dict[str, np.ndarray]:
    """Park et al.'s rows for each amplification run scored on softmax: S(amp) alone (when the run's own row
    is another combination), S(amp) + T by the l2-normalised softmax average, and with every m-fusion
    run's head, m-fusion : S(amp) : T at that run's weights (2:3:4), S(amp) in place of the spatial net.
    """
    rows: dict[str, np.ndarray] = {}
    fusions = [run for run in runs if run.task.get("method") == "mfusion" and run.head_probabilities is not None]
    for run in runs:
        amplified = run.head_probabilities
        if run.task.get("method") != "amplification" or amplified is None:
            continue
        if run.scored.head_scores is not None:
            rows[f"{run.title}: S(amp) alone"] = amplified
        rows[f"{run.title}: S(amp) + T, l2-normalised softmax"] = late.l2_softmax_average(amplified, flow_probabilities)
        for fusion in fusions:
            weights = fusion.task.get("score_weights") or DEFAULT_SCORE_WEIGHTS
            rows[f"{fusion.title} with {run.title} as S, {':'.join(f'{w:g}' for w in weights)}"] = (
                late.weighted_scores([fusion.head_probabilities, amplified, flow_probabilities], weights))
    return rows


def _trained_run(folder: Path, test: FeatureSource) -> TrainedRun:
    """A run's title, test results (in the order of `test`'s videos) and task settings."""
    if not (folder / PREDICTIONS).is_file():
        raise FusionError(f"{folder} has no {PREDICTIONS}; train it with train-gate or train-mfuse for this split")
    try:
        run = load_run(folder)
    except ReportError as error:
        raise FusionError(str(error)) from None
    records = run.predictions.get("test", [])
    present = {record["video_id"] for record in records}
    missing = [v for v in test.video_ids if v not in present]
    if missing:
        raise FusionError(f"{folder / PREDICTIONS} lacks test predictions for {len(missing)} videos (e.g. "
                          f"{missing[0]!r}); was it trained on another manifest or split?")
    wanted = set(test.video_ids)
    scored = VideoScores.from_records([r for r in records if r["video_id"] in wanted]).aligned(test.video_ids)
    if not np.array_equal(scored.labels, test.labels):
        raise FusionError(f"{folder / PREDICTIONS} labels its test videos otherwise than the manifest; was it "
                          "trained on another manifest?")
    return TrainedRun(str(run.config.get("method", folder.parent.name)), scored, run.config.get("task", {}),
                      run.learning)

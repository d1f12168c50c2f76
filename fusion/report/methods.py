"""Every method's per-video results on one set: the trained runs, and the late-fusion rules on the streams' scores."""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from twostream.fusion import late
from twostream.fusion.analysis import VideoAnalysis
from twostream.fusion.errors import ReportError
from twostream.fusion.metrics import mean_class_accuracy
from twostream.fusion.report.runs import RunRecord, ScoredSet
from twostream.fusion.results import ResultsTable

PREFERRED_SET = "test"
SEARCH_SET = "val"


@dataclass
class SetMethods:
    """Per-video results by method name on one set, the streams' scores there, and the fixed weighted average's name."""

    set_name: str
    methods: dict[str, ScoredSet]
    streams: VideoAnalysis | None
    weighted_average: str | None

    def best(self) -> str:
        """The method with the highest mean class accuracy (first one on ties)."""
        return max(self.methods, key=lambda name: mean_class_accuracy(self.methods[name].scores,
                                                                      self.methods[name].labels))


def common_set(runs: Sequence[RunRecord]) -> str:
    """Return the set every run has predictions on: 'test' when they all have it, else the first shared one."""
    shared = [name for name in runs[0].predictions if all(name in run.predictions for run in runs)]
    if not shared:
        raise ReportError("the runs share no scored set (" + "; ".join(
            f"{run.name}: {', '.join(run.predictions) or 'none'}" for run in runs) + ")")
    return PREFERRED_SET if PREFERRED_SET in shared else shared[0]


def _streams(runs: Sequence[RunRecord], set_name: str) -> tuple[VideoAnalysis | None, VideoAnalysis | None]:
    """Return the streams' scores on `set_name` and on the validation set, from the first run that has them."""
    for run in runs:
        if set_name in run.analysis:
            return run.analysis[set_name], run.analysis.get(SEARCH_SET)
    return None, None


def late_fusion_methods(streams: VideoAnalysis, validation: VideoAnalysis | None) -> tuple[dict[str, ScoredSet], str]:
    """Return the late-fusion rules' results on `streams`' videos, and the name of the fixed weighted average.

    The weighted average's flow weight is searched on `validation` when given, else TSN's 1:1.5.
    """
    rgb, flow, labels = streams.rgb_scores, streams.flow_scores, streams.labels
    fused = {name: rule(rgb, flow) for name, rule in late.PARAMETER_FREE_RULES.items()}
    average = "tsn_1_1.5"
    if validation is not None:
        weight = late.search_flow_weight(validation.rgb_scores, validation.flow_scores, validation.labels)
        average = f"weighted, flow weight {weight:.2f} searched on {SEARCH_SET}"
        fused[average] = late.weighted_average(rgb, flow, weight)
    named = {f"late: {name}": ScoredSet(list(streams.video_ids), labels, scores) for name, scores in fused.items()}
    return named, f"late: {average}"


def methods_on(runs: Sequence[RunRecord], set_name: str) -> SetMethods:
    """Return every run's results on `set_name` (named by run) and, where a run stored stream scores, late fusion's."""
    methods = {run.name: run.scored(set_name) for run in runs}
    streams, validation = _streams(runs, set_name)
    average = None
    if streams is not None:
        late_methods, average = late_fusion_methods(streams, validation)
        methods.update(late_methods)
    return SetMethods(set_name, methods, streams, average)


def aligned(scored: ScoredSet, video_ids: Sequence[str]) -> ScoredSet:
    """Return `scored` reordered to `video_ids`, refusing sets that do not hold exactly those videos."""
    position = {video_id: i for i, video_id in enumerate(scored.video_ids)}
    if set(position) != set(video_ids):
        raise ReportError("two methods were scored on different videos; score them on the same set")
    order = np.array([position[video_id] for video_id in video_ids], dtype=np.int64)
    weights = None if scored.gate_weights is None else scored.gate_weights[order]
    return ScoredSet(list(video_ids), scored.labels[order], scored.scores[order], weights)


def table_from_methods(methods: SetMethods) -> ResultsTable:
    """Return the comparison table of every method on the one set, that set as its only split."""
    table = ResultsTable()
    for name, scored in methods.methods.items():
        table.add_scores(name, methods.set_name, scored.scores, scored.labels)
    return table

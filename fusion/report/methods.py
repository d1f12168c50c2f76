"""Every method's per-video results on one set: the trained runs, and the late-fusion rules on the streams' scores."""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from twostream.data.metrics import VideoScores, mean_class_accuracy
from twostream.fusion import late
from twostream.fusion.errors import ReportError
from twostream.fusion.results import ResultsTable
from twostream.fusion.training.runs import RunRecord, VideoAnalysis

PREFERRED_SET = "test"
SEARCH_SET = "val"


@dataclass
class SetMethods:
    """Per-video results by method name on one set, the streams' scores there, and the fixed weighted average's name."""

    set_name: str
    methods: dict[str, VideoScores]
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


def late_fusion_methods(streams: VideoAnalysis, validation: VideoAnalysis | None) -> tuple[dict[str, VideoScores], str]:
    """Return the late-fusion rules' results on `streams`' videos, and the name of the fixed weighted average.

    The weighted average's flow weight is searched on `validation` when given, else TSN's 1:1.5.
    """
    fused, weight = late.late_fusion_scores(
        (validation.rgb, validation.flow, validation.labels) if validation else None, (streams.rgb, streams.flow))
    titles = {name: f"late: {late.TITLES[name]}" for name in fused}
    if weight is not None:
        titles[late.SEARCHED_RULE] += f", flow weight {weight:.2f} searched on {SEARCH_SET}"
    ids = list(streams.video_ids)
    named = {titles[name]: VideoScores(streams.labels, scores, ids) for name, scores in fused.items()}
    return named, titles[late.SEARCHED_RULE if weight is not None else "tsn_1_1.5"]


def methods_on(runs: Sequence[RunRecord], set_name: str) -> SetMethods:
    """Return every run's results on `set_name` (named by run) and, where a run stored stream scores, late fusion's."""
    methods = {run.name: run.scored(set_name) for run in runs}
    streams, validation = _streams(runs, set_name)
    average = None
    if streams is not None:
        late_methods, average = late_fusion_methods(streams, validation)
        methods.update(late_methods)
    return SetMethods(set_name, methods, streams, average)


def table_from_methods(methods: SetMethods) -> ResultsTable:
    """Return the comparison table of every method on the one set, that set as its only split."""
    table = ResultsTable()
    for name, scored in methods.methods.items():
        table.add_scores(name, methods.set_name, scored.scores, scored.labels)
    return table

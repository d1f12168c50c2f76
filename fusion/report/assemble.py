"""From loaded runs to the report's figures: which data each figure takes, and why a figure is left out."""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from matplotlib.figure import Figure

from twostream.data.metrics import VideoScores, mean_class_accuracy
from twostream.fusion.report.confusion_plot import class_gain_figure, confusion_figure
from twostream.fusion.report.curves_plot import training_curves_figure
from twostream.fusion.report.examples_plot import FrameAndFlow, empty_kinds, examples_figure, select_examples
from twostream.fusion.report.flow_plot import flow_quality_figure
from twostream.fusion.report.html import EmbeddedFigure
from twostream.fusion.report.methods import SetMethods
from twostream.fusion.report.plotting import figure_png
from twostream.fusion.report.tsne_plot import MIN_POINTS, gate_features_figure
from twostream.fusion.report.weights_plot import fusion_weights_figure
from twostream.fusion.training.runs import RunRecord, VideoAnalysis


class NotDrawn(Exception):
    """A figure the inputs cannot support; its message says what is missing."""


@dataclass
class ReportInputs:
    """Everything the figures draw from: the runs, every method's results on one set, and optional extras."""

    runs: list[RunRecord]
    methods: SetMethods
    class_names: Sequence[str] | None = None
    frame_and_flow: FrameAndFlow | None = None
    flow_fields: dict[str, np.ndarray] | None = None

    @property
    def num_classes(self) -> int:
        """Number of classes the scores cover."""
        return int(next(iter(self.methods.methods.values())).scores.shape[1])

    def gated_runs(self) -> list[RunRecord]:
        """Gated runs with gate weights on the set, in increasing lambda."""
        runs = [run for run in self.runs if run.is_gated and run.scored(self.methods.set_name).gate_weights is not None]
        return sorted(runs, key=lambda run: run.multitask_lambda)

    def best_gated(self) -> RunRecord:
        """The gated run with the highest mean class accuracy on the set."""
        runs = self.gated_runs()
        if not runs:
            raise NotDrawn("no gated fusion run among the runs")
        return max(runs, key=lambda run: mean_class_accuracy(self.methods.methods[run.name].scores,
                                                             self.methods.methods[run.name].labels))

    def weighted_average_name(self) -> str:
        """The fixed weighted average's method name, or NotDrawn when no run stored the streams' scores."""
        if self.methods.weighted_average is None:
            raise NotDrawn("no run stored the streams' scores (analysis.npz), so late fusion cannot be compared")
        return self.methods.weighted_average


Drawn = tuple[str, str, Figure]


def _multitask_note(runs: Sequence[RunRecord]) -> str:
    without = any(run.multitask_lambda == 0 for run in runs)
    with_ = any(run.multitask_lambda > 0 for run in runs)
    if without and with_:
        return ""
    missing = "with" if without else "without"
    given = "without" if without else "with"
    return f" Only runs {given} the multi-task loss were given; add one {missing} it to compare."


def draw_weights(inputs: ReportInputs) -> Drawn:
    """The fusion-weights figure of every gated run."""
    runs = inputs.gated_runs()
    if not runs:
        raise NotDrawn("no gated fusion run among the runs")
    set_name = inputs.methods.set_name
    figure = fusion_weights_figure({run.title: run.scored(set_name).gate_weights for run in runs},
                                   {run.title: run.scored(set_name).correct for run in runs})
    caption = (f"Each point is one {set_name} video's gate outputs averaged over its views: temporal weight w2 "
               f"(x) against spatial weight w1 (y); green where the gated prediction is right. Below: histograms "
               f"of the normalised spatial weight w1/(w1+w2). lambda is the weight of the gate's own "
               f"classification loss in Algorithm 1's second phase (0: gate loss alone)." + _multitask_note(runs))
    return "Fusion weights", caption, figure


def draw_gate_features(inputs: ReportInputs) -> Drawn:
    """The t-SNE figure of every gated run that stored gate features."""
    set_name = inputs.methods.set_name
    runs = [run for run in inputs.gated_runs()
            if set_name in run.analysis and run.analysis[set_name].gate_features is not None]
    if not runs:
        raise NotDrawn(f"no gated run stored gate features on {set_name!r} (analysis.npz)")
    if len(runs[0].analysis[set_name].video_ids) < MIN_POINTS:
        raise NotDrawn(f"t-SNE needs at least {MIN_POINTS} videos")
    figure = gate_features_figure({run.title: run.analysis[set_name].gate_features for run in runs},
                                  {run.title: run.analysis[set_name].labels for run in runs}, inputs.class_names)
    caption = (f"t-SNE of the gating ConvNet's last feature layer (pooled, averaged over each video's views) on "
               f"the {set_name} videos, coloured by true class. With the multi-task loss the features are "
               f"also trained to separate classes." + _multitask_note(runs))
    return "Gate features", caption, figure


def _gated_and_average(inputs: ReportInputs) -> tuple[RunRecord, str, VideoAnalysis, VideoScores, VideoScores]:
    run = inputs.best_gated()
    average_name = inputs.weighted_average_name()
    streams = inputs.methods.streams
    gated = inputs.methods.methods[run.name].aligned(streams.video_ids)
    average = inputs.methods.methods[average_name].aligned(streams.video_ids)
    return run, average_name, streams, gated, average


def draw_examples(inputs: ReportInputs) -> Drawn:
    """Videos where the best gated run and the fixed weighted average disagree on being right."""
    run, average_name, streams, gated, average = _gated_and_average(inputs)
    chosen = select_examples(streams.video_ids, streams.labels, streams.rgb_scores, streams.flow_scores,
                             gated.gate_weights, gated_scores=gated.scores, average_scores=average.scores)
    if not any(chosen.values()):
        raise NotDrawn(f"{run.name} and {average_name} are right and wrong on the same videos")
    figure = examples_figure(chosen, inputs.class_names, inputs.frame_and_flow, average_name.removeprefix("late: "))
    frames = "" if inputs.frame_and_flow else " No frame source was given, so frames and flow are not shown."
    missing = "".join(f" No video of the kind \"{kind}\"." for kind in empty_kinds(chosen))
    caption = (f"{inputs.methods.set_name} videos where {run.name} is right and {average_name} is wrong, and the "
               f"reverse: each stream's five highest softmax scores (true class green), the gate's mean weights "
               f"and both fused predictions." + missing + frames)
    return "Examples", caption, figure


def draw_curves(inputs: ReportInputs) -> Drawn:
    """The training curves of every run with metrics."""
    runs = [run for run in inputs.runs if run.metrics]
    if not runs:
        raise NotDrawn("no run has metrics.jsonl")
    figure = training_curves_figure({run.title: run.metrics for run in runs})
    caption = ("Training loss (total and its parts) and validation accuracy per epoch. Shaded spans are the "
               "phases of Algorithm 1 (gate alone, then joint with lambda); dotted lines are learning-rate "
               "drops; the star marks the epoch whose weights were kept.")
    return "Training curves", caption, figure


def draw_confusion(inputs: ReportInputs) -> Drawn:
    """The confusion matrix of the method with the best mean class accuracy."""
    best = inputs.methods.best()
    scored = inputs.methods.methods[best]
    accuracy = mean_class_accuracy(scored.scores, scored.labels)
    figure = confusion_figure(scored.labels, scored.predictions, inputs.num_classes, inputs.class_names, best)
    caption = (f"Confusion matrix of the best method on {inputs.methods.set_name}, {best} (mean class accuracy "
               f"{100 * accuracy:.1f}%); each row is normalised to its true class's videos.")
    return "Confusion matrix", caption, figure


def draw_gain(inputs: ReportInputs) -> Drawn:
    """Per-class accuracy of the best gated run minus that of the fixed weighted average."""
    run, average_name, _, gated, average = _gated_and_average(inputs)
    figure = class_gain_figure(gated.labels, gated.predictions, average.predictions, inputs.num_classes,
                               class_names=inputs.class_names, method=run.name, baseline=average_name)
    caption = (f"Accuracy of {run.name} minus that of {average_name} for each class on "
               f"{inputs.methods.set_name}, classes sorted by gain.")
    return "Per-class gain of gated fusion", caption, figure


def draw_flow(inputs: ReportInputs) -> Drawn:
    """The flow-quality figure from the flow benchmark's saved fields."""
    if not inputs.flow_fields:
        raise NotDrawn("no flow fields from the flow benchmark were given")
    figure = flow_quality_figure(inputs.flow_fields)
    names = " and ".join(inputs.flow_fields)
    caption = (f"The same frame pair's optical flow from {names}, colour-coded on one speed scale (Middlebury "
               f"colour wheel: hue is direction, saturation speed), and the endpoint distance between them.")
    return "Flow quality", caption, figure


FIGURES: tuple[tuple[str, Callable[[ReportInputs], Drawn]], ...] = (
    ("fusion_weights", draw_weights),
    ("gate_features", draw_gate_features),
    ("examples", draw_examples),
    ("training_curves", draw_curves),
    ("confusion_matrix", draw_confusion),
    ("class_gain", draw_gain),
    ("flow_quality", draw_flow),
)


def draw_figures(inputs: ReportInputs) -> tuple[list[EmbeddedFigure], list[str]]:
    """Return every figure the inputs support, rendered, and for each other one a line saying why it is missing."""
    drawn, notes = [], []
    for name, draw in FIGURES:
        try:
            heading, caption, figure = draw(inputs)
        except NotDrawn as reason:
            notes.append(f"{name.replace('_', ' ')}: not drawn, {reason}")
            continue
        drawn.append(EmbeddedFigure(name, heading, caption, figure_png(figure)))
    return drawn, notes

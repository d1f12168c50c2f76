"""The examples figure: videos where gated fusion and the fixed weighted average disagree on being right."""
from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from twostream.fusion.errors import ReportError
from twostream.fusion.late import softmax
from twostream.fusion.report.plotting import CORRECT_COLOR, WRONG_COLOR, class_name, new_figure, wrapped
from twostream.pipeline.flow.color import flow_to_color

# frame_and_flow(video_id) -> (RGB frame (H, W, 3) uint8, flow field (H, W, 2) in pixels)
FrameAndFlow = Callable[[str], tuple[np.ndarray, np.ndarray]]
GATED_RIGHT = "gated fusion right, weighted average wrong"
AVERAGE_RIGHT = "weighted average right, gated fusion wrong"
TOP_K = 5


@dataclass(frozen=True)
class Example:
    """One video: label, each stream's scores (C,), the gate's mean weights (spatial, temporal), both predictions."""

    video_id: str
    label: int
    rgb_scores: np.ndarray
    flow_scores: np.ndarray
    gate_weights: np.ndarray
    gated_prediction: int
    average_prediction: int


def select_examples(video_ids: Sequence[str], labels: np.ndarray, rgb_scores: np.ndarray, flow_scores: np.ndarray,
                    gate_weights: np.ndarray, *, gated_scores: np.ndarray, average_scores: np.ndarray,
                    per_kind: int = 3) -> dict[str, list[Example]]:
    """Return up to `per_kind` videos of each kind where exactly one of the two fused predictions is right.

    Within a kind, videos whose gate departs most from equal weights come first.
    """
    labels = np.asarray(labels)
    gated, average = np.asarray(gated_scores).argmax(axis=1), np.asarray(average_scores).argmax(axis=1)
    weights = np.asarray(gate_weights, dtype=np.float64)
    total = weights.sum(axis=1)
    departure = np.abs(np.divide(weights[:, 0], total, out=np.full(len(weights), 0.5), where=total > 0) - 0.5)
    kinds = {GATED_RIGHT: (gated == labels) & (average != labels),
             AVERAGE_RIGHT: (average == labels) & (gated != labels)}
    out = {}
    for kind, mask in kinds.items():
        chosen = sorted(np.flatnonzero(mask), key=lambda i: (-departure[i], i))[:per_kind]
        out[kind] = [Example(str(video_ids[i]), int(labels[i]), np.asarray(rgb_scores[i]), np.asarray(flow_scores[i]),
                             weights[i], int(gated[i]), int(average[i])) for i in chosen]
    return out


def examples_figure(examples: Mapping[str, Sequence[Example]], class_names: Sequence[str] | None = None,
                    frame_and_flow: FrameAndFlow | None = None, average_label: str = "weighted average") -> Figure:
    """Return one row per example: optionally a frame and its colour-coded flow, each stream's top-5, the verdicts.

    `examples` maps a kind (a heading) to its videos, as `select_examples` returns; a kind without
    videos draws nothing (the caption says so: see `empty_kinds`). `frame_and_flow`, when given,
    supplies each video's frame and flow field.
    """
    rows = [(kind, example) for kind, chosen in examples.items() for example in chosen]
    if not rows:
        raise ReportError("no video where exactly one of gated fusion and the weighted average is right")
    image_columns = 2 if frame_and_flow is not None else 0
    widths = [1.3] * image_columns + [1.5, 1.5, 1.6]
    figure = new_figure(sum(widths) * 2.6, 2.1 * len(rows) + 0.5)
    grid = figure.add_gridspec(len(rows), len(widths), width_ratios=widths)
    for row, (kind, example) in enumerate(rows):
        if frame_and_flow is not None:
            frame, flow = frame_and_flow(example.video_id)
            _image(figure.add_subplot(grid[row, 0]), np.asarray(frame), f"{example.video_id}: frame")
            _image(figure.add_subplot(grid[row, 1]), flow_to_color(flow), "flow (colour-coded)")
        _top_scores(figure.add_subplot(grid[row, image_columns]), example.rgb_scores, example.label,
                    class_names, "spatial stream")
        _top_scores(figure.add_subplot(grid[row, image_columns + 1]), example.flow_scores, example.label,
                    class_names, "temporal stream")
        _verdicts(figure.add_subplot(grid[row, image_columns + 2]), kind, example, class_names, average_label)
    return figure


def empty_kinds(examples: Mapping[str, Sequence[Example]]) -> list[str]:
    """The kinds of example that have no video."""
    return [kind for kind, chosen in examples.items() if not chosen]


def _image(axis: Axes, image: np.ndarray, title: str) -> None:
    axis.imshow(image)
    axis.set_title(title, fontsize=8)
    axis.set_axis_off()


def _top_scores(axis: Axes, scores: np.ndarray, label: int, class_names: Sequence[str] | None, title: str) -> None:
    probabilities = softmax(np.asarray(scores, dtype=np.float64)[None])[0]
    top = np.argsort(-probabilities, kind="stable")[:TOP_K]
    colours = [CORRECT_COLOR if index == label else "0.65" for index in top]
    positions = np.arange(len(top))[::-1]
    axis.barh(positions, probabilities[top], color=colours)
    axis.set_yticks(positions, [wrapped(class_name(int(i), class_names), 22) for i in top], fontsize=7)
    axis.set_xlim(0, 1)
    axis.tick_params(axis="x", labelsize=7)
    axis.set_title(f"{title}: top-{len(top)} softmax", fontsize=8)


def _verdicts(axis: Axes, kind: str, example: Example, class_names: Sequence[str] | None, average_label: str) -> None:
    axis.set_axis_off()
    w1, w2 = (float(w) for w in example.gate_weights)
    lines = [
        (f"{example.video_id}", "black"),
        (f"true class: {class_name(example.label, class_names)}", "black"),
        (f"gate: spatial w1 = {w1:.2f}, temporal w2 = {w2:.2f}", "black"),
        _verdict("gated fusion", example.gated_prediction, example.label, class_names),
        _verdict(average_label, example.average_prediction, example.label, class_names),
    ]
    axis.set_title(kind, fontsize=8, loc="left")
    for line, (text, colour) in enumerate(lines):
        axis.text(0.0, 0.9 - 0.19 * line, text, color=colour, fontsize=8, transform=axis.transAxes, va="top")


def _verdict(method: str, prediction: int, label: int, class_names: Sequence[str] | None) -> tuple[str, str]:
    right = prediction == label
    verdict = "right" if right else "wrong"
    return f"{method}: {class_name(prediction, class_names)} ({verdict})", CORRECT_COLOR if right else WRONG_COLOR

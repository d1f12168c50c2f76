"""Each figure function draws a readable PNG from small real data, and refuses data it cannot draw."""
from __future__ import annotations

import numpy as np
import pytest

from twostream.fusion.errors import ReportError
from twostream.fusion.report import (
    Example,
    class_gain_figure,
    confusion_figure,
    embed_tsne,
    examples_figure,
    figure_png,
    flow_quality_figure,
    fusion_weights_figure,
    gate_features_figure,
    save_png,
    select_examples,
    training_curves_figure,
)
from twostream.fusion.report.confusion_plot import class_accuracies
from twostream.fusion.report.curves_plot import kept_epoch_index, phase_spans
from twostream.fusion.report.examples_plot import AVERAGE_RIGHT, GATED_RIGHT, empty_kinds
from twostream.pipeline.flow import endpoint_errors
from twostream.fusion.training.runs import load_run


@pytest.fixture(scope="module")
def runs(trained_runs):
    return [load_run(path) for path in trained_runs.paths]


def test_fusion_weights_figure_from_two_runs(runs, tmp_path, drawn):
    weights = {run.title: run.scored("test").gate_weights for run in runs}
    correct = {run.title: run.scored("test").correct for run in runs}
    path = save_png(fusion_weights_figure(weights, correct), tmp_path / "weights.png")
    one_panel = drawn(figure_png(fusion_weights_figure({"only": weights[runs[0].title]})))
    two_panels = drawn(path.read_bytes())
    assert two_panels.shape[1] > 1.8 * one_panel.shape[1]
    with pytest.raises(ReportError, match=r"\(N, 2\)"):
        fusion_weights_figure({"bad": np.ones((3, 3))})


def test_tsne_keeps_well_separated_groups_apart():
    rng = np.random.default_rng(0)
    features = np.concatenate([rng.normal(0, 1, (20, 16)), rng.normal(12, 1, (20, 16))])
    points = embed_tsne(features)
    group = np.repeat([0, 1], 20)
    distances = np.linalg.norm(points[:, None] - points[None], axis=2)
    np.fill_diagonal(distances, np.inf)
    assert (group[distances.argmin(axis=1)] == group).all()
    with pytest.raises(ReportError, match="t-SNE"):
        embed_tsne(features[:3])


def test_gate_features_figure_from_stored_analysis(runs, drawn):
    features = {run.title: run.analysis["test"].gate_features for run in runs}
    labels = {run.title: run.analysis["test"].labels for run in runs}
    assert all(array.shape == (48, 16) for array in features.values())
    drawn(figure_png(gate_features_figure(features, labels, ["walk", "run", "jump", "wave"])))


def _example_arrays():
    labels = np.array([0, 1, 2, 0, 1])
    eye = np.eye(3) * 4
    rgb = eye[[0, 2, 2, 1, 1]]
    flow = eye[[1, 1, 0, 0, 0]]
    weights = np.array([[0.9, 0.1], [0.2, 0.8], [0.55, 0.45], [0.0, 1.0], [0.5, 0.5]])
    gated = eye[[0, 1, 2, 0, 0]]
    average = eye[[1, 2, 2, 1, 1]]
    return ["a", "b", "c", "d", "e"], labels, rgb, flow, weights, gated, average


def _examples_of_example_arrays():
    """`select_examples` over `_example_arrays()` with its default number per kind."""
    ids, labels, rgb, flow, weights, gated, average = _example_arrays()
    return select_examples(ids, labels, rgb, flow, weights, gated_scores=gated, average_scores=average)


def test_select_examples_takes_videos_where_exactly_one_method_is_right():
    ids, labels, rgb, flow, weights, gated, average = _example_arrays()
    chosen = select_examples(ids, labels, rgb, flow, weights, gated_scores=gated, average_scores=average, per_kind=5)
    # a, b and d: gated right and average wrong; d's gate departs most from equal weights, then a, then b.
    assert [e.video_id for e in chosen[GATED_RIGHT]] == ["d", "a", "b"]
    assert [e.video_id for e in chosen[AVERAGE_RIGHT]] == ["e"]
    first = chosen[GATED_RIGHT][0]
    assert (first.gated_prediction, first.average_prediction, first.label) == (0, 1, 0)
    assert len(select_examples(ids, labels, rgb, flow, weights, gated_scores=gated, average_scores=average,
                               per_kind=1)[GATED_RIGHT]) == 1


def test_examples_figure_with_and_without_frames(drawn):
    chosen = _examples_of_example_arrays()
    rng = np.random.default_rng(1)
    seen = []

    def frame_and_flow(video_id: str):
        seen.append(video_id)
        return rng.integers(0, 256, (48, 64, 3), dtype=np.uint8), rng.normal(0, 2, (48, 64, 2))

    without = drawn(figure_png(examples_figure(chosen, ["walk", "run", "jump"])))
    with_frames = drawn(figure_png(examples_figure(chosen, None, frame_and_flow)))
    assert seen == ["d", "a", "b", "e"]
    assert with_frames.shape[1] > without.shape[1]
    with pytest.raises(ReportError, match="no video"):
        examples_figure({GATED_RIGHT: [], AVERAGE_RIGHT: []})


def test_examples_figure_accepts_hand_made_examples(drawn):
    example = Example("v1", 2, np.arange(8.0), np.arange(8.0)[::-1], np.array([0.3, 0.7]), 7, 0)
    drawn(figure_png(examples_figure({"disagreement": [example]})))


def test_training_curves_figure_marks_algorithm1_phases(runs, drawn):
    joint = runs[1].metrics
    spans = phase_spans(joint)
    assert [(name, lam) for name, lam, _, _ in spans] == [("gate", 0.0), ("joint", 1.0)]
    assert spans[0][2] == 0 and spans[-1][3] == len(joint) - 1 and spans[1][2] == spans[0][3] + 1
    assert [(name, lam) for name, lam, _, _ in phase_spans(runs[0].metrics)] == [("gate", 0.0)]
    drawn(figure_png(training_curves_figure({run.title: run.metrics for run in runs})))
    with pytest.raises(ReportError, match="metrics"):
        training_curves_figure({"empty": []})


def test_the_curves_star_the_epoch_the_run_kept_not_the_best_accuracy():
    kept_last = [{"val_mean_class_accuracy": accuracy, "improved": True} for accuracy in (0.9, 0.8, 0.7)]
    assert kept_epoch_index(kept_last) == 2  # --select last: every epoch improves on the one before
    by_loss = [{"val_mean_class_accuracy": 0.9, "improved": True}, {"val_mean_class_accuracy": 0.95, "improved": False},
               {"val_mean_class_accuracy": 0.8, "improved": True}, {"val_mean_class_accuracy": 0.6, "improved": False}]
    assert kept_epoch_index(by_loss) == 2
    assert kept_epoch_index([{"val_mean_class_accuracy": 0.5}, {"val_mean_class_accuracy": 0.7}]) == 1  # unmarked


def test_confusion_figure(drawn):
    labels = np.array([0, 0, 1, 1, 2, 2])
    predicted = np.array([0, 1, 1, 1, 0, 2])
    np.testing.assert_allclose(class_accuracies(labels, predicted, 4)[:3], [0.5, 1.0, 0.5])
    assert np.isnan(class_accuracies(labels, predicted, 4)[3])
    drawn(figure_png(confusion_figure(labels, predicted, 3, ["a", "b", "c"], "method")))


def test_class_gain_figure_draws_each_class_gain_sorted(drawn):
    labels = np.array([0, 0, 1, 1, 2, 2])
    gated = np.array([0, 0, 1, 0, 0, 1])  # per class right: 1.0, 0.5, 0.0
    average = np.array([0, 1, 1, 0, 2, 2])  # 0.5, 0.5, 1.0
    figure = class_gain_figure(labels, gated, average, 3, class_names=["run", "jump", "swim"])
    axis = figure.axes[0]
    assert [round(bar.get_height()) for bar in axis.patches] == [50, 0, -100]  # percentage points, largest first
    assert [tick.get_text() for tick in axis.get_xticklabels()] == ["run", "jump", "swim"]
    assert "mean -16.7 points" in axis.get_title()
    drawn(figure_png(figure))


def test_flow_quality_figure_and_endpoint_error(drawn):
    y, x = np.mgrid[0:40, 0:60].astype(np.float64)
    ours = np.stack([np.cos(x / 9) * 3, np.sin(y / 7) * 2], axis=2)
    reference = ours + np.stack([np.full_like(x, 0.3), np.full_like(x, 0.4)], axis=2)
    np.testing.assert_allclose(endpoint_errors(ours, reference), 0.5)
    drawn(figure_png(flow_quality_figure({"opencv": reference, "ours": ours})))
    with pytest.raises(ReportError, match="flow-quality figure: two flow fields of one shape"):
        flow_quality_figure({"opencv": reference[:-1], "ours": ours})
    with pytest.raises(ReportError, match="exactly two"):
        flow_quality_figure({"ours": ours})
    with pytest.raises(ReportError, match="one shape"):
        flow_quality_figure({"a": ours, "b": ours[:10]})


def _text_boxes(figure, texts):
    """The extents of matplotlib Text objects once the figure is laid out."""
    figure.draw_without_rendering()
    return [text.get_window_extent() for text in texts]


def test_long_panel_titles_are_wrapped_and_never_run_into_each_other(drawn):
    rng = np.random.default_rng(3)
    titles = ["gated fusion (concat at inception5b, relu, lambda=1, out-of-fold scores)",
              "gated fusion (conv, softmax, lambda=0, dropout scores, trained BN)"]
    features = {title: rng.normal(size=(12, 6)) for title in titles}
    figure = gate_features_figure(features, {title: np.arange(12) % 3 for title in titles})
    drawn(figure_png(figure))
    left, right = _text_boxes(figure, [axis.title for axis in figure.axes])
    assert left.x1 < right.x0, "the two panels' titles overlap"
    assert all("\n" in axis.get_title() for axis in figure.axes)


def test_confusion_matrix_shows_long_class_names_whole(drawn):
    names = ["ApplyEyeMakeup", "Playing Daf with a very long class name", "c"]
    figure = confusion_figure(np.array([0, 1, 2]), np.array([0, 1, 1]), 3, names, "method")
    drawn(figure_png(figure))
    ticks = [label.get_text().replace("\n", " ") for label in figure.axes[0].get_yticklabels()]
    assert ticks == names


def test_a_kind_of_example_without_videos_draws_no_empty_space_and_is_named(drawn):
    chosen = _examples_of_example_arrays()
    only_gated = {GATED_RIGHT: chosen[GATED_RIGHT], AVERAGE_RIGHT: []}
    figure = examples_figure(only_gated)
    assert figure._suptitle is None and len(figure.axes) == 3 * len(chosen[GATED_RIGHT])
    assert empty_kinds(only_gated) == [AVERAGE_RIGHT]
    drawn(figure_png(figure))


def test_fusion_weights_panels_keep_long_titles_apart(drawn):
    titles = ["gated fusion (conv, relu, lambda=0, trained BN)", "gated fusion (conv, relu, lambda=1, trained BN)",
              "gated fusion (conv, relu, lambda=1, trained BN, dropout scores)"]
    rng = np.random.default_rng(4)
    figure = fusion_weights_figure({title: rng.uniform(0, 5, (10, 2)) for title in titles})
    drawn(figure_png(figure))
    boxes = _text_boxes(figure, [axis.title for axis in figure.axes[::2]])
    assert all(left.x1 < right.x0 for left, right in zip(boxes, boxes[1:])), "panel titles overlap"

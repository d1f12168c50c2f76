"""The report: what the fusion learned, in figures, and the comparison of every method, as one HTML page.

`build_report` is the entry point. Each figure is also a function of plain arrays, usable on its own:
`fusion_weights_figure`, `gate_features_figure`, `examples_figure` (with `select_examples`),
`training_curves_figure`, `confusion_figure`, `class_gain_figure`, `flow_quality_figure`; they return
matplotlib Figures (rendered with Agg, no display needed) that `save_png` writes. Flow is drawn with
`twostream.pipeline.flow.color`, runs are read with `twostream.fusion.training.runs.load_run`.
"""
from twostream.fusion.report.build import ReportConfig, build_report, load_comparison
from twostream.fusion.report.confusion_plot import class_gain_figure, confusion_figure
from twostream.fusion.report.curves_plot import training_curves_figure
from twostream.fusion.report.examples_plot import Example, examples_figure, select_examples
from twostream.fusion.report.flow_plot import flow_quality_figure
from twostream.fusion.report.plotting import figure_png, save_png
from twostream.fusion.report.tsne_plot import embed_tsne, gate_features_figure
from twostream.fusion.report.weights_plot import fusion_weights_figure

__all__ = [
    "Example", "ReportConfig", "build_report", "class_gain_figure", "confusion_figure", "embed_tsne", "examples_figure",
    "figure_png", "flow_quality_figure", "fusion_weights_figure", "gate_features_figure", "load_comparison",
    "save_png", "select_examples", "training_curves_figure",
]

"""The training-curves figure: loss and validation accuracy per epoch, with Algorithm 1's phases marked."""
from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from twostream.fusion.errors import ReportError
from twostream.fusion.report.plotting import new_figure

_PHASE_SHADES = ("#deebf7", "#fee6ce", "#e5f5e0", "#efedf5")
_ACCURACIES = (("val_mean_class_accuracy", "val mean class acc."), ("val_top1", "val top-1"))


def phase_spans(history: Sequence[Mapping]) -> list[tuple[str, float, int, int]]:
    """Return the contiguous phases of a run as (name, lambda, first epoch, last epoch)."""
    spans: list[tuple[str, float, int, int]] = []
    for record in history:
        name, lam, epoch = str(record["phase"]), float(record.get("lambda", 0.0)), int(record["epoch"])
        if spans and spans[-1][0] == name and spans[-1][1] == lam:
            spans[-1] = (name, lam, spans[-1][2], epoch)
        else:
            spans.append((name, lam, epoch, epoch))
    return spans


def training_curves_figure(histories: Mapping[str, Sequence[Mapping]]) -> Figure:
    """Return one row per run: its training losses and its validation accuracies per epoch.

    `histories` maps a run's title to its metrics records (metrics.jsonl lines: 'epoch', 'phase',
    'lambda', 'train_loss' and other 'train_*' parts, 'val_mean_class_accuracy', 'val_top1', 'event').
    Phases are shaded and named with their lambda; learning-rate drops are dotted; the epoch the run kept (the
    last one marked 'improved' under its selection; without such marks, the best validation accuracy) is starred.
    """
    runs = {title: list(history) for title, history in histories.items() if history}
    if not runs:
        raise ReportError("the training-curves figure needs at least one run with metrics")
    figure = new_figure(11.0, 3.0 * len(runs) + 0.3)
    axes = figure.subplots(len(runs), 2, squeeze=False)
    for row, (title, history) in enumerate(runs.items()):
        epochs = np.array([int(record["epoch"]) for record in history])
        loss_axis, accuracy_axis = axes[row]
        for axis in (loss_axis, accuracy_axis):
            _shade_phases(axis, history)
        for key in _loss_keys(history):
            values = [record.get(key, np.nan) for record in history]
            loss_axis.plot(epochs, values, marker=".", label=key.removeprefix("train_"),
                           linewidth=2 if key == "train_loss" else 1)
        top = np.nanmax([record.get(key, np.nan) for record in history for key in _loss_keys(history)])
        loss_axis.set_ylim(0, 1.2 * top if np.isfinite(top) and top > 0 else 1.0)
        loss_axis.set_ylabel("training loss")
        loss_axis.set_title(f"{title}: loss", fontsize=10)
        loss_axis.legend(fontsize=7, loc="best")
        for key, label in _ACCURACIES:
            if any(key in record for record in history):
                accuracy_axis.plot(epochs, [record.get(key, np.nan) for record in history], marker=".", label=label)
        kept = kept_epoch_index(history)
        accuracy_axis.scatter([epochs[kept]], [history[kept]["val_mean_class_accuracy"]], marker="*", s=140,
                              color="gold", edgecolor="black", zorder=5, label=f"kept (epoch {epochs[kept]})")
        accuracy_axis.set_ylim(0, 1.12)
        accuracy_axis.set_ylabel("validation accuracy")
        accuracy_axis.set_title(f"{title}: validation", fontsize=10)
        accuracy_axis.legend(fontsize=7, loc="lower right")
        for axis in (loss_axis, accuracy_axis):
            axis.set_xlabel("epoch")
            for record in history:
                if record.get("event") == "lr_drop":
                    axis.axvline(int(record["epoch"]) + 0.5, color="0.4", linestyle=":", linewidth=1)
    return figure


def kept_epoch_index(history: Sequence[Mapping]) -> int:
    """The index of the record of the epoch a run kept: the last marked 'improved' (the selection's own
    record), else that of the best validation accuracy."""
    improved = [index for index, record in enumerate(history) if record.get("improved")]
    if improved:
        return improved[-1]
    return int(np.nanargmax([record.get("val_mean_class_accuracy", np.nan) for record in history]))


def _loss_keys(history: Sequence[Mapping]) -> list[str]:
    keys = dict.fromkeys(key for record in history for key in record
                         if key.startswith("train_") and not key.endswith("_count"))
    return sorted(keys, key=lambda key: (key != "train_loss", key))


def _shade_phases(axis: Axes, history: Sequence[Mapping]) -> None:
    for index, (name, lam, first, last) in enumerate(phase_spans(history)):
        axis.axvspan(first - 0.5, last + 0.5, color=_PHASE_SHADES[index % len(_PHASE_SHADES)], zorder=0)
        axis.text((first + last) / 2, 0.98, f"{name} (lambda={lam:g})", transform=axis.get_xaxis_transform(),
                  ha="center", va="top", fontsize=7, color="0.3")

"""`build_report`: runs in, one self-contained report.html, its figures as PNG files and results.md out."""
from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from html import escape
from pathlib import Path
from typing import Any

from twostream.data.attributes import gather_attributes
from twostream.data.io import write_bytes_atomic, write_text_atomic
from twostream.data.manifest import load_manifest
from twostream.fusion.errors import FusionError, ReportError
from twostream.fusion.report.assemble import ReportInputs, draw_figures
from twostream.fusion.report.attribute_figures import attribute_figures
from twostream.fusion.report.examples_plot import FrameAndFlow
from twostream.fusion.report.flow_bench import flow_fields, load_flow_bench
from twostream.fusion.report.frames import frame_and_flow_reader
from twostream.fusion.report.html import figure_html, mapping_html, report_page, results_table_html, rows_html
from twostream.fusion.report.methods import SetMethods, common_set, methods_on, table_from_methods
from twostream.fusion.report.probe_section import probe_html
from twostream.fusion.report.provenance import gather_provenance
from twostream.fusion.results import ResultsTable
from twostream.fusion.training.learning import LEARNING
from twostream.fusion.training.runs import RunRecord, load_run

REPORT = "report.html"
RESULTS_MARKDOWN = "results.md"


def load_comparison(comparison: Mapping[str, Any] | Path | str) -> ResultsTable:
    """Return the comparison table from a results JSON file (as ResultsTable.to_json writes) or its loaded dict."""
    if not isinstance(comparison, Mapping):
        path = Path(comparison)
        if not path.exists():
            raise ReportError(f"results file {path} not found")
        try:
            comparison = json.loads(path.read_text())
        except json.JSONDecodeError as error:
            raise ReportError(f"{path}: not JSON ({error})") from None
    try:
        return ResultsTable.from_dict(dict(comparison))
    except FusionError as error:
        raise ReportError(str(error)) from None


def _run_summary(run: RunRecord) -> dict[str, Any]:
    best = max(run.metrics, key=lambda r: r.get("val_mean_class_accuracy", float("-inf")), default=None)
    train = run.config.get("train", {})
    return {
        "folder": str(run.path),
        "method": run.method,
        "phases": ", ".join(f"{p.get('name')} (lambda {p.get('lam', 0):g})" for p in run.config.get("phases", [])),
        "epochs run": len(run.metrics),
        "best epoch": None if best is None else best.get("epoch"),
        "best val mean class accuracy": None if best is None else round(best["val_mean_class_accuracy"], 4),
        "learning rates": train.get("lrs"),
        "batch size, segments": f"{train.get('batch_size')}, {train.get('segments')}",
        "checkpoint sha256": run.checkpoint_sha256() or "none",
        "stored analysis sets": ", ".join(run.analysis) or "none",
        "did not learn": _learning_summary(run),
    }


def _learning_summary(run: RunRecord) -> str:
    """The names of the ways the run's head did not learn, 'no' when it learned, or why that is unknown."""
    if LEARNING not in run.config:
        return "not checked (trained before runs recorded it)"
    return ", ".join(finding.name for finding in run.learning) or "no"


def _runs_html(runs: Sequence[RunRecord]) -> str:
    parts = []
    for run in runs:
        config = escape(json.dumps(run.config, indent=2, sort_keys=True))
        warnings = "".join(f'<p class="warning">Did not learn: {escape(finding.message)}</p>'
                           for finding in run.learning)
        parts.append(f"<h3>{escape(run.name)}</h3>{warnings}{mapping_html(_run_summary(run))}"
                     f"<details><summary>config.json</summary><pre>{config}</pre></details>")
    return "".join(parts)


def table_from_runs(runs: Sequence[RunRecord], methods: SetMethods) -> ResultsTable:
    """The comparison of every method on the runs' shared set, each run's row with its findings there."""
    table = table_from_methods(methods)
    for run in runs:
        table.add_findings(run.name, methods.set_name, run.learning)
    return table


def _bench_rows_html(bench: Mapping[str, Any]) -> str:
    rows = bench.get("rows") or []
    return f"<h3>Flow benchmark</h3>{rows_html(rows)}" if rows else ""


@dataclass(frozen=True, kw_only=True)
class ReportConfig:
    """What a report shows beside the runs: its title, the comparison, the flow benchmark and the provenance.

    `comparison` is a results JSON path or dict as ResultsTable.to_json writes (default: every run and
    late-fusion rule on the runs' shared test set); `flow_bench` the flow benchmark's JSON (path or
    dict); `provenance` extra provenance (a mapping or a JSON file's path). `manifest` gives the class
    names and the dataset; `frames` a frame and its flow beside each example video; `features` its
    attributes. `class_names` and `frame_and_flow` supply the same directly, for runs made without stores.
    `attributes` is a CSV of per-video attributes over the manifest's: with any, a figure per attribute of
    the gate's spatial share per value. `probe` is an attribute probe's result (`twostream probe --out`;
    a path or its dict), shown as its tables.
    """

    title: str = "twostream report"
    comparison: Mapping[str, Any] | Path | str | None = None
    flow_bench: Mapping[str, Any] | Path | str | None = None
    provenance: Mapping[str, Any] | Path | str | None = None
    manifest: Path | str | None = None
    frames: Path | str | None = None
    features: Path | str | None = None
    class_names: Sequence[str] | None = None
    frame_and_flow: FrameAndFlow | None = None
    attributes: Path | str | None = None
    probe: Mapping[str, Any] | Path | str | None = None


def build_report(run_dirs: Sequence[Path | str], out_dir: Path | str,
                 *, config: ReportConfig = ReportConfig()) -> Path:
    """Write `out_dir/report.html` (self-contained), the figures as PNG files and results.md; return the HTML's path.

    The page opens with the comparison table, then the figures the runs support (and why any other
    is missing), then the attribute probe's tables when given, then each run's configuration and
    checkpoint sha256, then the provenance.
    """
    manifest = load_manifest(config.manifest) if config.manifest else None
    class_names = config.class_names or (list(manifest.classes) if manifest is not None else None)
    frame_and_flow = config.frame_and_flow or (frame_and_flow_reader(config.frames) if config.frames else None)
    provenance = gather_provenance(config.provenance, manifest=manifest, manifest_path=config.manifest,
                                   frames=config.frames, features=config.features)
    title, comparison, flow_bench = config.title, config.comparison, config.flow_bench
    probe = probe_html(config.probe) if config.probe is not None else ""
    if not run_dirs:
        raise ReportError("a report needs at least one run folder")
    runs = [load_run(path) for path in run_dirs]
    names = [run.name for run in runs]
    if len(set(names)) != len(names):
        raise ReportError(f"runs must differ in method or folder name, they name the table's rows: {', '.join(names)}")
    set_name = common_set(runs)
    methods = methods_on(runs, set_name)
    table = load_comparison(comparison) if comparison is not None else table_from_runs(runs, methods)
    bench, base = load_flow_bench(flow_bench) if flow_bench is not None else ({}, None)
    inputs = ReportInputs(runs, methods, list(class_names) if class_names else None, frame_and_flow,
                          flow_fields(bench, base))
    figures, notes = draw_figures(inputs)
    by_attribute = attribute_figures(inputs, gather_attributes(manifest, config.attributes))
    figures, notes = figures + by_attribute[0], notes + by_attribute[1]

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    for figure in figures:
        write_bytes_atomic(out / f"{figure.name}.png", figure.png)
    write_text_atomic(out / RESULTS_MARKDOWN, table.to_markdown())
    source = "given results file" if comparison is not None else f"computed from the runs' {set_name} predictions"
    notes_html = "".join(f"<li>{escape(note)}</li>" for note in notes)
    sections = [
        ("comparison", "Comparison", f"<p>Mean class accuracy and top-1 in percent ({escape(source)}); the best "
                                     f"of each column in bold.</p>{results_table_html(table)}"),
        ("figures", "Figures", "".join(figure_html(f) for f in figures)
         + (f'<ul class="notes">{notes_html}</ul>' if notes else "")),
        *([("probe", "Attribute probe", probe)] if probe else []),
        ("runs", "Run configurations", _runs_html(runs)),
        ("provenance", "Data provenance",
         (mapping_html(provenance) if provenance else "<p>No provenance was given.</p>") + _bench_rows_html(bench)),
    ]
    stamp = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    subtitle = f"{len(runs)} run(s): {', '.join(names)}; figures on the {set_name} set; written {stamp}"
    target = out / REPORT
    return write_text_atomic(target, report_page(title, subtitle, sections))

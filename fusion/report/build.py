"""`build_report`: runs in, one self-contained report.html, its figures as PNG files and results.md out."""
from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from html import escape
from pathlib import Path
from typing import Any

from twostream.fusion.errors import FusionError, ReportError
from twostream.fusion.report.assemble import ReportInputs, draw_figures
from twostream.fusion.report.examples_plot import FrameAndFlow
from twostream.fusion.report.flow_bench import flow_fields, load_flow_bench
from twostream.fusion.report.html import figure_html, mapping_html, report_page, results_table_html
from twostream.fusion.report.methods import common_set, methods_on, table_from_methods
from twostream.fusion.report.runs import RunRecord, load_run
from twostream.fusion.results import ResultsTable

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
    }


def _runs_html(runs: Sequence[RunRecord]) -> str:
    parts = []
    for run in runs:
        config = escape(json.dumps(run.config, indent=2, sort_keys=True))
        parts.append(f"<h3>{escape(run.name)}</h3>{mapping_html(_run_summary(run))}"
                     f"<details><summary>config.json</summary><pre>{config}</pre></details>")
    return "".join(parts)


def _bench_rows_html(bench: Mapping[str, Any]) -> str:
    rows = bench.get("rows") or []
    if not rows:
        return ""
    columns = list(dict.fromkeys(key for row in rows for key in row))
    head = "".join(f"<th>{escape(str(c))}</th>" for c in columns)
    body = "".join("<tr>" + "".join(f"<td>{escape(_short(row.get(c, '')))}</td>" for c in columns) + "</tr>"
                   for row in rows)
    return f"<h3>Flow benchmark</h3><table>{head and f'<tr>{head}</tr>'}{body}</table>"


def _short(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def build_report(run_dirs: Sequence[Path | str], out_dir: Path | str,
                 comparison: Mapping[str, Any] | Path | str | None = None,
                 flow_bench: Mapping[str, Any] | Path | str | None = None,
                 provenance: Mapping[str, Any] | None = None, *, title: str = "twostream report",
                 class_names: Sequence[str] | None = None,
                 frame_and_flow: FrameAndFlow | None = None) -> Path:
    """Write `out_dir/report.html` (self-contained), the figures as PNG files and results.md; return the HTML's path.

    The page opens with the comparison table (`comparison`: a results JSON path or dict as
    ResultsTable.to_json writes; default: every run and late-fusion rule on the runs' shared test
    set), then the figures the runs support (and why any other is missing), then each run's
    configuration and checkpoint sha256, then `provenance` as given. `flow_bench` is the flow
    benchmark's JSON (path or dict); `frame_and_flow` supplies a frame and flow field per video id.
    """
    if not run_dirs:
        raise ReportError("a report needs at least one run folder")
    runs = [load_run(path) for path in run_dirs]
    names = [run.name for run in runs]
    if len(set(names)) != len(names):
        raise ReportError(f"runs must differ in method or folder name, they name the table's rows: {', '.join(names)}")
    set_name = common_set(runs)
    methods = methods_on(runs, set_name)
    table = load_comparison(comparison) if comparison is not None else table_from_methods(methods)
    bench, base = load_flow_bench(flow_bench) if flow_bench is not None else ({}, None)
    inputs = ReportInputs(runs, methods, list(class_names) if class_names else None, frame_and_flow,
                          flow_fields(bench, base))
    figures, notes = draw_figures(inputs)

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    for figure in figures:
        (out / f"{figure.name}.png").write_bytes(figure.png)
    (out / RESULTS_MARKDOWN).write_text(table.to_markdown())
    source = "given results file" if comparison is not None else f"computed from the runs' {set_name} predictions"
    notes_html = "".join(f"<li>{escape(note)}</li>" for note in notes)
    sections = [
        ("comparison", "Comparison", f"<p>Mean class accuracy and top-1 in percent ({escape(source)}); the best "
                                     f"of each column in bold.</p>{results_table_html(table)}"),
        ("figures", "Figures", "".join(figure_html(f) for f in figures)
         + (f'<ul class="notes">{notes_html}</ul>' if notes else "")),
        ("runs", "Run configurations", _runs_html(runs)),
        ("provenance", "Data provenance",
         (mapping_html(provenance) if provenance else "<p>No provenance was given.</p>") + _bench_rows_html(bench)),
    ]
    stamp = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    subtitle = f"{len(runs)} run(s): {', '.join(names)}; figures on the {set_name} set; written {stamp}"
    target = out / REPORT
    partial = out / (REPORT + ".partial")
    partial.write_text(report_page(title, subtitle, sections), encoding="utf-8")
    partial.replace(target)
    return target

"""build_report on real run folders: every figure embedded, the table, configurations and provenance."""
from __future__ import annotations

import base64
import hashlib
import json
import re
import shutil
from html import escape

import numpy as np
import pytest

from twostream.data.metrics import Interval
from twostream.fusion.errors import ReportError
from twostream.fusion.report.assemble import FIGURES
from twostream.fusion.report.build import ReportConfig, build_report
from twostream.fusion.report.flow_bench import flow_fields
from twostream.fusion.results import ResultsTable
from twostream.fusion.training.learning import flag_learning
from twostream.fusion.training.runs import RunDir

IMAGE = re.compile(r'<figure id="([a-z_]+)"><h3>[^<]*</h3>'
                   r'<img alt="[^"]*" src="data:image/png;base64,([A-Za-z0-9+/=]+)">')
ALL_FIGURES = [name for name, _ in FIGURES]


FLO_TAG = 202021.25  # the Middlebury .flo format's magic number, as its definition gives it


def write_flo(path, flow: np.ndarray) -> None:
    with open(path, "wb") as stream:
        np.array([FLO_TAG], np.float32).tofile(stream)
        np.array([flow.shape[1], flow.shape[0]], np.int32).tofile(stream)
        flow.astype(np.float32).tofile(stream)


@pytest.fixture(scope="module")
def flow_bench(tmp_path_factory):
    """A flow benchmark JSON naming two saved fields of one frame pair, one .flo and one .npy."""
    folder = tmp_path_factory.mktemp("bench")
    y, x = np.mgrid[0:32, 0:48].astype(np.float32)
    ours = np.stack([np.cos(x / 8) * 3, np.sin(y / 6) * 2], axis=2)
    write_flo(folder / "opencv.flo", ours + 0.25)
    np.save(folder / "ours.npy", ours)
    bench = {"benchmark": "flow", "fields": {"opencv": "opencv.flo", "ours": "ours.npy"},
             "rows": [{"algorithm": "ours", "value": 12.5, "unit": "pairs/s"}]}
    (folder / "flow.json").write_text(json.dumps(bench))
    return folder / "flow.json"


@pytest.fixture(scope="module")
def full_report(trained_runs, flow_bench, tmp_path_factory):
    out = tmp_path_factory.mktemp("report")
    provenance = {"dataset": "synthetic switching streams", "features store": {"schema_version": 1,
                                                                             "backbone": "tiny conv"}}
    path = build_report(trained_runs.paths, out, config=ReportConfig(
        flow_bench=flow_bench, provenance=provenance, title="Gated fusion on switching streams",
        class_names=["walk", "run", "jump", "wave"]))
    return path


def test_report_embeds_every_figure_and_writes_them_beside_it(full_report):
    html = full_report.read_text()
    embedded = dict(IMAGE.findall(html))
    assert list(embedded) == ALL_FIGURES
    for name, data in embedded.items():
        png = base64.b64decode(data)
        assert png == (full_report.parent / f"{name}.png").read_bytes()
    assert "not drawn" not in html


def test_report_is_self_contained(full_report):
    html = full_report.read_text()
    sources = re.findall(r'(?:src|href)="([^"]*)"', html)
    assert sources and all(source.startswith("data:image/png;base64,") for source in sources)
    assert "<link" not in html and "<script" not in html and "url(" not in html


def test_report_opens_with_the_table_then_figures_runs_and_provenance(full_report, trained_runs):
    html = full_report.read_text()
    order = [html.index(f'<section id="{anchor}">') for anchor in ("comparison", "figures", "runs", "provenance")]
    assert order == sorted(order)
    table = html[order[0]:order[1]]
    for method in ("gate-lambda0", "gate-lambda1", "late: spatial only", "late: temporal only",
                   "late: weighted average 1:1.5 (TSN)"):
        assert f"<td>{method}</td>" in table
    assert "searched on val" in table
    runs = html[order[2]:order[3]]
    for path in trained_runs.paths:
        assert hashlib.sha256((path / "checkpoint.pt").read_bytes()).hexdigest() in runs
    provenance = html[order[3]:]
    assert "synthetic switching streams" in provenance and "tiny conv" in provenance and "pairs/s" in provenance


def test_results_markdown_matches_the_runs_predictions(full_report, trained_runs):
    lines = (full_report.parent / "results.md").read_text().splitlines()
    assert lines[0] == "| method | test mean class acc. | test top-1 | mean mean class acc. | mean top-1 |"
    gated = json.loads((trained_runs.paths[1] / "predictions.json").read_text())["test"]
    top1 = np.mean([record["prediction"] == record["label"] for record in gated])
    row = next(line for line in lines if line.startswith("| gate-lambda1 |"))
    assert row.split(" | ")[2] == f"{100 * top1:.1f}"


def test_a_run_that_did_not_learn_is_noted_in_the_table_and_its_summary(stuck_gate_run, trained_runs, tmp_path):
    stuck = stuck_gate_run.run_dir
    findings = flag_learning(RunDir(stuck), stuck_gate_run)
    path = build_report([stuck, trained_runs.paths[1]], tmp_path / "out", config=ReportConfig())
    html = path.read_text()
    table, runs = html[html.index('id="comparison"'):html.index('id="figures"')], html[html.index('id="runs"'):]
    assert '<td>gate-stuck <span class="warning">(did not learn, note 1)</span></td>' in table
    assert "<td>gate-lambda1</td>" in table  # a run without findings is not marked
    for finding in findings:
        assert f"[1] gate-stuck, test: {escape(finding.message)}" in table
        assert f'<p class="warning">Did not learn: {escape(finding.message)}</p>' in runs
    assert runs.count("Did not learn:") == len(findings) == 2
    assert "kept_first_epoch, constant_gate" in runs and "not checked (trained before runs recorded it)" in runs
    markdown = (tmp_path / "out" / "results.md").read_text()
    assert "| gate-stuck (did not learn, note 1) |" in markdown and "- [1] gate-stuck, test: the head kept" in markdown


def test_given_comparison_table_is_used(trained_runs, tmp_path):
    table = ResultsTable()
    table.add("gated TSN", "split1", 0.91, 0.93)
    table.add("gated TSN", "split2", 0.89, 0.9)
    table.add("TSN 1:1.5", "split1", 0.87, 0.88)
    results = tmp_path / "results.json"
    results.write_text(table.to_json())
    path = build_report(trained_runs.paths[1:], tmp_path / "out", config=ReportConfig(comparison=results))
    html = path.read_text()
    assert "<td>gated TSN</td>" in html and "split2" in html and "<td>gate-lambda1</td>" not in html
    assert (tmp_path / "out" / "results.md").read_text() == table.to_markdown()


def test_measured_intervals_show_in_the_report_table(trained_runs, tmp_path):
    table = ResultsTable()
    table.add("gated TSN", "split1", 0.91, 0.93, Interval(0.91, 0.85, 0.96))
    table.add("TSN 1:1.5", "split1", 0.87, 0.88)
    table.add_difference("gated TSN", "split1", "TSN 1:1.5", Interval(0.04, -0.01, 0.09))
    path = build_report(trained_runs.paths[1:], tmp_path / "out", config=ReportConfig(comparison=table.to_dict()))
    assert "91.0 [85.0, 96.0]" in path.read_text()
    markdown = (tmp_path / "out" / "results.md").read_text()
    assert "| gated TSN | +4.0 [-1.0, +9.0] |" in markdown


def test_missing_inputs_leave_figures_out_with_a_reason(trained_runs, tmp_path):
    bare = tmp_path / "bare-run"
    bare.mkdir()
    for name in ("config.json", "metrics.jsonl", "predictions.json"):
        shutil.copy(trained_runs.paths[0] / name, bare / name)
    html = build_report([bare], tmp_path / "out").read_text()
    assert [name for name, _ in IMAGE.findall(html)] == ["fusion_weights", "training_curves", "confusion_matrix"]
    assert "gate features: not drawn" in html and "analysis.npz" in html
    assert "flow quality: not drawn" in html and "Only runs without the multi-task loss" in html


def test_bad_inputs_are_refused_with_what_to_do(trained_runs, tmp_path):
    with pytest.raises(ReportError, match="does not exist"):
        build_report([tmp_path / "absent"], tmp_path / "out")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ReportError, match="lacks config.json, predictions.json"):
        build_report([tmp_path / "empty"], tmp_path / "out")
    twin = tmp_path / "other" / trained_runs.paths[0].name
    shutil.copytree(trained_runs.paths[0], twin)
    with pytest.raises(ReportError, match="must differ"):
        build_report([trained_runs.paths[0], twin], tmp_path / "out")
    (tmp_path / "bad.json").write_text('{"rows": 3}')
    with pytest.raises(ReportError, match="not a results table"):
        build_report(trained_runs.paths, tmp_path / "out", config=ReportConfig(comparison=tmp_path / "bad.json"))
    with pytest.raises(ReportError, match="exactly two"):
        build_report(trained_runs.paths, tmp_path / "out",
                     config=ReportConfig(flow_bench={"fields": {"ours": np.zeros((2, 2, 2))}}))


def test_flo_files_the_benchmark_names_are_read_and_bad_ones_named(tmp_path):
    flow = np.random.default_rng(0).normal(size=(5, 7, 2)).astype(np.float32)
    write_flo(tmp_path / "a.flo", flow)
    read = flow_fields({"fields": {"ours": "a.flo", "opencv": "a.flo"}}, tmp_path)
    np.testing.assert_array_equal(read["ours"], flow)
    (tmp_path / "b.flo").write_bytes(b"PNG!" * 4)
    with pytest.raises(ReportError, match="b.flo: not a .flo"):
        flow_fields({"fields": {"ours": "a.flo", "opencv": "b.flo"}}, tmp_path)
    (tmp_path / "c.flo").write_bytes((tmp_path / "a.flo").read_bytes()[:40])
    with pytest.raises(ReportError, match="c.flo: .flo file of 7x5 .*truncated"):
        flow_fields({"fields": {"ours": "c.flo", "opencv": "a.flo"}}, tmp_path)

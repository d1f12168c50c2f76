"""The report's spatial share by attribute figures, from a manifest's or a CSV's attributes, and a probe's tables."""
from __future__ import annotations

import re

import numpy as np
import pytest

from twostream.data.manifest import Manifest, VideoEntry
from twostream.data.metrics import spatial_share
from twostream.data.splits import index_dataset
from twostream.fusion.errors import ReportError
from twostream.fusion.probe import ProbeConfig, probe
from twostream.fusion.report.attribute_figures import figure_name, shares_by_value
from twostream.fusion.report.attribute_plot import spatial_share_by_value_figure
from twostream.fusion.report.build import ReportConfig, build_report
from twostream.fusion.report.plotting import figure_png
from twostream.fusion.training.runs import load_run

FIGURE_IDS = re.compile(r'<figure id="([a-z_]+)">')
CUES = ("appearance", "motion", "none")


def _cues(video_ids: list[str]) -> dict[str, str]:
    """A degraded_cue per video, every third video of each, the last four videos left without one."""
    return {video_id: CUES[index % 3] for index, video_id in enumerate(video_ids[:-4])}


@pytest.fixture(scope="module")
def test_ids(trained_runs) -> list[str]:
    return list(trained_runs.test.video_ids)


def test_shares_are_grouped_by_value_and_videos_without_one_left_out():
    weights = np.array([[1.0, 1.0], [3.0, 1.0], [0.0, 2.0], [0.0, 0.0], [5.0, 5.0]])
    grouped = shares_by_value(["a", "b", "c", "d", "e"], weights, {"a": "x", "b": "y", "c": "x", "d": "y"})
    assert list(grouped) == ["x", "y"]
    np.testing.assert_allclose(grouped["x"], [0.5, 0.0])
    np.testing.assert_allclose(grouped["y"], [0.75, 0.5])
    assert figure_name("Degraded cue (2)") == "spatial_share_by_degraded_cue"


def test_spatial_share_figure_is_drawn_and_refuses_empty_groups(drawn):
    rng = np.random.default_rng(0)
    shares = {"lambda = 0": {"appearance": rng.uniform(0, 0.5, 9), "motion": rng.uniform(0.5, 1, 7)},
              "lambda = 1": {"appearance": rng.uniform(0, 1, 9), "motion": rng.uniform(0, 1, 7), "none": [0.5]}}
    drawn(figure_png(spatial_share_by_value_figure(shares, "degraded_cue")))
    with pytest.raises(ReportError, match="at least one video"):
        spatial_share_by_value_figure({"run": {"motion": np.array([])}}, "degraded_cue")


def test_report_draws_the_figure_from_a_csv_with_each_values_mean(trained_runs, test_ids, tmp_path):
    cues = _cues(test_ids)
    csv_path = tmp_path / "attributes.csv"
    csv_path.write_text("video_id,degraded_cue\n" + "".join(f"{v},{c}\n" for v, c in cues.items()))
    html = build_report(trained_runs.paths, tmp_path / "out", config=ReportConfig(attributes=csv_path)).read_text()
    assert "spatial_share_by_degraded_cue" in FIGURE_IDS.findall(html)
    assert (tmp_path / "out" / "spatial_share_by_degraded_cue.png").stat().st_size > 0
    for path in trained_runs.paths:
        run = load_run(path)
        scored = run.scored("test")
        share = dict(zip(scored.video_ids, spatial_share(scored.gate_weights)))
        means = ", ".join(f"{cue} {np.mean([share[v] for v, c in cues.items() if c == cue]):.2f} "
                          f"({sum(c == cue for c in cues.values())})" for cue in CUES)
        assert f"{run.title}: {means}" in html


def test_report_takes_attributes_from_the_manifest_and_omits_the_figure_without_any(trained_runs, test_ids, tmp_path):
    cues = _cues(test_ids)
    videos = [VideoEntry(v, f"x/{v}.mp4", 0, "walk", {"1": "test"}, attributes={"light": cues[v]} if v in cues else {})
              for v in test_ids]
    manifest = Manifest("synthetic", str(tmp_path), ["walk", "run", "jump", "wave"], videos).save(tmp_path / "m.json")
    with_attributes = build_report(trained_runs.paths, tmp_path / "with",
                                   config=ReportConfig(manifest=manifest)).read_text()
    assert "spatial_share_by_light" in FIGURE_IDS.findall(with_attributes)
    without = build_report(trained_runs.paths, tmp_path / "without", config=ReportConfig()).read_text()
    assert "spatial_share" not in without and "Spatial share by" not in without
    assert not list((tmp_path / "without").glob("spatial_share*"))


def test_report_shows_a_probes_tables(trained_runs, tiny_dataset, feature_store, tmp_path):
    root, _ = tiny_dataset
    manifest = index_dataset("ucf101", root / "videos", splits=root / "splits")
    result = probe(manifest, feature_store, config=ProbeConfig(attribute="degraded_cue", out=tmp_path / "probe.json"))
    html = build_report(trained_runs.paths, tmp_path / "out",
                        config=ReportConfig(probe=tmp_path / "probe.json")).read_text()
    section = html.split('<section id="probe"><h2>Attribute probe</h2>', 1)[1].split("</section>", 1)[0]
    assert f"<td>majority ({result['majority']['value']})</td>" in section
    assert all(f"<td>{tap}</td>" in section for tap in result["taps"])
    assert "<td>clean</td><td>all</td><td>8</td>" in section
    with pytest.raises(ReportError, match="not a probe result"):
        (tmp_path / "bad.json").write_text('{"attribute": "x"}')
        build_report(trained_runs.paths, tmp_path / "bad", config=ReportConfig(probe=tmp_path / "bad.json"))

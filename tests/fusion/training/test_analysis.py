"""Per-video stream scores and gate features stored beside a run, and the head's feature layer."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from twostream.fusion.errors import FusionError
from twostream.fusion.features import averaged_logits
from twostream.fusion.heads.gating import GatedFusionHead
from twostream.fusion.late import StreamScores
from twostream.fusion.training.analysis import analyse, gate_features
from twostream.fusion.training.datasets import AllViewsDataset
from twostream.fusion.training.runs import ANALYSIS, RunDir, VideoAnalysis, read_analysis, write_analysis


def _head() -> GatedFusionHead:
    torch.manual_seed(0)
    return GatedFusionHead(nn.Sequential(nn.Conv2d(8, 6, 1), nn.ReLU()), body_dim=6, num_classes=4, rgb_channels=8)


def test_features_are_what_the_gate_and_classifier_read():
    head = _head().eval()
    rgb, flow = torch.randn(5, 8, 4, 4), torch.randn(5, 8, 4, 4)
    features = head.features(rgb, flow)
    assert features.shape == (5, 6)
    output = head(rgb, flow)
    torch.testing.assert_close(output.gate, head.gate(features))
    torch.testing.assert_close(output.logits, head.classifier(features))


def test_gate_features_average_each_videos_views(make_source):
    source = make_source(6, seed=5)
    head = _head()
    head.train()
    features = gate_features(head, source, chunk=3)
    assert features.shape == (6, 6) and head.training
    views = AllViewsDataset(source, ("rgb_map", "flow_map"))[4]
    with torch.no_grad():
        expected = head.eval().features(views["rgb_map"], views["flow_map"]).mean(dim=0).numpy()
    np.testing.assert_allclose(features[4], expected, rtol=1e-5, atol=1e-6)


def test_analysis_round_trips_through_the_run_folder(make_source, tmp_path):
    source = make_source(6, seed=6)
    analyses = {"val": analyse(source), "test": analyse(source, _head())}
    # float32 means taken in another order: 3.4e-7 relative apart on an AMD EPYC (2.6e-7 absolute), 30x under this
    np.testing.assert_allclose(analyses["val"].rgb_scores, averaged_logits(source, "rgb"), rtol=1e-5, atol=1e-6)
    path = write_analysis(tmp_path, analyses)
    assert path == tmp_path / ANALYSIS and not list(tmp_path.glob("*.partial"))
    again = read_analysis(tmp_path)
    assert set(again) == {"val", "test"} and again["val"].gate_features is None
    assert again["test"].video_ids == source.video_ids
    np.testing.assert_array_equal(again["test"].labels, source.labels)
    np.testing.assert_allclose(again["test"].gate_features, analyses["test"].gate_features)
    np.testing.assert_allclose(again["test"].flow_scores, averaged_logits(source, "flow"), rtol=1e-5, atol=1e-6)
    for stream in ("rgb", "flow"):
        for part in ("probabilities", "sci"):
            np.testing.assert_allclose(getattr(getattr(again["test"], stream), part),
                                       getattr(getattr(analyses["test"], stream), part), rtol=1e-6)
    assert read_analysis(tmp_path / "elsewhere") == {}


def _summaries(videos: int) -> StreamScores:
    return StreamScores.from_views(np.zeros((videos, 2, 3)))


def test_inconsistent_analysis_is_refused(tmp_path):
    with pytest.raises(FusionError, match="disagree"):
        VideoAnalysis(["a", "b"], np.zeros(2, int), _summaries(2), _summaries(3))
    good = VideoAnalysis(["a"], np.zeros(1, int), _summaries(1), _summaries(1))
    with pytest.raises(FusionError, match="set name"):
        write_analysis(tmp_path, {"no/slash": good})


def test_overwriting_a_run_folder_removes_its_old_analysis(make_source, tmp_path):
    run = RunDir.create(tmp_path, "gate")
    write_analysis(run.path, {"test": analyse(make_source(4, seed=7))})
    RunDir.create(tmp_path, "gate", overwrite=True)
    assert read_analysis(run.path) == {}

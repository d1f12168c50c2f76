"""`twostream report`: arguments to build_report, the report's path on stdout, bad input as TwostreamError."""
from __future__ import annotations

import argparse
import json

import pytest
import torch
from torch import nn

from twostream.cli.commands import report
from twostream.data.errors import TwostreamError
from twostream.data.manifest import Manifest
from twostream.fusion.features import InMemoryFeatureSource
from twostream.fusion.heads.gating import GatedFusionHead
from twostream.fusion.training.loop import TrainConfig, train_gated_fusion
from twostream.fusion.training.runs import RunDir


def _parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="twostream report")
    report.add_arguments(parser)
    return parser.parse_args(argv)


@pytest.fixture(scope="module")
def run_folder(tmp_path_factory):
    """A real, tiny gated run: 3 classes told apart by the rgb logits alone."""
    torch.manual_seed(0)
    labels = torch.arange(12) % 3
    logits = torch.nn.functional.one_hot(labels, 3).float()[:, None, None].expand(12, 2, 1, 3).numpy() * 3
    maps = torch.randn(12, 2, 1, 4, 2, 2).numpy()
    source = InMemoryFeatureSource.from_arrays([f"v{i}" for i in range(12)], labels.numpy(), 3, rgb_map=maps,
                                               flow_map=maps, rgb_logits=logits, flow_logits=logits[:, :, :, ::-1])
    head = GatedFusionHead(nn.Sequential(nn.Conv2d(4, 4, 1), nn.ReLU()), 4, 3, rgb_channels=4, dropout=0.0)
    run = RunDir.create(tmp_path_factory.mktemp("runs") / "gate", "split1")
    config = TrainConfig(batch_size=4, lrs=(0.01,), patience=1, max_epochs_per_phase=1)
    train_gated_fusion(head, source, source, config=config, lam=1.0, run=run, evaluate_on={"test": source})
    return run.path.parent  # the run folder, as train-gate --run names it


def test_report_command_prints_the_report_path(run_folder, tmp_path, capsys):
    manifest = Manifest("ucf101", str(tmp_path), ["Archery", "Biking", "Diving"], [])
    manifest.save(tmp_path / "manifest.json")
    (tmp_path / "provenance.json").write_text(json.dumps({"features store": {"backbone": "effnet-lite0"}}))
    args = _parse(["--runs", str(run_folder), "--out", str(tmp_path / "out"), "--title", "Tiny run",
                   "--manifest", str(tmp_path / "manifest.json"), "--provenance", str(tmp_path / "provenance.json")])
    assert report.run(args) == 0
    printed = capsys.readouterr().out.strip()
    assert printed == str(tmp_path / "out" / "report.html")
    html = (tmp_path / "out" / "report.html").read_text()
    assert "<title>Tiny run</title>" in html and "effnet-lite0" in html and "<td>ucf101</td>" in html
    assert "<td>classes</td><td>3</td>" in html
    assert (tmp_path / "out" / "results.md").read_text().startswith("| method |")


def test_report_command_refuses_bad_input(run_folder, tmp_path):
    with pytest.raises(TwostreamError, match="does not exist"):
        report.run(_parse(["--runs", str(tmp_path / "absent"), "--out", str(tmp_path / "out")]))
    (tmp_path / "list.json").write_text("[1, 2]")
    with pytest.raises(TwostreamError, match="JSON object"):
        report.run(_parse(["--runs", str(run_folder), "--out", str(tmp_path / "out"), "--provenance",
                           str(tmp_path / "list.json")]))
    with pytest.raises(SystemExit):
        _parse(["--out", str(tmp_path / "out")])


def test_report_command_takes_attributes_and_a_probe(run_folder, tmp_path):
    (tmp_path / "attributes.csv").write_text("video_id,scene\n" + "".join(f"v{i},{'ab'[i % 2]}\n" for i in range(12)))
    args = _parse(["--runs", str(run_folder), "--out", str(tmp_path / "out"), "--attributes", str(tmp_path / "attributes.csv")])
    assert report.run(args) == 0
    assert '<figure id="spatial_share_by_scene">' in (tmp_path / "out" / "report.html").read_text()
    with pytest.raises(TwostreamError, match="probe result .* does not exist"):
        report.run(_parse(["--runs", str(run_folder), "--out", str(tmp_path / "out"), "--probe", str(tmp_path / "absent.json")]))

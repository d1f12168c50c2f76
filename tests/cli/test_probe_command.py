"""`twostream index` then `twostream probe` on the tiny synthetic dataset: the manifest carries its attributes."""
from __future__ import annotations

import json

from twostream.cli.main import main


def test_index_keeps_synthetic_attributes_and_probe_prints_and_writes(tiny_dataset, feature_store, tmp_path, capsys):
    root, _ = tiny_dataset
    manifest = tmp_path / "manifest.json"
    assert main(["index", "--dataset", "ucf101", "--splits", str(root / "splits"), "--videos", str(root / "videos"),
                 "--out", str(manifest)]) == 0
    assert "attributes: degradation, degraded_cue" in capsys.readouterr().out
    out = tmp_path / "probe.json"
    assert main(["probe", str(manifest), "--features", str(feature_store), "--attribute", "degraded_cue",
                 "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    result = json.loads(out.read_text())
    assert printed.startswith("degraded_cue on split 1: 8 train videos")
    assert f"| majority ({result['majority']['value']}) |" in printed and f"written: {out}" in printed
    assert main(["probe", str(manifest), "--features", str(feature_store), "--attribute", "scene"]) == 2
    assert "no video has the attribute 'scene'" in capsys.readouterr().err

import argparse
import importlib
import json
import os
import re
import subprocess
import sys

import pytest
import torch

from twostream.cli.main import COMMAND_MODULES, build_parser, main


def test_help_lists_the_commands_in_pipeline_order_and_each_command_help_shows_every_option(capsys):
    result = subprocess.run([sys.executable, "-m", "twostream.cli", "--help"], capture_output=True, text=True)
    assert result.returncode == 0
    modules = [importlib.import_module(f"twostream.cli.commands.{name}") for name in COMMAND_MODULES]
    listed = [line.split()[0] for line in result.stdout.splitlines() if re.match(r"    [a-z]", line)]
    assert listed == [module.NAME for module in modules]  # the program's help names them in pipeline order
    subparsers = build_parser()._subparsers._group_actions[0].choices
    for module in modules:
        with pytest.raises(SystemExit) as done:
            main([module.NAME, "--help"])
        assert done.value.code == 0
        shown = capsys.readouterr().out
        squeezed = re.sub(r"\s", "", shown)  # argparse wraps lines, also at hyphens: compare without whitespace
        assert shown.startswith(f"usage: twostream {module.NAME}") and re.sub(r"\s", "", module.HELP) in squeezed
        for action in subparsers[module.NAME]._actions:
            if action.help == argparse.SUPPRESS:
                continue
            name = action.option_strings[-1] if action.option_strings else (action.metavar or action.dest)
            assert name in shown and re.sub(r"\s", "", action.help % vars(action))[:40] in squeezed, (
                f"{module.NAME} --help does not show {name} with its help")


def test_make_synthetic_index_and_check_videos(tmp_path, capsys):
    root = tmp_path / "syn"
    assert main(["make-synthetic", "--preset", "tiny", "--classes", "3", "--out", str(root)]) == 0
    manifest = tmp_path / "manifest.json"
    assert main(["index", "--dataset", "ucf101", "--splits", str(root / "splits"),
                 "--videos", str(root / "videos"), "--out", str(manifest)]) == 0
    assert len(json.loads(manifest.read_text())["videos"]) == 9
    report = tmp_path / "report.json"
    assert main(["check-videos", str(manifest), "--frame-size", "native", "--report", str(report)]) == 0
    assert all(r["ok"] and r["frames"] == 10 for r in json.loads(report.read_text()))
    # A video that no longer decodes is listed and the exit code says so.
    broken = next((root / "videos").rglob("*.mp4"))
    broken.write_bytes(b"garbage")
    assert main(["check-videos", str(manifest), "--report", str(report)]) == 1
    assert f"FAILED {broken.stem}" in capsys.readouterr().out


def test_bad_input_gives_one_line_and_exit_2_without_traceback(tmp_path):
    args = [sys.executable, "-m", "twostream.cli", "check-videos", str(tmp_path / "absent.json")]
    result = subprocess.run(args, capture_output=True, text=True)
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0 and "does not exist" in result.stderr
    assert "Traceback" not in result.stderr
    debug = subprocess.run(args[:3] + ["--debug"] + args[3:], capture_output=True, text=True)
    assert "Traceback" in debug.stderr


@pytest.mark.parametrize("command", [
    ["extract-frames", "m.json", "--frames", "s.zarr"],
    ["extract-features", "m.json", "--frames", "f.zarr", "--features", "s.zarr", "--rgb-checkpoint", "r.pt",
     "--flow-checkpoint", "f.pt"],
    ["train-gate", "m.json", "--features", "s.zarr", "--run", "runs/gate"],
    ["train-mfuse", "m.json", "--features", "s.zarr", "--run", "runs/mfuse"],
    ["train-streams", "m.json", "--frames", "f.zarr", "--out", "streams"],
    ["flow", "a.png", "b.png", "-o", "ab.flo"],
])
def test_every_command_refuses_a_device_it_cannot_use_before_any_work(command, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    missing = f"cuda:{torch.cuda.device_count() + 3}"  # a CUDA device this machine lacks, with or without a GPU
    assert main([*command, "--device", missing]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"device {missing!r} asked for, but torch sees" in err
    assert list(tmp_path.iterdir()) == []  # nothing was written


def test_shared_flow_batches_run_a_video_per_core_in_one_worker_unless_told_otherwise():
    from twostream.cli.commands.extract_frames import _execution
    from twostream.data.errors import TwostreamError
    from twostream.pipeline.extract_frames import FrameExtractionConfig

    def execution(*options: str, sharing: str = "on"):
        args = build_parser().parse_args(["extract-frames", "m.json", "--frames", "s.zarr", *options])
        return _execution(args, FrameExtractionConfig(device="cpu", flow_sharing=sharing))

    shared = execution()
    assert (shared.workers, shared.threads_per_worker) == (1, os.cpu_count())
    assert execution("--workers", "2", "--threads", "3").workers == 2
    assert execution("--threads", "3").threads_per_worker == 3
    assert execution(sharing="off").threads_per_worker == 1 and execution(sharing="off").workers is None
    with pytest.raises(TwostreamError, match="--threads must be"):
        execution("--threads", "0")

"""bench/gpu_check.py on a machine without CUDA, with tiny sizes: each step's outcome is recorded (one that
passes, one that fails, one that runs out of time, one whose tests all skip), the check goes on after a
failure, the sub-benchmark's JSON is merged in, and the summary and exit code say it did not all pass."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.skipif(torch.cuda.is_available(), reason="checks the failures of a machine without CUDA")


def _check(tmp_path: Path, *arguments: str) -> tuple[subprocess.CompletedProcess, dict]:
    out = tmp_path / "gpu_check.json"
    done = subprocess.run([sys.executable, "bench/gpu_check.py", "--device", "cpu", "--sizes", "tiny",
                           "--out", str(out), *arguments], cwd=ROOT, capture_output=True, text=True, timeout=120)
    return done, json.loads(out.read_text())


def test_each_step_is_recorded_and_a_failure_does_not_stop_the_check(tmp_path):
    log = tmp_path / "setup.log"
    log.write_text("venv reused\ninstalling what is missing: zarr\n")
    done, check = _check(tmp_path, "--steps", "tests,flow_eager,extract_features_amp,fusion_cache",
                         "--test-paths", "tests/fusion/training/test_training.py", "--timeout", "fusion_cache=1",
                         "--setup-seconds", "1.5", "--setup-status", "ok", "--setup-log", str(log))
    assert done.returncode == 1, done.stdout + done.stderr
    assert check["ok"] is False and check["environment"]["gpu"] is None and check["environment"]["torch"]
    assert check["setup"] == {"status": "ok", "seconds": 1.5, "log": log.read_text().splitlines()}
    steps = {step["name"]: step for step in check["steps"]}
    assert list(steps) == ["flow", "flow_tests", "tests", "flow_eager", "extract_frames_sharing",
                           "extract_features_amp", "extract_features_no_amp", "fusion_cache", "extract_features_i3d"]
    tests = steps["tests"]
    assert tests["status"] == "skipped" and tests["reason"] == "all 1 tests skipped: needs a CUDA device"
    assert tests["results"]["skipped"] == 1 and tests["results"]["passed"] == 0
    assert steps["flow_eager"]["status"] == "failed"
    assert steps["flow_eager"]["reason"] == "exit code 2: --rows cuda: torch sees no CUDA device"
    features = steps["extract_features_amp"]
    assert features["status"] == "ok" and features["seconds"] > 0 and "reason" not in features
    assert features["results"]["benchmark"] == "extract_features" and features["results"]["amp"] is True
    assert any(row["measure"] == "whole extract-features path" for row in features["results"]["rows"])
    cache = steps["fusion_cache"]
    assert cache["status"] == "failed" and cache["reason"] == "timed out after 1 s" and cache["seconds"] < 10
    assert (steps["flow"]["status"], steps["flow"]["reason"]) == ("skipped", "not selected (--steps)")
    summary = done.stdout[done.stdout.index("GPU check on no GPU"):]
    assert "extract_features_amp     ok" in summary and "timed out after 1 s" in summary
    assert "NOT all passed" in summary


def test_steps_past_the_budget_are_skipped(tmp_path):
    done, check = _check(tmp_path, "--steps", "extract_features_amp", "--budget", "60", "--setup-seconds", "55")
    assert done.returncode == 1
    step = next(step for step in check["steps"] if step["name"] == "extract_features_amp")
    assert step["status"] == "skipped" and step["reason"].startswith("time budget spent")
    assert check["setup"]["status"] == "none"


def test_the_optional_i3d_step_is_skipped_rather_than_cut_short(tmp_path):
    done, check = _check(tmp_path, "--steps", "extract_features_i3d", "--budget", "60", "--setup-seconds", "40")
    step = next(step for step in check["steps"] if step["name"] == "extract_features_i3d")
    assert step["status"] == "skipped" and step["reason"].startswith("time budget spent")  # under its 30 s limit

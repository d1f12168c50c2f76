"""The GPU tests of TV-L1 collect and run where only torch, numpy and Triton are installed (a bare GPU
machine): nothing they import needs OpenCV, zarr, ffmpeg or dask."""
from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]


def test_the_flow_tests_collect_without_the_pipelines_other_requirements():
    done = subprocess.run([sys.executable, "tests/bare_python.py", "-m", "pytest", "--collect-only", "-q",
                           "-p", "no:cacheprovider", "-m", "cuda or triton", "tests/pipeline/flow"],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    collected = [line for line in done.stdout.splitlines() if "::" in line]
    assert any("test_step_chunks.py" in line for line in collected)
    if importlib.util.find_spec("triton") is not None:
        assert any("test_triton_kernels.py" in line for line in collected)
    assert "error" not in done.stdout.lower()

"""What a batch command prints: our progress, one line per failed video and the summary; dask's own
records only in --log-file (or with --debug)."""
from __future__ import annotations

import re
import subprocess
import sys

from twostream.cli.main import main
from twostream.data.runtime import ffmpeg_executable

PROGRESS = re.compile(r"^\d+/\d+ videos \(.*left.*\)$")


def _folder_with_bad_videos(root, shared_data):
    """Two short real clips and three broken files (empty, text, cut), in two class folders."""
    (root / "a").mkdir(parents=True)
    (root / "b").mkdir()
    for source, target in (("v_ApplyEyeMakeup_sample.avi", "a/good1.avi"), ("kinetics_sample_340x256.mp4", "b/good2.mp4")):
        subprocess.run([ffmpeg_executable(), "-loglevel", "error", "-i", str(shared_data / "videos" / source), "-t", "1",
                        "-s", "160x120", str(root / target)], check=True)
    (root / "a" / "empty.mp4").write_bytes(b"")
    (root / "b" / "text.avi").write_text("not a video\n")
    (root / "b" / "cut.avi").write_bytes((shared_data / "videos" / "v_ApplyEyeMakeup_sample.avi").read_bytes()[:30_000])


def test_a_batch_with_bad_videos_prints_only_our_lines_and_logs_dask_to_the_file(tmp_path, shared_data):
    _folder_with_bad_videos(tmp_path / "videos", shared_data)
    manifest = tmp_path / "manifest.json"
    assert main(["index", "--dataset", "folder", "--videos", str(tmp_path / "videos"), "--out", str(manifest)]) == 0
    log_file = tmp_path / "run.log"
    run = subprocess.run([sys.executable, "-m", "twostream.cli", "extract-frames", str(manifest), "--frames",
                          str(tmp_path / "frames.zarr"), "--workers", "2", "--frame-size", "160x120", "--flow",
                          "farneback", "--log-file", str(log_file)], capture_output=True, text=True)
    out, err = run.stdout, run.stderr
    assert run.returncode == 1  # three videos failed, recorded
    assert err.strip() and all(PROGRESS.match(line) for line in err.strip().splitlines()), err
    failed = [line for line in out.splitlines() if "FAILED" in line]
    assert sorted(line.split()[1].rstrip(":") for line in failed) == ["cut", "empty", "text"]
    assert "2 videos written" in out and "Traceback" not in out + err
    kept = log_file.read_text()
    assert "distributed." in kept and "Nanny" in kept  # dask's start-up and shutdown, kept in the file

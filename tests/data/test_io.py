"""Atomic writes, file digests, JSON lines and reading ahead."""
from __future__ import annotations

import hashlib
import json
import os

import pytest

from twostream.data.io import (
    append_jsonl,
    atomic_path,
    file_sha256,
    prefetch,
    read_jsonl,
    write_bytes_atomic,
    write_json_atomic,
    write_text_atomic,
)


def test_an_atomic_write_replaces_the_file_only_when_complete(tmp_path):
    target = tmp_path / "table.json"
    write_text_atomic(target, "old\n")
    with pytest.raises(RuntimeError):
        with atomic_path(target) as partial:
            partial.write_text("half")
            raise RuntimeError("killed mid-write")
    assert target.read_text() == "old\n" and sorted(p.name for p in tmp_path.iterdir()) == ["table.json"]
    write_json_atomic(target, {"b": 1, "a": 2}, sort_keys=True)
    assert target.read_text() == '{"a": 2, "b": 1}\n'


def test_a_folder_written_atomically_replaces_the_old_one(tmp_path):
    target = tmp_path / "video"
    target.mkdir()
    (target / "stale.jpg").write_bytes(b"x")
    with atomic_path(target, directory=True) as partial:
        assert partial.is_dir() and partial.parent == tmp_path and partial.name.startswith(".video.partial-")
        (partial / "img_00001.jpg").write_bytes(b"y")
    assert [p.name for p in target.iterdir()] == ["img_00001.jpg"]
    assert [p.name for p in tmp_path.iterdir()] == ["video"]


def test_a_file_never_replaces_a_folder(tmp_path):
    folder = tmp_path / "runs"
    (folder / "gate").mkdir(parents=True)
    with pytest.raises(IsADirectoryError, match="is a folder"):
        write_text_atomic(folder, "a table")
    assert (folder / "gate").is_dir() and [p.name for p in tmp_path.iterdir()] == ["runs"]


def test_sha256_and_json_lines(tmp_path):
    path = tmp_path / "blob.bin"
    path.write_bytes(b"two streams" * 200_000)
    assert file_sha256(path) == hashlib.sha256(path.read_bytes()).hexdigest()
    log = tmp_path / "metrics.jsonl"
    assert read_jsonl(log) == []
    append_jsonl(log, {"epoch": 0, "loss": 1.5})
    append_jsonl(log, {"epoch": 1, "loss": 0.5})
    assert read_jsonl(log) == [{"epoch": 0, "loss": 1.5}, {"epoch": 1, "loss": 0.5}]
    assert json.loads(log.read_text().splitlines()[0]) == {"epoch": 0, "loss": 1.5}


def test_prefetch_keeps_order_and_raises_at_the_failing_item():
    def items():
        yield from range(5)
        raise ValueError("unreadable chunk")

    seen = []
    with pytest.raises(ValueError, match="unreadable chunk"):
        for item in prefetch(items(), depth=2):
            seen.append(item)
    assert seen == [0, 1, 2, 3, 4]


def test_the_next_write_removes_what_a_killed_writer_left_aside(tmp_path):
    import socket
    import subprocess
    import sys

    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    host = socket.gethostname()
    target = tmp_path / "features.h5"
    killed = tmp_path / f".features.h5.partial-{host}-{int(dead.stdout)}-0123abcd"
    live = tmp_path / f".features.h5.partial-{host}-{os.getpid()}-89abcdef"
    elsewhere = tmp_path / f".features.h5.partial-other-host-{int(dead.stdout)}-00ff00ff"
    for partial in (killed, live, elsewhere):
        partial.write_bytes(b"half")
    (tmp_path / ".other.h5.partial-x").write_bytes(b"not ours")
    write_bytes_atomic(target, b"whole")
    assert target.read_bytes() == b"whole"
    assert not killed.exists() and live.exists() and elsewhere.exists()  # only a dead writer's, on this host
    assert (tmp_path / ".other.h5.partial-x").exists()

"""Leases on videos: of two jobs claiming a free video at once, exactly one holds it."""
from __future__ import annotations

from twostream.pipeline.stores import leases


def test_a_job_that_saw_no_lease_does_not_overwrite_one_taken_meanwhile(tmp_path, monkeypatch):
    read = leases._read
    with leases.claim(tmp_path, "v1") as first:
        assert first.held
        holder = read(tmp_path / leases.LEASES / "v1").token
        # the second job looked before the first wrote its lease: it saw none
        calls = []

        def late_read(path):
            calls.append(path)
            return None if len(calls) == 1 else read(path)

        monkeypatch.setattr(leases, "_read", late_read)
        with leases.claim(tmp_path, "v1") as second:
            assert not second.held and second.holder == holder
        monkeypatch.setattr(leases, "_read", read)
        assert read(tmp_path / leases.LEASES / "v1").token == holder  # still the first job's
    assert not list((tmp_path / leases.LEASES).iterdir())  # released, and no partial file left


def test_a_lapsed_lease_is_taken_over(tmp_path):
    folder = tmp_path / leases.LEASES
    folder.mkdir()
    (folder / "v1").write_text("another-host-4242-0b0b0b0b 1.0\n")  # expired long ago
    with leases.claim(tmp_path, "v1") as claimed:
        assert claimed.held

"""Claims on videos, so several jobs on one store split the work instead of each doing all of it.

Before a task works on a video it takes the video's lease, a small file ``<store>/leases/<video_id>``
holding the holder's token (host-pid-random) and an expiry time. While the task runs, a thread
renews the lease; when it ends, the lease is removed. Another job finding a live lease leaves the
video to its holder. A lease lapses when its expiry passes (a job killed on another host) or at
once when its holder ran on this host and its process is gone, so a rerun takes over a killed
job's videos.

A free video's lease is created exclusively (a hard link that fails when the file exists), so of
two jobs claiming it at once exactly one holds it. Leases only divide the work: correctness never
rests on them. Should two jobs both take over one lapsed lease in the same instant, both compute the
video and the store's atomic publication keeps one.
"""
from __future__ import annotations

import contextlib
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

from twostream.data.io import writer_gone, writer_token

LEASE_SECONDS = 600.0  # a holder renews every third of this; a job killed elsewhere frees its videos after it
LEASES = "leases"
CLAIMED_BY, ALREADY_PRESENT = "claimed_by", "already_present"


@dataclass(frozen=True)
class Lease:
    """Who holds a video (token: host-pid-random) and until when (seconds since the epoch)."""

    token: str
    expires: float

    @property
    def lapsed(self) -> bool:
        """Whether nobody holds the video any more: past its expiry, or its holder's process on this host is gone."""
        return time.time() > self.expires or writer_gone(self.token)


def _read(path: Path) -> Lease | None:
    try:
        token, expires = path.read_text().split()
        return Lease(token, float(expires))
    except (FileNotFoundError, ValueError):
        return None


def _write(path: Path, lease: Lease, exclusive: bool = False) -> bool:
    """Replace the lease file atomically (a reader sees the old lease or the new one, never half of one);
    `exclusive`: only where there is none. Returns whether the file now holds `lease`."""
    partial = path.with_name(f".{path.name}.{lease.token}")
    partial.write_text(f"{lease.token} {lease.expires:.3f}\n")
    if not exclusive:
        os.replace(partial, path)
        return True
    try:
        os.link(partial, path)
        return True
    except FileExistsError:
        return False
    finally:
        partial.unlink(missing_ok=True)


@dataclass
class VideoClaim:
    """The outcome of trying to claim a video: held by us, or by `holder`."""

    held: bool
    holder: str | None = None


@contextlib.contextmanager
def claim(store_path: str | os.PathLike, video_id: str, seconds: float = LEASE_SECONDS) -> Iterator[VideoClaim]:
    """Hold a video's lease for the block, renewing it, unless another live job holds it (then `held` is False)."""
    folder = Path(store_path) / LEASES
    folder.mkdir(exist_ok=True)
    path = folder / video_id
    ours = Lease(writer_token(), time.time() + seconds)
    current = _read(path)
    if current is not None and not current.lapsed:
        yield VideoClaim(False, current.token)
        return
    _write(path, ours, exclusive=current is None)
    current = _read(path)
    if current is None or current.token != ours.token:  # another job took it in the same instant
        yield VideoClaim(False, current.token if current else None)
        return
    stop = threading.Event()

    def renew() -> None:
        while not stop.wait(seconds / 3):
            held = _read(path)
            if held is None or held.token != ours.token:
                return
            _write(path, Lease(ours.token, time.time() + seconds))

    renewer = threading.Thread(target=renew, daemon=True)
    renewer.start()
    try:
        yield VideoClaim(True)
    finally:
        stop.set()
        renewer.join()
        held = _read(path)
        if held is not None and held.token == ours.token:
            path.unlink(missing_ok=True)


def run_claimed(store_class: type, store_path: str, video_id: str, overwrite: bool, work: Callable[..., Any],
                *args: Any) -> Any:
    """Run `work(*args)` for one video of a `store_class` store while holding its lease; return
    {"claimed_by": holder} instead when another live job holds it, and {"already_present": True}
    when another job completed the video meanwhile (unless `overwrite`)."""
    with claim(store_path, video_id) as claimed:
        if not claimed.held:
            return {CLAIMED_BY: claimed.holder}
        if not overwrite and store_class.open(store_path).is_complete(video_id):
            return {ALREADY_PRESENT: True}
        return work(*args)


def left_to_another_job(outcome: Any) -> bool:
    """Whether a task's outcome says another job holds or finished the video (so this job wrote nothing)."""
    return isinstance(outcome, dict) and (CLAIMED_BY in outcome or ALREADY_PRESENT in outcome)

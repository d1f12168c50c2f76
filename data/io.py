"""Files written whole or not at all (atomic writes), file digests, JSON lines, and reading ahead.

Every writer of the project goes through `atomic_path`: the content is written to a hidden sibling
and renamed over the target only once complete, so a killed job never leaves a half-written file
or folder where a reader looks; the next write of the same target removes what it left aside.
"""
from __future__ import annotations

import glob
import hashlib
import json
import os
import queue
import shutil
import socket
import threading
import uuid
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")
_DONE = object()


def writer_token() -> str:
    """A token naming this writer, unique to this host, process and call: `<host>-<pid>-<random>`."""
    return f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:8]}"


def writer_gone(token: str) -> bool:
    """Whether the writer a `writer_token` names ran on this host and its process is gone (so what it left
    is stale); False for other hosts' writers, live ones, and strings that are no token."""
    parts = token.rsplit("-", 2)  # a host name may hold dashes; the pid and the random part do not
    if len(parts) != 3 or not parts[2]:
        return False
    host, pid, _ = parts
    return host == socket.gethostname() and pid.isdigit() and not process_alive(int(pid))


def _sibling(path: Path, label: str) -> Path:
    """A hidden name beside `path`, unique to this host, process and call: `.<name>.<label>-<writer token>`."""
    return path.with_name(f".{path.name}.{label}-{writer_token()}")


def process_alive(pid: int) -> bool:
    """Whether a process of this host with id `pid` is running."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's live process
        return True
    return True


def remove_stale_partials(target: str | os.PathLike) -> list[Path]:
    """Remove the hidden partial siblings of `target` left by killed writers on this host (their process is
    gone); return what was removed. Partials of live writers, and of other hosts, stay."""
    target = Path(target)
    prefix = f".{target.name}.partial-"
    removed = []
    for partial in target.parent.glob(f"{glob.escape(prefix)}*"):
        if writer_gone(partial.name[len(prefix):]):
            _remove(partial)
            removed.append(partial)
    return removed


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def _move_into_place(partial: Path, target: Path) -> None:
    """Rename `partial` over `target`; a folder replaced by a folder is set aside first and removed after
    (put back if the rename fails). A file is never written over a folder."""
    if target.is_dir() and not target.is_symlink():
        if not partial.is_dir():
            raise IsADirectoryError(f"{target} is a folder; a file cannot replace it")
        aside = _sibling(target, "replaced")
        os.rename(target, aside)
        try:
            os.rename(partial, target)
        except BaseException:
            os.rename(aside, target)
            raise
        shutil.rmtree(aside, ignore_errors=True)
        return
    if partial.is_dir() and target.exists():
        target.unlink()
    os.replace(partial, target)


@contextmanager
def atomic_path(target: str | os.PathLike, *, directory: bool = False) -> Iterator[Path]:
    """Yield a temporary path beside `target` to write to; on success it replaces `target`, on error it goes.

    With `directory`, the temporary path is an empty folder (a folder of files written as one);
    otherwise it does not exist yet and the caller creates the file.
    """
    target = Path(target)
    remove_stale_partials(target)
    partial = _sibling(target, "partial")
    if directory:
        partial.mkdir()
    try:
        yield partial
        _move_into_place(partial, target)
    except BaseException:
        _remove(partial)
        raise


def write_bytes_atomic(path: str | os.PathLike, data: bytes) -> Path:
    """Write `data` to `path` atomically; return the path."""
    with atomic_path(path) as partial:
        partial.write_bytes(data)
    return Path(path)


def write_text_atomic(path: str | os.PathLike, text: str) -> Path:
    """Write UTF-8 `text` to `path` atomically; return the path."""
    return write_bytes_atomic(path, text.encode("utf-8"))


def write_json_atomic(path: str | os.PathLike, payload: Any, **dumps: Any) -> Path:
    """Write `payload` as JSON (json.dumps options in `dumps`, a newline at the end) to `path` atomically."""
    return write_text_atomic(path, json.dumps(payload, **dumps) + "\n")


def read_json(path: str | os.PathLike, error: type[Exception], *, missing: str, invalid: str) -> Any:
    """Return a JSON file's content; raise `error` with `missing` when the file does not exist, or with
    `invalid` (which may name the parser's complaint as {error}) when it is not JSON."""
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise error(missing) from None
    except (json.JSONDecodeError, UnicodeDecodeError) as complaint:
        raise error(invalid.format(error=complaint)) from None


def file_sha256(path: str | os.PathLike) -> str:
    """Return the hex sha256 of a file's bytes, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def append_jsonl(path: str | os.PathLike, record: Mapping[str, Any], *, sort_keys: bool = False) -> None:
    """Append one record to a JSON-lines file."""
    with open(path, "a", encoding="utf-8") as stream:
        stream.write(json.dumps(record, sort_keys=sort_keys) + "\n")


def read_jsonl(path: str | os.PathLike) -> list[dict]:
    """Return the records of a JSON-lines file, none when it does not exist."""
    path = Path(path)
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


def prefetch(items: Iterable[T], depth: int = 2) -> Iterator[T]:
    """Yield the items of `items`, computing up to `depth` of them ahead in a background thread.

    An exception raised while producing an item is raised again in the caller, at that item.
    """
    buffer: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def produce() -> None:
        try:
            for item in items:
                if stop.is_set():
                    return
                buffer.put((item, None))
        except BaseException as error:  # noqa: BLE001 - handed to the consumer
            buffer.put((None, error))
            return
        buffer.put((_DONE, None))

    worker = threading.Thread(target=produce, daemon=True)
    worker.start()
    try:
        while True:
            item, error = buffer.get()
            if error is not None:
                raise error
            if item is _DONE:
                return
            yield item
    finally:
        stop.set()
        while worker.is_alive():  # unblock a producer waiting on a full queue
            try:
                buffer.get_nowait()
            except queue.Empty:
                worker.join(timeout=0.01)

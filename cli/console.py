"""Where log records go: our own lines to the console, the libraries' (dask, tornado) only when they matter.

By default the console shows the twostream loggers at INFO and every other library's records at
WARNING and above: dask's start-up, shutdown and connection chatter (INFO, some with tracebacks of
closed connections) stays out. `--debug` shows everything; `--log-file PATH` keeps everything in a
file whatever the console shows.
"""
from __future__ import annotations

import logging
import sys

OWN_LOGGER = "twostream"
FOREIGN_LEVEL = logging.WARNING
_OURS = "_twostream_handler"


class _OwnOrImportant(logging.Filter):
    """Pass our records at any level the handler takes, other libraries' from `FOREIGN_LEVEL` up."""

    def filter(self, record: logging.LogRecord) -> bool:
        own = record.name == OWN_LOGGER or record.name.startswith(OWN_LOGGER + ".")
        return own or record.levelno >= FOREIGN_LEVEL


def configure_logging(debug: bool = False, log_file: str | None = None) -> None:
    """Send log records to stderr (ours from INFO, others from WARNING; all from DEBUG with `debug`) and,
    with `log_file`, every record at DEBUG to that file (appended)."""
    root = logging.getLogger()
    for handler in [h for h in root.handlers if getattr(h, _OURS, False)]:  # a second run in one process
        root.removeHandler(handler)
        handler.close()
    console = logging.StreamHandler(sys.stderr)
    console.setFormatter(logging.Formatter("%(message)s"))
    console.setLevel(logging.DEBUG if debug else logging.INFO)
    if not debug:
        console.addFilter(_OwnOrImportant())
    setattr(console, _OURS, True)
    root.addHandler(console)
    root.setLevel(logging.DEBUG if debug or log_file else logging.INFO)
    if log_file:
        kept = logging.FileHandler(log_file, encoding="utf-8")
        kept.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s %(message)s"))
        kept.setLevel(logging.DEBUG)
        setattr(kept, _OURS, True)
        root.addHandler(kept)

"""Error types every layer raises for bad input; the CLI prints them as one line."""
from __future__ import annotations


class TwostreamError(Exception):
    """A problem with the user's input or environment, with a message saying what to do."""


class SplitFileError(TwostreamError):
    """A split file or class index is malformed or inconsistent with the dataset."""

    def __init__(self, path: object, line: int | None, problem: str) -> None:
        where = f"{path}:{line}" if line is not None else f"{path}"
        super().__init__(f"{where}: {problem}")
        self.path = path
        self.line = line
        self.problem = problem


class ManifestError(TwostreamError):
    """A manifest file is missing, malformed, or does not fit the request."""


class MetricsError(TwostreamError):
    """Scores and labels that an accuracy cannot be computed on (mismatched shapes, an empty set)."""


class AttributesError(TwostreamError):
    """Per-video attributes that cannot be read or do not fit the manifest."""

"""Errors raised for bad backbone requests and unusable checkpoints."""
from __future__ import annotations

from collections.abc import Sequence

from twostream.data.errors import TwostreamError


class BackboneError(TwostreamError):
    """An unknown backbone, modality or tap, or a request a backbone cannot serve."""


class CheckpointError(TwostreamError):
    """A checkpoint file that cannot be read, recognised or used."""


class CheckpointMismatchError(CheckpointError):
    """A checkpoint whose keys or shapes disagree with the backbone it is loaded into."""

    def __init__(
        self,
        path: object,
        backbone: str,
        missing: Sequence[str],
        unexpected: Sequence[str],
        mismatched: Sequence[str],
    ) -> None:
        self.path = path
        self.backbone = backbone
        self.missing = tuple(missing)
        self.unexpected = tuple(unexpected)
        self.mismatched = tuple(mismatched)
        parts = []
        for label, keys in (("missing", self.missing), ("unexpected", self.unexpected), ("wrong shape", self.mismatched)):
            if keys:
                parts.append(f"{label} keys ({len(keys)}): {_preview(keys)}")
        super().__init__(
            f"{path}: does not fit backbone {backbone!r}: " + "; ".join(parts)
            + "; check that the checkpoint was made for this architecture, or load with strict=False"
            " (--strict false) to keep the matching weights and initialise the rest"
        )


def _preview(keys: Sequence[str], limit: int = 8) -> str:
    shown = ", ".join(keys[:limit])
    return shown if len(keys) <= limit else f"{shown}, ... ({len(keys) - limit} more)"

"""Error types of stage two: malformed feature sources, bad head or trainer settings, run folders."""
from __future__ import annotations

from twostream.data.errors import TwostreamError


class FusionError(TwostreamError):
    """Bad input to a fusion head, a late-fusion rule, a trainer or a run folder."""


class FeatureSourceError(FusionError):
    """Cached features that are missing a field or whose shapes do not agree."""


class ReportError(FusionError):
    """A run folder, results file or figure input that the report cannot use."""

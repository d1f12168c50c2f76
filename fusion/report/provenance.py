"""What a report says about where its numbers came from: the dataset, the stores' attributes, given extras."""
from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from twostream.data.manifest import Manifest
from twostream.fusion.errors import ReportError
from twostream.pipeline.stores.feature_store import FeatureStore
from twostream.pipeline.stores.frame_store import FrameStore


def read_provenance_file(path: str | Path) -> dict[str, Any]:
    """Return the JSON object in `path` (provenance a user supplies: checkpoints' origin, notes)."""
    try:
        provenance = json.loads(Path(path).read_text())
    except json.JSONDecodeError as error:
        raise ReportError(f"{path}: not JSON ({error})") from None
    if not isinstance(provenance, dict):
        raise ReportError(f"{path}: provenance must be a JSON object")
    return provenance


def gather_provenance(given: Mapping[str, Any] | str | Path | None = None, *, manifest: Manifest | None = None,
                      manifest_path: str | Path | None = None, frames: str | Path | None = None,
                      features: str | Path | None = None) -> dict[str, Any]:
    """Return the report's provenance: the dataset of `manifest`, `given` (a mapping or a JSON file's path),
    then the attributes of the frames and features stores (what made them: versions, parameters, checkpoints)."""
    provenance: dict[str, Any] = {}
    if manifest is not None:
        provenance["dataset"] = manifest.dataset
        if manifest_path is not None:
            provenance["manifest"] = str(Path(manifest_path).resolve())
        provenance.update({"classes": len(manifest.classes), "videos": len(manifest)})
    if given is not None:
        provenance.update(read_provenance_file(given) if isinstance(given, (str, Path)) else dict(given))
    for label, path, kind in (("frames store", frames, FrameStore), ("features store", features, FeatureStore)):
        if path:
            provenance[label] = {"path": str(Path(path).resolve()), **kind.open(path).attrs}
    return provenance

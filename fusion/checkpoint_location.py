"""Finding a stream checkpoint a features store recorded, after the store and its checkpoints moved together
(copied to another machine or folder): stage two looks for it where it was, then at the same trailing path
below the store's folder and the folder above, so a copied project needs no flags."""
from __future__ import annotations

from pathlib import Path

TRAILING_PARTS = 4  # the most trailing parts of the recorded path tried below each folder
FOLDERS_UP = 2  # the store's folder and its parent


def checkpoint_candidates(recorded: str | Path, store_path: str | Path) -> list[Path]:
    """Where a checkpoint recorded at `recorded` may be now, in the order tried: the recorded path itself, then
    its last 1 to TRAILING_PARTS parts below the store's folder, then below that folder's parent."""
    recorded = Path(recorded)
    folders = list(Path(store_path).resolve().parents)[:FOLDERS_UP]
    parts = recorded.parts[1:] if recorded.is_absolute() else recorded.parts
    candidates = [recorded]
    for folder in folders:
        for count in range(1, min(TRAILING_PARTS, len(parts)) + 1):
            candidate = folder.joinpath(*parts[-count:])
            if candidate not in candidates:
                candidates.append(candidate)
    return candidates


def locate_checkpoint(recorded: str | Path, store_path: str | Path) -> Path | None:
    """The first of `checkpoint_candidates` that is a file, or None. The caller checks its sha256 against the
    store's record, so a file of the same name that is another checkpoint is refused, not used."""
    return next((path for path in checkpoint_candidates(recorded, store_path) if path.is_file()), None)

"""What a training run keeps on disk to resume: its last state (written atomically) and a JSON-lines log."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch

from twostream.data.errors import TwostreamError
from twostream.data.io import atomic_path, write_text_atomic


def save_state(path: Path, state: dict[str, Any]) -> None:
    """Write a training state with torch.save through a temporary file, so a kill never leaves half of one."""
    with atomic_path(path) as partial:
        torch.save(state, partial)


def load_state(path: Path) -> dict[str, Any]:
    """Read a training state written by `save_state` (tensors and plain values only)."""
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # noqa: BLE001 - any unreadable file gets the same advice
        raise TwostreamError(f"{path}: not a readable training state ({error}); delete it to start over") from None


def rng_states() -> dict[str, Any]:
    """The states of torch's CPU and CUDA generators."""
    states: dict[str, Any] = {"cpu": torch.get_rng_state()}
    if torch.cuda.is_available():
        states["cuda"] = torch.cuda.get_rng_state_all()
    return states


def restore_rng_states(states: dict[str, Any]) -> None:
    """Put torch's generators back in the states `rng_states` returned."""
    torch.set_rng_state(states["cpu"])
    if "cuda" in states and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(states["cuda"])


def write_log(path: Path, records: list[dict[str, Any]]) -> None:
    """Replace a JSON-lines log with these records (one JSON object per line)."""
    write_text_atomic(path, "".join(json.dumps(record) + "\n" for record in records))

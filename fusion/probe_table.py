"""The attribute probe's result as tables: rows for text and HTML, the printed table, and reading it back."""
from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from twostream.data.io import read_json
from twostream.data.tables import markdown_table
from twostream.fusion.errors import FusionError
from twostream.fusion.probe import OUTCOMES


def _markdown(rows: Sequence[Mapping[str, Any]]) -> str:
    return markdown_table(rows, _cell)


def _cell(value: Any) -> str:
    return f"{value:.3f}" if isinstance(value, float) else str(value)


def accuracy_rows(result: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The probe's accuracy table: the majority value's row, then one row per tap."""
    majority = result["majority"]
    rows = [{"tap": f"majority ({majority['value']})", "kind": "", "features": "", "test accuracy": majority["accuracy"]}]
    for tap, scored in result["taps"].items():
        note = "" if scored.get("converged", True) else " (not converged)"
        rows.append({"tap": tap + note, "kind": scored["kind"], "features": scored["features"],
                     "test accuracy": scored["accuracy"]})
    return rows


def streams_right_rows(result: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The stream-outcome table: per score mode, a row over all training videos, then one per value."""
    rows = []
    for mode, shares in result["streams_right"].items():
        for value, row in [("all", shares["all"]), *shares["by_value"].items()]:
            rows.append({"scores": mode, result["attribute"]: value, "videos": row["videos"],
                         **{name.replace("_", " "): row[name] for name in OUTCOMES}})
    return rows


def probe_table(result: Mapping[str, Any]) -> str:
    """The probe's result as text: the attribute's values, the accuracy table and the stream-outcome table."""
    def described(role: str) -> str:
        counts = ", ".join(f"{value} {count}" for value, count in result["values"][role].items())
        return f"{result['videos'][role]} {role} videos ({counts})"

    left_out = result.get("without_attribute", {})
    skipped = (f" ({left_out.get('train', 0)} train and {left_out.get('test', 0)} test videos without it left out)"
               if any(left_out.values()) else "")
    parts = [f"{result['attribute']} on split {result['split']}: {described('train')}; {described('test')}{skipped}",
             "", _markdown(accuracy_rows(result))]
    if result["streams_right"]:
        parts += ["", "Share of training videos on which each stream is right (scores averaged over views):", "",
                  _markdown(streams_right_rows(result))]
    return "\n".join(parts)


def load_probe(path: str | os.PathLike) -> dict[str, Any]:
    """Read a probe result written by `probe` (`twostream probe --out`)."""
    source = Path(path)
    result = read_json(source, FusionError,
                       missing=f"probe result {source} does not exist; write one with `twostream probe --out`",
                       invalid=f"probe result {source} is not valid JSON ({{error}})")
    if not isinstance(result, dict) or not {"attribute", "majority", "taps", "streams_right"} <= set(result):
        raise FusionError(f"{source} is not a probe result written by `twostream probe --out`")
    return result

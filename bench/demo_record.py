"""Record a `make demo` run for the documentation: its results table, each gate's spatial share per
degradation, and the report's figures, with the machine, date and wall time it ran on.

Run after `make demo`: python bench/demo_record.py [--demo demo_out] [--out docs/benchmarks/results]
It writes demo.json and demo/<figure>.png there (the figures shrunk to at most 1200 pixels wide and 256
colours); the documentation's demo page draws its tables and figures from them, and
`python bench/readme_figures.py` writes the README's figures from them.
"""
from __future__ import annotations

import argparse
import datetime
import hashlib
import json
from pathlib import Path

import numpy as np
from PIL import Image

from twostream.data.manifest import load_manifest
from twostream.fusion.report.attribute_figures import shares_by_value
from twostream.fusion.results import ResultsTable
from twostream.fusion.training.runs import load_run, split_folder

from common import provenance

DOCS_RESULTS = Path(__file__).resolve().parent.parent / "docs" / "benchmarks" / "results"
FIGURES = ("fusion_weights", "spatial_share_by_degradation", "examples", "training_curves")
GATED_RUNS = ("gated", "gated-no-multitask", "gated-clean-scores")  # the Makefile's gated runs
ATTRIBUTE = "degradation"
MAX_WIDTH = 1200
STARTED = "demo-started"  # the Makefile's stamp: the time, in seconds since the epoch, make demo began its steps


def gate_share_rows(demo: Path) -> list[dict]:
    """Per gated run of the demo: its spatial share's mean and sd over the test videos, and its mean on the test
    videos of each degradation (videos per degradation in the column names)."""
    manifest = load_manifest(demo / "manifest.json")
    values = {video.video_id: video.attributes[ATTRIBUTE] for video in manifest.videos if ATTRIBUTE in video.attributes}
    rows = []
    for name in GATED_RUNS:
        scored = load_run(split_folder(demo / "runs" / name, "1")).scored("test")
        grouped = shares_by_value(list(scored.video_ids or []), scored.gate_weights, values)
        every = np.concatenate(list(grouped.values()))
        rows.append({"run": name, "mean share": float(every.mean()), "sd over test videos": float(every.std()),
                     **{f"{value} ({len(shares)})": float(shares.mean()) for value, shares in grouped.items()}})
    return rows


def run_minutes(demo: Path) -> float | None:
    """The demo's wall time in minutes, install excluded: from the Makefile's start stamp to the report (None
    without a stamp: a rerun into an old folder keeps its videos, so no file dates the start)."""
    stamp = demo / STARTED
    if not stamp.is_file():
        return None
    return ((demo / "report" / "report.html").stat().st_mtime - float(stamp.read_text().split()[0])) / 60


def copy_figure(source: Path, target: Path) -> str:
    """Write the report's figure `source` to `target`, at most MAX_WIDTH pixels wide in 256 colours; return the
    written file's sha256."""
    with Image.open(source) as image:
        image = image.convert("RGB")
        if image.width > MAX_WIDTH:
            image = image.resize((MAX_WIDTH, round(image.height * MAX_WIDTH / image.width)), Image.LANCZOS)
        target.parent.mkdir(parents=True, exist_ok=True)
        image.quantize(colors=256).save(target, optimize=True)
    return hashlib.sha256(target.read_bytes()).hexdigest()


def main() -> None:
    """Check the demo's results file is a results table, then write it with the gate shares, the figures and
    their provenance."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--demo", type=Path, default=Path("demo_out"), help="the folder `make demo` wrote")
    parser.add_argument("--out", type=Path, default=DOCS_RESULTS, help="the folder of demo.json and demo/")
    args = parser.parse_args()
    results = args.demo / "results" / "results.json"
    data = json.loads(results.read_text(encoding="utf-8"))
    ResultsTable.from_dict(data)  # refuses a file that is not a results table
    written = datetime.datetime.fromtimestamp(results.stat().st_mtime, datetime.timezone.utc)
    figures = {name: {"file": f"demo/{name}.png",
                      "sha256": copy_figure(args.demo / "report" / f"{name}.png", args.out / "demo" / f"{name}.png")}
               for name in FIGURES}
    record = {"benchmark": "demo", **provenance(), "command": "make demo",
              "date": written.strftime("%Y-%m-%d %H:%M UTC"), "minutes": run_minutes(args.demo), "results": data,
              "gate_shares": gate_share_rows(args.demo), "figures": figures}
    target = args.out / "demo.json"
    target.write_text(json.dumps(record, indent=1) + "\n", encoding="utf-8")
    print(f"written: {target} and {len(figures)} figures in {args.out / 'demo'}")


if __name__ == "__main__":
    main()
